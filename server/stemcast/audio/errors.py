"""Audio errors carry a code clients can act on and a message that names the file."""

from __future__ import annotations

from enum import Enum

SUPPORTED_HINT = "Send a wav, flac, aiff, mp3, m4a/aac, ogg or opus file."


class AudioErrorCode(str, Enum):
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    NOT_AUDIO = "NOT_AUDIO"
    EMPTY_AUDIO = "EMPTY_AUDIO"
    UNSUPPORTED_AUDIO = "UNSUPPORTED_AUDIO"


class AudioError(ValueError):
    def __init__(self, code: AudioErrorCode, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message
