"""JSON answers for failures no route handled: never a plain-text 500.

A locked database is `503 BUSY` with Retry-After, a full disk `507 DISK_FULL`
(stemcast.db.faults says which), anything else `500 INTERNAL_ERROR`: all in the one
error shape of stemcast.http.errors.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from stemcast.db.faults import classify
from stemcast.error_text import describe

log = logging.getLogger(__name__)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    fault = classify(exc)
    if fault is None:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"success": False, "error": {
                "code": "INTERNAL_ERROR",
                "message": f"internal server error ({describe(exc)}); the server log has "
                           "details"}}, status_code=500)
    log.warning("%s %s: %s: %s", request.method, request.url.path, fault.code, fault.message)
    error: dict[str, object] = {"code": fault.code, "message": fault.message}
    headers: dict[str, str] = {}
    if fault.retry_after_s is not None:
        error["retryAfterSeconds"] = fault.retry_after_s
        headers["Retry-After"] = str(fault.retry_after_s)
    return JSONResponse({"success": False, "error": error}, status_code=fault.http_status,
                        headers=headers)
