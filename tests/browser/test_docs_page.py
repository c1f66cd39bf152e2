"""/docs in a real headless Chromium: it renders every route of /openapi.json with no
request leaving the server (the page works offline)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.browser import require_browser
from tests.support.server import ServerProcess

require_browser()  # skips the module (fails under CI) without Chromium or Playwright

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("docs") / "data",
                         args=["--model", "dsp", "--token", "docs-page-token"]).start()
    yield proc
    proc.stop()


def test_docs_render_every_operation_offline(server: ServerProcess, browser: Any) -> None:
    document: dict[str, Any] = httpx.get(f"{server.http_url}/openapi.json").json()
    operations = sum(len(ops) for ops in document["paths"].values())
    hosts: set[str] = set()
    page = browser.new_page()
    try:
        page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
        page.goto(f"{server.http_url}/docs")
        page.wait_for_selector("h2:text('Schemas')", timeout=30_000)
        shown = page.locator("#api > details").count()
        summary = page.locator("#summary").inner_text()
        page.locator("details:has(code:text-is('/jobs'))").first.click()
        opened = page.locator("details[open]").first.inner_text()
    finally:
        page.close()
    # One entry per operation, then one per schema.
    assert shown == operations + len(document["components"]["schemas"])
    assert document["info"]["version"] in summary
    assert "Request body" in opened and "multipart/form-data" in opened
    assert hosts == {f"127.0.0.1:{server.port}"}, hosts
