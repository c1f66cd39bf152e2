"""Tokens never reach a log line; /health without the token says only alive/ready."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from stemcast.logging_setup import scrub
from stemcast_protocol import StemcastClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

TOKEN = "very-secret-token-4242"


@pytest.mark.parametrize("line", [
    '127.0.0.1:5 - "GET /queue?token=SECRET&x=1 HTTP/1.1" 200',
    '"WebSocket /ws?x=1&token=SECRET" [accepted]',
    "{'authorization': 'Bearer SECRET'}",
    '[(b"authorization", b"Bearer SECRET")]',
    "Authorization: Basic SECRET",
    "callback to https://s3.example/o?X-Amz-Signature=SECRET failed",
])
def test_scrub_removes_the_secret(line: str) -> None:
    assert "SECRET" not in scrub(line) and "[redacted]" in scrub(line)


async def test_no_token_in_any_log_line(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", args=["--model", "dsp", "--token", TOKEN,
                                                    "--log-level", "debug"]).start()
    try:
        base = server.http_url
        assert httpx.get(f"{base}/queue?token={TOKEN}").status_code == 200
        assert httpx.get(f"{base}/queue?token={TOKEN}x").status_code == 401
        httpx.get(f"{base}/jobs/x", headers={"Authorization": f"Bearer {TOKEN}"})
        async with StemcastClient.connect(f"{server.ws_url}?token={TOKEN}") as client:
            await client.send({"command": "ping", "requestId": 1})
            assert (await client.receive())["type"] == "pong"

        open_health = httpx.get(f"{base}/health").json()
        assert set(open_health) == {"status", "ready"}
        full = httpx.get(f"{base}/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert "queue" in full and "model" in full
        # Probes and the API's description are open; they hold no data.
        for path in ("/health/live", "/health/ready", "/openapi.json", "/docs"):
            assert httpx.get(f"{base}{path}").status_code == 200, path
        refused = httpx.get(f"{base}/stats")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
    finally:
        server.stop()
    assert server.log_path is not None
    log = server.log_path.read_text()
    assert "/queue?token=[redacted]" in log  # the access log is there, scrubbed
    assert TOKEN not in log
