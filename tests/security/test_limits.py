"""Bounded cost per client: bodies are capped while they stream, slow headers and bodies
are cut off, one address holds a bounded number of connections (and a refusal is logged),
long values are not echoed or fuzzy-matched, base64 callbacks have a ceiling."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from stemcast_protocol import StemcastClient
from tests.support.server import ServerProcess
from tests.support.web_server import serving

pytestmark = pytest.mark.integration

CAP = 4
FETCH_TIMEOUT_S = 4


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, music_dir: Path) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("limited") / "data"
    server = ServerProcess(data, args=[
        "--model", "dsp", "--allow-path-prefix", str(music_dir), "--max-upload-mb", "1",
        "--header-timeout-s", "2", "--body-timeout-s", "2",
        "--max-connections-per-address", str(CAP), "--callback-inline-max-mb", "1",
        "--callback-allow-host", "127.0.0.1", "--fetch-allow-host", "127.0.0.1",
        "--fetch-timeout", str(FETCH_TIMEOUT_S)], allow_private_targets=False).start()
    yield server
    server.stop()


def _raw(server: ServerProcess, payload: bytes, wait: float = 15.0) -> bytes:
    """Send bytes on a fresh connection; return all the server answers before it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(payload)
        answer = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            answer += chunk
        return answer


def _chunks(total: int, size: int = 64 << 10) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size


def test_a_json_body_is_capped_while_it_streams(limited: ServerProcess) -> None:
    declared = httpx.post(f"{limited.http_url}/api/tracks", content=b" " * (2 << 20),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "BODY_TOO_LARGE"
    try:
        chunked = httpx.post(f"{limited.http_url}/api/tracks/fetch", content=_chunks(8 << 20),
                             headers={"Content-Type": "application/json"}, timeout=30)
    except httpx.TransportError:
        return  # the server answered and closed before the client finished sending: capped
    assert chunked.status_code == 413 and "1 MB" in chunked.json()["error"]["message"]


def test_a_chunked_upload_stops_at_the_limit(limited: ServerProcess) -> None:
    boundary = b"XyZ"
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n')

    def body() -> Iterator[bytes]:
        yield head
        yield from _chunks(16 << 20)

    try:
        response = httpx.post(f"{limited.http_url}/jobs", content=body(), timeout=30, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"})
    except httpx.TransportError:
        return
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "UPLOAD_TOO_LARGE"


def _trickling(song: bytes, pause: float) -> type[BaseHTTPRequestHandler]:
    """Serves `song` in eight pieces, `pause` seconds apart: never stalled, slow in all."""

    class Trickle(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(song)))
            self.end_headers()
            piece = -(-len(song) // 8)
            for start in range(0, len(song), piece):
                self.wfile.write(song[start:start + piece])
                self.wfile.flush()
                time.sleep(pause)

    return Trickle


def test_a_url_download_is_bounded_in_all_not_per_read(limited: ServerProcess,
                                                       song_bytes: bytes) -> None:
    """--fetch-timeout bounds the whole download (a trickle that never stalls is cut off
    and the error names the flag); a slower read than the old fixed limit allowed is fine."""
    with serving(_trickling(song_bytes, 0.1)) as url:  # about a second in all
        taken = httpx.post(f"{limited.http_url}/api/tracks/fetch", json={"url": f"{url}/a.wav"},
                           timeout=60)
    assert taken.status_code == 201, taken.text
    with serving(_trickling(song_bytes, 1.0)) as url:  # about eight seconds in all
        cut = httpx.post(f"{limited.http_url}/api/tracks/fetch", json={"url": f"{url}/b.wav"},
                         timeout=60)
    assert cut.status_code == 502, cut.text
    error = cut.json()["error"]
    assert error["code"] == "FETCH_TIMEOUT" and "--fetch-timeout" in error["message"], error
    assert f"{FETCH_TIMEOUT_S} s" in error["message"], error


def test_slow_headers_are_cut_off(limited: ServerProcess) -> None:
    started = time.monotonic()
    answer = _raw(limited, b"GET /api/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"HEADER_TIMEOUT" in answer
    assert time.monotonic() - started < 15  # a deadline, not a timing claim


def test_a_stalled_body_is_cut_off(limited: ServerProcess) -> None:
    answer = _raw(limited, b"POST /api/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pa")
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"BODY_TIMEOUT" in answer


async def test_one_address_holds_a_bounded_number_of_connections(
        limited: ServerProcess) -> None:
    async with AsyncExitStack() as stack:
        for _ in range(CAP):
            await stack.enter_async_context(StemcastClient.connect(limited.ws_url))
        refused = httpx.get(f"{limited.http_url}/api/tracks", timeout=10)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "TOO_MANY_CONNECTIONS"
    deadline = time.monotonic() + 10  # closed WebSockets are released as they close
    while httpx.get(f"{limited.http_url}/api/tracks", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "connections were not released"
        time.sleep(0.1)
    assert "refused a connection from 127.0.0.1" in limited.log()


async def test_long_names_are_neither_echoed_nor_fuzzy_matched(limited: ServerProcess) -> None:
    async with StemcastClient.connect(limited.ws_url) as client:
        for name in ("getTrakInfo", "g" * 900_000):
            await client.send({"command": name, "requestId": 1})
            reply = await client.receive()
            assert reply["error"]["code"] == "UNKNOWN_COMMAND"
            message = reply["error"]["message"]
            assert len(message) < 2100
            assert ("did you mean" in message) == (len(name) < 40)
    bad = httpx.post(f"{limited.http_url}/jobs", timeout=30, json={
        "file_path": "/x.wav", "priority": "p" * 500_000})
    assert bad.status_code == 422  # 500 kB passes the body cap; the value is refused
    assert len(bad.text) < 2500


def test_callbacks_too_large_for_base64_are_refused(limited: ServerProcess,
                                                    music_dir: Path) -> None:
    response = httpx.post(f"{limited.http_url}/jobs", timeout=30, json={
        "file_path": str(music_dir / "song.wav"), "stem_delivery_mode": "callback",
        "callback_url": "http://127.0.0.1:9/cb"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "CALLBACK_TOO_LARGE"
    assert "'path'" in error["message"] and "'poll'" in error["message"]
    assert "--callback-inline-max-mb" in error["message"]
