"""Optional bearer token for HTTP and WebSocket (--token / STEMCAST_TOKEN).

A pure ASGI middleware so it guards WebSocket handshakes as well as HTTP requests.
`GET /health` (and its probes /health/live, /health/ready) and the static page stay
open: load balancers and container healthchecks poll health without secrets, and the
page itself holds no data (it asks for the token).
"""

from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

# The API description is public (it is in the repository) and holds no data.
OPEN_PATHS = ("/health", "/health/live", "/health/ready", "/openapi.json", "/docs")
OPEN_PREFIXES = ("/static/",)


def _token_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                return credentials.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query.get("token", [None])[0]


def has_token(scope: Scope, token: str | None) -> bool:
    """The request carries the server's token (always true when none is set)."""
    if token is None:
        return True
    given = _token_of(scope)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenAuthMiddleware:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _is_open(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        if scope["type"] != "http":
            return False
        return path in OPEN_PATHS or path == "/" or path.startswith(OPEN_PREFIXES) or \
            (scope.get("method") == "GET" and "." in path.rsplit("/", 1)[-1]
             and not path.startswith(("/jobs", "/api")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._is_open(scope):
            await self.app(scope, receive, send)
            return
        given = _token_of(scope)
        if given is not None and hmac.compare_digest(given.encode(), self.token):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Refusing the handshake answers HTTP 403 to the client.
            await send({"type": "websocket.close", "code": 1008,
                        "reason": "missing or wrong token"})
            return
        body = json.dumps({"success": False, "error": {
            "code": "UNAUTHORIZED",
            "message": "this server requires a token: send 'Authorization: Bearer TOKEN' "
                       "(or ?token=TOKEN); the operator set it with --token / STEMCAST_TOKEN",
        }}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
