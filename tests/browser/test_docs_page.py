"""/docs in a real headless Chromium: it renders every route of /openapi.json with no
request leaving the server (the page works offline)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.server import ServerProcess
from tests.support.tools import missing_tool

CHROMIUM = "/usr/bin/chromium"

if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:
    missing_tool(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package "
                 "(.ci/run does) to run the browser tests", module_level=True)
try:
    from playwright import sync_api
except ImportError:
    missing_tool("the Python 'playwright' package is missing: pip install -e '.[test]'",
                 module_level=True)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("docs") / "data",
                         args=["--model", "dsp", "--token", "docs-page-token"]).start()
    yield proc
    proc.stop()


def test_docs_render_every_operation_offline(server: ServerProcess) -> None:
    document: dict[str, Any] = httpx.get(f"{server.http_url}/openapi.json").json()
    operations = sum(len(ops) for ops in document["paths"].values())
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    hosts: set[str] = set()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            page.goto(f"{server.http_url}/docs")
            page.wait_for_selector("h2:text('Schemas')", timeout=30_000)
            shown = page.locator("#api > details").count()
            summary = page.locator("#summary").inner_text()
            page.locator("details:has(code:text-is('/jobs'))").first.click()
            opened = page.locator("details[open]").first.inner_text()
        finally:
            browser.close()
    # One entry per operation, then one per schema.
    assert shown == operations + len(document["components"]["schemas"])
    assert document["info"]["version"] in summary
    assert "Request body" in opened and "multipart/form-data" in opened
    assert hosts == {f"127.0.0.1:{server.port}"}, hosts
