"""Browser-borne attacks: a page on another site using this server through the visitor's
browser (cross-site requests, cross-site WebSockets, DNS rebinding), closed as Jupyter
closes them.

- `Host`: a server listening on a loopback address answers only to loopback names
  (localhost, 127.0.0.1, [::1]) and the hosts of --allow-origin. A page whose own name was
  re-pointed at 127.0.0.1 (DNS rebinding) sends its own name and is refused. A server
  listening on other addresses is reached by names we cannot know: the check is off there,
  and SECURITY.md says to use --token.
- `Origin`: a WebSocket handshake, and any request that changes state (POST, PUT, PATCH,
  DELETE), that carries an Origin must come from the server's own origin (the one the
  request was sent to) or from --allow-origin ('*' allows any). Browsers always send Origin
  on these; the page is same-origin; engines and scripts send none and are let through.

A pure ASGI middleware, so WebSocket handshakes pass through it as HTTP requests do.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _split_host(value: str) -> str:
    """'Example.com:8000' -> 'example.com'; '[::1]:80' -> '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") > 1:
        return value  # a bare IPv6 address
    return value.partition(":")[0]


def _is_loopback_bind(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OriginGuard:
    def __init__(self, app: ASGIApp, *, bind_host: str, allow_origins: Iterable[str]) -> None:
        self.app = app
        origins = [o.rstrip("/").lower() for o in allow_origins]
        self.any_origin = "*" in origins
        self.allowed_origins = frozenset(o for o in origins if o != "*")
        self.check_host = _is_loopback_bind(bind_host) and not self.any_origin
        self.allowed_hosts = LOOPBACK_NAMES | {_split_host(bind_host)} | {
            _split_host(urlsplit(o).netloc) for o in self.allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {name.decode(): value.decode("latin-1")
                   for name, value in scope.get("headers", []) if name in (b"host", b"origin")}
        host = headers.get("host", "")
        if self.check_host and _split_host(host) not in self.allowed_hosts:
            await self._refuse(scope, send, "HOST_NOT_ALLOWED",
                               f"this server answers to {', '.join(sorted(LOOPBACK_NAMES))} "
                               f"only, not to the name {host[:100]!r} (a page on another site "
                               "reaching it by DNS rebinding?); if that name is yours, start "
                               "the server with --allow-origin http://NAME:PORT")
            return
        origin = headers.get("origin")
        guarded = scope["type"] == "websocket" or scope.get("method") in STATE_CHANGING
        if guarded and origin is not None and not self._origin_allowed(origin, host):
            await self._refuse(scope, send, "ORIGIN_NOT_ALLOWED",
                               f"requests from the web page at {origin[:100]!r} are not "
                               "accepted (another site may not use this server through your "
                               "browser); the operator can allow that site with "
                               "--allow-origin ORIGIN")
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if self.any_origin or origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        # Same origin: the page was served by the host this request was sent to.
        return parts.scheme in ("http", "https") and bool(host) and \
            parts.netloc == host.strip().lower()

    async def _refuse(self, scope: Scope, send: Send, code: str, message: str) -> None:
        client = scope.get("client") or ("?", 0)
        log.warning("refused %s %s from %s: %s", scope["type"], scope.get("path", ""),
                    client[0], code)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": code})
            return
        body = json.dumps({"success": False, "error": {"code": code, "message": message}}
                          ).encode()
        await send({"type": "http.response.start", "status": 403, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
