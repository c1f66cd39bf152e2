"""HTTP error replies: one JSON shape, `{"error": {"code", "message"}}`, like the WebSocket.

Every error answers in it: the routes' own (HTTPProblem), and Starlette's 404 (no route or
file) and 405 (a method the path does not take, with the Allow header) via
`handle_http_exception`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

# No error message is longer: one that echoes a client's value must not grow with it.
MAX_MESSAGE_LENGTH = 2000

# Starlette's own errors, named like ours.
_STARLETTE_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST",
                    413: "BODY_TOO_LARGE"}


class HTTPProblem(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[:MAX_MESSAGE_LENGTH - 3] + "..."
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def problem_response(problem: HTTPProblem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": {"code": problem.code, "message": problem.message}},
        status_code=problem.status, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path takes: one path is often several Routes
    (GET and DELETE /jobs/{id}), and Starlette's Allow names only the first one's."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and \
                route.matches({**request.scope, "method": "GET"})[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    code = _STARLETTE_CODES.get(status, "HTTP_ERROR")
    if status == 404:
        message = (f"nothing at {request.url.path[:200]!r}; /docs lists the HTTP routes "
                   "and /openapi.json describes them")
    elif status == 405:
        methods = allowed_methods(request) or headers.get("Allow", "GET, HEAD").split(", ")
        headers["Allow"] = ", ".join(methods)
        message = (f"{request.method} is not accepted at {request.url.path[:200]!r}; "
                   f"use {' or '.join(methods)}")
    else:
        message = exc.detail
    return problem_response(HTTPProblem(status, code, message), headers)
