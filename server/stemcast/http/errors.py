"""HTTP error replies: one JSON shape, `{"error": {"code", "message"}}`, like the WebSocket."""

from __future__ import annotations

from starlette.responses import JSONResponse

# No error message is longer: one that echoes a client's value must not grow with it.
MAX_MESSAGE_LENGTH = 2000


class HTTPProblem(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[:MAX_MESSAGE_LENGTH - 3] + "..."
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def problem_response(problem: HTTPProblem) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": {"code": problem.code, "message": problem.message}},
        status_code=problem.status,
    )
