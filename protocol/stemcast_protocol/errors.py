"""Error codes of the protocol, and the exception that carries one to the client."""

from __future__ import annotations

from enum import Enum
from typing import Any

# A client's request id, echoed on every message about that request (null when absent).
RequestId = str | int | None


class ErrorCode(str, Enum):
    """The `error.code` values; PROTOCOL.md section 5 gives each one's meaning."""

    BAD_FRAME = "BAD_FRAME"  # not a msgpack map / JSON object, or a key is not a string
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"  # a client frame over 1 MiB
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"  # `command` names no command of this protocol
    MISSING_FIELD = "MISSING_FIELD"  # a required field is absent
    INVALID_FIELD = "INVALID_FIELD"  # a field has the wrong type or value
    TRACK_NOT_FOUND = "TRACK_NOT_FOUND"  # no track with that trackId
    FILE_NOT_FOUND = "FILE_NOT_FOUND"  # the audio file does not exist (any more)
    PATH_NOT_ALLOWED = "PATH_NOT_ALLOWED"  # filePath is outside the allowed folders
    NOT_AUDIO = "NOT_AUDIO"  # the file holds nothing that decodes as audio
    EMPTY_AUDIO = "EMPTY_AUDIO"  # the file is empty or has zero samples
    UNSUPPORTED_AUDIO = "UNSUPPORTED_AUDIO"  # audio the server refuses (channels, rate)
    TRACK_TOO_LONG = "TRACK_TOO_LONG"  # longer than the server separates
    REQUEST_NOT_FOUND = "REQUEST_NOT_FOUND"  # cancel names no request on this connection
    MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"  # no weights for the configured model
    SEPARATION_FAILED = "SEPARATION_FAILED"  # separating or writing the stems failed
    WORKER_CRASHED = "WORKER_CRASHED"  # the separation process died (twice) on this job
    CANCELLED = "CANCELLED"  # the job was cancelled
    TRANSCRIPTION_FAILED = "TRANSCRIPTION_FAILED"  # drum transcription failed (drumsFailed)
    ANALYSIS_FAILED = "ANALYSIS_FAILED"  # the track's analysis failed (trackAnalysis)
    AUDIO_CHANGED = "AUDIO_CHANGED"  # the file kept changing while its job waited
    BUSY = "BUSY"  # the database is locked by another process: retry (retryAfterSeconds)
    DISK_FULL = "DISK_FULL"  # the server's disk is full: nothing was stored
    INTERNAL_ERROR = "INTERNAL_ERROR"  # a server bug; the server log has details


MAX_MESSAGE_LENGTH = 2000


class ProtocolError(Exception):
    """A problem with one client message; the server answers it with an `error` message.

    `request_id` and `command` are whatever could be read from the message before the
    problem was found, so the client can match the error to what it sent.
    """

    def __init__(self, code: ErrorCode, message: str, *, request_id: RequestId = None,
                 command: str | None = None) -> None:
        if len(message) > MAX_MESSAGE_LENGTH:  # one that echoes a value must not grow with it
            message = message[:MAX_MESSAGE_LENGTH - 3] + "..."
        if isinstance(command, str):
            command = command[:80]
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.command = command

    def __repr__(self) -> str:
        return (f"ProtocolError({self.code.value}, {self.message!r}, "
                f"request_id={self.request_id!r}, command={self.command!r})")

    def to_error_message(self) -> dict[str, Any]:
        """The `error` map of PROTOCOL.md section 4.5."""
        return {
            "type": "error",
            "success": False,
            "requestId": self.request_id,
            "command": self.command,
            "error": {"code": self.code.value, "message": self.message},
        }
