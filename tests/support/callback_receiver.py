"""A real HTTP server on loopback playing the app server that receives callbacks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    raw: bytes = b""  # the body's bytes as they came (signatures are over these)


@dataclass
class CallbackReceiver:
    """fail_first: answer 500 to that many requests; hang: never answer at all; verify:
    a signature check of (headers, raw body), as a real app server runs it: 401 when it
    fails."""

    fail_first: int = 0
    hang: bool = False
    port: int = 0
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    verify: Callable[[Message, bytes], bool] | None = None
    # Every attempt's headers, refused ones included (retries must keep webhook-id).
    attempt_headers: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                receiver.attempts += 1
                receiver.attempt_headers.append(dict(self.headers.items()))
                if receiver.hang:
                    time.sleep(30)
                    return
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                if receiver.verify is not None and not receiver.verify(self.headers, raw):
                    receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append(Received(self.path, dict(self.headers.items()),
                                                  json.loads(raw), time.monotonic(), raw))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/analysis/callback"

    def stages(self) -> list[str]:
        return [r.body["stage"] for r in self.received]

    def wait_for(self, stage: str, timeout: float = 60) -> Received:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.received:
                if item.body["stage"] == stage:
                    return item
            time.sleep(0.05)
        raise AssertionError(f"no '{stage}' callback within {timeout} s; got {self.stages()}")
