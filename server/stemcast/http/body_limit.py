"""Request bodies are bounded while they stream, not after: a JSON body past 1 MB, an
upload past --max-upload-mb, or a body that stalls for --body-timeout-s is answered at
once (413 or 408) and the rest is not read. Before this, a 200 MB JSON body was parsed
whole (+1.2 GB of memory) and a chunked upload spooled 296 MB to disk before its 413.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MAX_JSON_BYTES: Final = 1 << 20
# Multipart framing (boundaries, field headers, the small fields) beyond the file itself.
MULTIPART_OVERHEAD: Final = 64 << 10


class _BodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.body_timeout_s = body_timeout_s

    def _limit_for(self, scope: Scope) -> tuple[int, str]:
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"").lower()
        if content_type.startswith(b"multipart/form-data"):
            return (self.max_upload_bytes + MULTIPART_OVERHEAD,
                    f"the upload is larger than the server's limit of "
                    f"{self.max_upload_bytes // (1 << 20)} MB (--max-upload-mb)")
        return (MAX_JSON_BYTES, "the request body is larger than 1 MB; JSON requests name "
                "files by path or URL, and audio is sent as multipart/form-data")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit, too_large = self._limit_for(scope)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        started = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            try:
                async with asyncio.timeout(self.body_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise _BodyRefused(408, "BODY_TIMEOUT",
                                   f"the request body stalled for {self.body_timeout_s:g} s "
                                   "(--body-timeout-s); send it again") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyRefused(413, "BODY_TOO_LARGE" if limit == MAX_JSON_BYTES
                                       else "UPLOAD_TOO_LARGE", too_large)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if declared.isdigit() and int(declared) > limit:
                raise _BodyRefused(413, "BODY_TOO_LARGE" if limit == MAX_JSON_BYTES
                                   else "UPLOAD_TOO_LARGE", too_large)
            await self.app(scope, limited_receive, tracked_send)
        except _BodyRefused as refused:
            client = scope.get("client") or ("?", 0)
            log.warning("refused the body of %s %s from %s: %s", scope.get("method"),
                        scope.get("path"), client[0], refused.code)
            if started:
                raise  # the answer has begun: all that is left is to drop the connection
            body = json.dumps({"success": False, "error": {
                "code": refused.code, "message": refused.message}}).encode()
            await send({"type": "http.response.start", "status": refused.status, "headers": [
                (b"content-type", b"application/json"), (b"connection", b"close"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
