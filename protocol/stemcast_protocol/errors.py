"""Error codes of the protocol, and the exception that carries one to the client."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    BAD_FRAME = "BAD_FRAME"
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    MISSING_FIELD = "MISSING_FIELD"
    INVALID_FIELD = "INVALID_FIELD"
    TRACK_NOT_FOUND = "TRACK_NOT_FOUND"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    PATH_NOT_ALLOWED = "PATH_NOT_ALLOWED"
    NOT_AUDIO = "NOT_AUDIO"
    EMPTY_AUDIO = "EMPTY_AUDIO"
    UNSUPPORTED_AUDIO = "UNSUPPORTED_AUDIO"
    REQUEST_NOT_FOUND = "REQUEST_NOT_FOUND"
    MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
    SEPARATION_FAILED = "SEPARATION_FAILED"
    WORKER_CRASHED = "WORKER_CRASHED"
    CANCELLED = "CANCELLED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


RequestId = str | int | None


class ProtocolError(Exception):
    """A problem with one client message; answered with an `error` message."""

    def __init__(self, code: ErrorCode, message: str, *, request_id: RequestId = None,
                 command: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.command = command

    def to_error_message(self) -> dict[str, Any]:
        return {
            "type": "error",
            "success": False,
            "requestId": self.request_id,
            "command": self.command,
            "error": {"code": self.code.value, "message": self.message},
        }
