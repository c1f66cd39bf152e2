"""Real Chromium for the browser tests: Debian's chromium driven by Playwright (its own
browser download does not work here), one launch per module, pages at a given size."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--autoplay-policy=no-user-gesture-required"]


def require_browser() -> Any:
    """Playwright's sync API, for a browser test module to call at import: the module is
    skipped (a failure under CI) where Chromium or Playwright is missing."""
    from tests.support.tools import missing_tool

    if chromium_path() is None:
        missing_tool(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package "
                     "(.ci/run does) to run the browser tests", module_level=True)
    try:
        from playwright import sync_api
    except ImportError:
        missing_tool("the Python 'playwright' package is missing: pip install -e '.[test]'",
                     module_level=True)
    return sync_api


def chromium_path() -> str | None:
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


def launched_chromium(sync_api: Any) -> Iterator[Any]:
    """For a module-scoped fixture: `yield from launched_chromium(sync_api)`."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


def open_page(browser: Any, width: int, height: int) -> tuple[Any, Any, list[str]]:
    """A fresh context and page; the list collects the page's uncaught errors."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return context, page, errors


def wait_until(page: Any, check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        page.wait_for_timeout(100)


def separate_on_page(page: Any, clip: Path, model: str) -> None:
    """Upload `clip` on the page and wait until its four stems are drawn."""
    from playwright.sync_api import expect

    expect(page.locator("#conn")).to_have_text("Connected")
    expect(page.locator("#model-select")).to_contain_text(model)
    page.set_input_files("#file-input", str(clip))
    page.get_by_role("button", name="Separate").click()
    expect(page.locator("#job")).to_have_attribute("data-stage", "complete", timeout=120_000)
    expect(page.locator(".stem canvas[data-drawn=true]")).to_have_count(4)


# What sticks out sideways, as devtools would show it (the file says how it measures).
_OVERFLOW_JS = (Path(__file__).with_name("page_overflow.js")).read_text()


def assert_fits(page: Any, where: str) -> None:
    """No sideways scroll, and nothing in the side column's cards past their edges."""
    found = page.evaluate(_OVERFLOW_JS)
    assert not found, f"{where}: " + "; ".join(found)
