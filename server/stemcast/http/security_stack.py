"""The security middleware, in the order requests meet them (SECURITY.md explains each)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from stemcast.config import Settings
from stemcast.http.body_limit import BodyLimit
from stemcast.http.origin_guard import OriginGuard


def security_middleware(settings: Settings) -> list[Middleware]:
    stack = [Middleware(OriginGuard, bind_host=settings.host,
                        allow_origins=settings.allow_origins)]
    if settings.allow_origins:
        # Sites the operator allowed may also read the answers (CORS), token included.
        stack.append(Middleware(CORSMiddleware, allow_origins=settings.allow_origins,
                                allow_methods=["GET", "POST", "DELETE"],
                                allow_headers=["authorization", "content-type",
                                               "x-request-id"]))
    stack.append(Middleware(BodyLimit, max_upload_bytes=settings.max_upload_mb << 20,
                            body_timeout_s=settings.body_timeout_s))
    return stack
