"""A web page on another site cannot use a local server through its visitor's browser:
WebSocket Origin and HTTP Host are checked, JSON endpoints take JSON only, state-changing
requests from foreign origins are refused; the page itself and origin-less clients work."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stemcast_protocol import StemcastClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

EVIL = "http://evil.example"


async def test_websocket_from_a_foreign_origin_is_refused(guarded: ServerProcess) -> None:
    for origin in (EVIL, "null", f"http://127.0.0.1:{guarded.port + 1}"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(guarded.ws_url, origin=origin):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403


async def test_websocket_from_the_page_and_from_engines_works(guarded: ServerProcess) -> None:
    for origin in (guarded.http_url, f"http://localhost:{guarded.port}", None):
        headers = {"Origin": origin} if origin else {}
        url = guarded.ws_url.replace("127.0.0.1", "localhost") if origin and "localhost" in \
            origin else guarded.ws_url
        async with StemcastClient.connect(url, additional_headers=headers) as client:
            await client.send({"command": "ping", "requestId": 1})
            assert (await client.receive())["type"] == "pong"


def test_dns_rebinding_host_is_refused(guarded: ServerProcess) -> None:
    refused = httpx.get(f"{guarded.http_url}/api/tracks", headers={"Host": "evil.example"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "HOST_NOT_ALLOWED"
    assert "--allow-origin" in refused.json()["error"]["message"]
    for host in (f"127.0.0.1:{guarded.port}", f"localhost:{guarded.port}",
                 f"[::1]:{guarded.port}"):
        assert httpx.get(f"{guarded.http_url}/api/tracks",
                         headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("POST", "/api/tracks/fetch", {"json": {"url": "https://example.com/a.mp3"}}),
    ("POST", "/jobs", {"files": {"file": ("a.wav", b"RIFF")}}),
    ("POST", "/api/tracks", {"json": {"path": "/x.wav"}}),
    ("DELETE", "/jobs/some-job", {}),
])
def test_state_changing_requests_from_foreign_origins_are_refused(
        guarded: ServerProcess, method: str, path: str, kwargs: dict[str, object]) -> None:
    response = httpx.request(method, f"{guarded.http_url}{path}",
                             headers={"Origin": EVIL}, timeout=30, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "ORIGIN_NOT_ALLOWED"


def test_a_form_post_cannot_reach_a_json_endpoint(guarded: ServerProcess) -> None:
    """text/plain needs no CORS preflight: it must not be read as JSON."""
    response = httpx.post(f"{guarded.http_url}/api/tracks/fetch",
                          content=b'{"url": "https://example.com/a.mp3"}',
                          headers={"Content-Type": "text/plain"}, timeout=30)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_the_page_and_origin_less_clients_keep_working(guarded: ServerProcess,
                                                       music_dir: Path) -> None:
    body = {"path": str(music_dir / "song.wav")}
    same = httpx.post(f"{guarded.http_url}/api/tracks", json=body,
                      headers={"Origin": guarded.http_url}, timeout=30)
    assert same.status_code == 201, same.text
    plain = httpx.post(f"{guarded.http_url}/api/tracks", json=body, timeout=30)
    assert plain.status_code == 201
    # Reading (GET) from anywhere is harmless without CORS headers: not refused.
    assert httpx.get(f"{guarded.http_url}/api/tracks", headers={"Origin": EVIL}).status_code == 200
    assert "access-control-allow-origin" not in httpx.get(
        f"{guarded.http_url}/api/tracks", headers={"Origin": EVIL}).headers


async def test_allow_origin_admits_one_more_site(tmp_path: Path) -> None:
    app = "https://mismo.example.com"
    server = ServerProcess(tmp_path / "data", args=["--model", "dsp", "--allow-origin", app],
                           allow_private_targets=False).start()
    try:
        async with StemcastClient.connect(server.ws_url,
                                          additional_headers={"Origin": app}) as client:
            await client.send({"command": "ping", "requestId": 1})
            assert (await client.receive())["type"] == "pong"
        with pytest.raises(InvalidStatus):
            async with connect(server.ws_url, origin=EVIL):  # type: ignore[arg-type]
                pass
        listed = httpx.get(f"{server.http_url}/api/tracks", headers={"Origin": app})
        assert listed.headers["access-control-allow-origin"] == app
        refused = httpx.delete(f"{server.http_url}/jobs/x", headers={"Origin": EVIL})
        assert refused.status_code == 403
        host = httpx.get(f"{server.http_url}/api/tracks",
                         headers={"Host": "mismo.example.com"})
        assert host.status_code == 200  # the allowed site's name is one of ours too
    finally:
        server.stop()
