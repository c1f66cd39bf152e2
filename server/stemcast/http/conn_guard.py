"""Connection limits below the application: uvicorn's HTTP protocol with two guards.

- A client has --header-timeout-s to send a request's headers, from when it connects or
  starts a request (uvicorn has no such timeout: 300 connections trickling headers were all
  held open). Past it the connection gets 408 and is closed.
- One client address holds at most --max-connections-per-address connections (WebSockets
  included: their transports are counted until closed). The next gets 503 and a close,
  and the server log says so: a refusal is never silent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


def _response(status: str, code: str, message: str) -> bytes:
    body = json.dumps({"success": False, "error": {"code": code, "message": message}}).encode()
    head = (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    return head + body


class GuardedHttpProtocol(HttpToolsProtocol):
    max_per_address: ClassVar[int] = 128
    header_timeout_s: ClassVar[float] = 30.0
    # Open transports per client address, in this process (pruned of closed ones as new
    # connections come: an upgraded WebSocket never reports back to this protocol).
    _open: ClassVar[dict[str, set[asyncio.BaseTransport]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._address = "?"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = str(self.client[0]) if self.client else "?"
        held = self._open.setdefault(self._address, set())
        held.difference_update([t for t in held if t.is_closing()])
        if len(held) >= self.max_per_address:
            log.warning("refused a connection from %s: it holds %d already "
                        "(--max-connections-per-address)", self._address, len(held))
            transport.write(_response(
                "503 Service Unavailable", "TOO_MANY_CONNECTIONS",
                f"this address has {len(held)} connections open to the server, its limit "
                "(--max-connections-per-address); close some and try again"))
            transport.close()
            return
        held.add(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        held = self._open.get(self._address)
        if held is not None:
            held.discard(self.transport)
            if not held:
                self._open.pop(self._address, None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s,
                                                      self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; the keep-alive timer takes over after
        log.info("closed a connection from %s: no complete request headers within %g s "
                 "(--header-timeout-s)", self._address, self.header_timeout_s)
        self.transport.write(_response("408 Request Timeout", "HEADER_TIMEOUT",
                                       f"send the request's headers within "
                                       f"{self.header_timeout_s:g} s"))
        self.transport.close()


def guarded_protocol(max_per_address: int, header_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn.run(http=...), with the server's limits."""
    return type("StemcastHttpProtocol", (GuardedHttpProtocol,), {
        "max_per_address": max_per_address, "header_timeout_s": header_timeout_s})
