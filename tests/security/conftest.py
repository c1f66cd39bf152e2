"""Fixtures for the security tests: a server with every guard at its default, and a
loopback HTTP target that records whether anything reached it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess


@dataclass
class Target:
    """A loopback HTTP server: /missing answers 404, /redirect?to=URL 302 to URL, any other
    path a short song."""

    port: int
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def song_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("target") / "song.wav"
    write_audio(path, make_music_like_signal(2.0, seed=5), 44100)
    return path.read_bytes()


@pytest.fixture(scope="module")
def target(song_bytes: bytes) -> Iterator[Target]:
    holder: list[Target] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            holder[0].hits.append((self.path, dict(self.headers.items())))
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/redirect?to="))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/missing":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(song_bytes)))
            self.end_headers()
            self.wfile.write(song_bytes)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            self.rfile.read(length)
            holder[0].hits.append((self.path, dict(self.headers.items())))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Target(server.server_address[1]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def lib_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An allowed folder the tests of a module may change."""
    return tmp_path_factory.mktemp("lib")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, music_dir: Path,
            lib_dir: Path) -> Iterator[ServerProcess]:
    """A server as an operator starts it: no allow flags, the weightless engine."""
    data = tmp_path_factory.mktemp("guarded") / "data"
    server = ServerProcess(data, args=["--model", "dsp", "--allow-path-prefix", str(music_dir),
                                       "--allow-path-prefix", str(lib_dir),
                                       "--max-duration-s", "60"],
                           allow_private_targets=False).start()
    yield server
    server.stop()
