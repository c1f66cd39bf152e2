"""Audio errors carry a code clients can act on and a message that names the file."""

from __future__ import annotations

from enum import Enum

SUPPORTED_HINT = "Send a wav, flac, aiff, mp3, m4a/aac, ogg or opus file."


class AudioErrorCode(str, Enum):
    FILE_NOT_FOUND = "FILE_NOT_FOUND"  # missing, not a regular file, or unreadable
    NOT_AUDIO = "NOT_AUDIO"  # no decodable audio stream in it
    EMPTY_AUDIO = "EMPTY_AUDIO"  # 0 bytes, or decodes to (next to) no samples
    UNSUPPORTED_AUDIO = "UNSUPPORTED_AUDIO"  # audio, but too many channels or an odd rate
    TRACK_TOO_LONG = "TRACK_TOO_LONG"  # decodes to more than the server's duration limit
    PATH_NOT_ALLOWED = "PATH_NOT_ALLOWED"  # a registered file now leads outside the folders


class AudioError(ValueError):
    """A file stemcast cannot take; `message` names the file and says what to do."""

    def __init__(self, code: AudioErrorCode, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message
