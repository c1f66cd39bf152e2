"""Commands a client sends (validated into dataclasses) and the maps the server sends.

Field names are the seeds' (camelCase, `command`, `type`, `requestId`, `trackId`): they are
the contract with existing DJ engines, so builders here are the only place they are spelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from stemcast_protocol.errors import ErrorCode, ProtocolError, RequestId

PROTOCOL_VERSION = 1
MAX_ID_LENGTH = 200


class Priority(str, Enum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Stage(str, Enum):
    QUEUED = "queued"
    DECODING = "decoding"
    SEPARATING = "separating"
    WRITING = "writing"
    COMPLETE = "complete"


@dataclass(frozen=True)
class GetTrackInfo:
    track_id: str | None
    file_path: str | None
    stems: bool
    request_id: RequestId
    priority: Priority = Priority.HIGH


@dataclass(frozen=True)
class Hello:
    client: str | None
    protocol_version: int | None


@dataclass(frozen=True)
class Ping:
    request_id: RequestId


@dataclass(frozen=True)
class Cancel:
    request_id: RequestId


Command = GetTrackInfo | Hello | Ping | Cancel
COMMANDS = ("getTrackInfo", "hello", "ping", "cancel")

_TYPE_NAMES = {bool: "boolean (true/false)", str: "string", int: "integer"}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, bytes):
        return "binary"
    return {str: "string", int: "integer", float: "number", list: "array",
            dict: "map"}.get(type(value), type(value).__name__)


class _Reader:
    """Reads typed fields of one command, raising errors that echo its requestId."""

    def __init__(self, message: Mapping[str, Any], command: str | None,
                 request_id: RequestId) -> None:
        self.message = message
        self.command = command
        self.request_id = request_id

    def error(self, code: ErrorCode, text: str) -> ProtocolError:
        return ProtocolError(code, text, request_id=self.request_id, command=self.command)

    def optional(self, name: str, kind: type, default: Any = None) -> Any:
        value = self.message.get(name)
        if value is None:
            return default
        # bool is a subclass of int in Python, but never an integer on the wire.
        wrong_bool = kind is not bool and isinstance(value, bool)
        if not isinstance(value, kind) or wrong_bool:
            raise self.error(ErrorCode.INVALID_FIELD,
                             f"field '{name}' must be a {_TYPE_NAMES.get(kind, kind.__name__)}, "
                             f"got {_type_name(value)}")
        if isinstance(value, str) and kind is str:
            if not value:
                raise self.error(ErrorCode.INVALID_FIELD, f"field '{name}' must not be empty")
            if len(value) > 4096:
                raise self.error(ErrorCode.INVALID_FIELD, f"field '{name}' is too long")
        return value


def _read_request_id(message: Mapping[str, Any], command: str | None) -> RequestId:
    value = message.get("requestId")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProtocolError(ErrorCode.INVALID_FIELD,
                            f"field 'requestId' must be a string or an integer, got "
                            f"{_type_name(value)}", command=command)
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise ProtocolError(ErrorCode.INVALID_FIELD,
                            f"field 'requestId' is longer than {MAX_ID_LENGTH} characters",
                            command=command)
    return value


def parse_command(message: Mapping[str, Any]) -> Command:
    """Validate one decoded client map into a command; unknown extra fields are ignored."""
    raw_command = message.get("command")
    command = raw_command if isinstance(raw_command, str) else None
    request_id = _read_request_id(message, command)
    read = _Reader(message, command, request_id)
    if raw_command is None:
        raise read.error(ErrorCode.MISSING_FIELD,
                         "the message has no 'command' field; send e.g. "
                         "{\"command\": \"getTrackInfo\", \"trackId\": \"...\", \"stems\": true}")
    if command not in COMMANDS:
        raise read.error(ErrorCode.UNKNOWN_COMMAND,
                         f"unknown command {raw_command!r}; known commands: {', '.join(COMMANDS)}")
    if command == "getTrackInfo":
        track_id = read.optional("trackId", str)
        file_path = read.optional("filePath", str)
        if track_id is not None and len(track_id) > MAX_ID_LENGTH:
            raise read.error(ErrorCode.INVALID_FIELD,
                             f"field 'trackId' is longer than {MAX_ID_LENGTH} characters")
        if track_id is None and file_path is None:
            raise read.error(ErrorCode.MISSING_FIELD,
                             "getTrackInfo needs 'trackId' (a track the server knows) or "
                             "'filePath' (an absolute path in an allowed folder)")
        if track_id is not None and file_path is not None:
            raise read.error(ErrorCode.INVALID_FIELD,
                             "send either 'trackId' or 'filePath', not both")
        priority_name = read.optional("priority", str, Priority.HIGH.value)
        try:
            priority = Priority(priority_name)
        except ValueError:
            raise read.error(ErrorCode.INVALID_FIELD,
                             f"field 'priority' must be one of high, normal, low; "
                             f"got {priority_name!r}") from None
        return GetTrackInfo(track_id=track_id, file_path=file_path,
                            stems=read.optional("stems", bool, False), request_id=request_id,
                            priority=priority)
    if command == "hello":
        return Hello(client=read.optional("client", str),
                     protocol_version=read.optional("protocolVersion", int))
    if command == "ping":
        return Ping(request_id=request_id)
    if request_id is None:
        raise read.error(ErrorCode.MISSING_FIELD,
                         "cancel needs the 'requestId' of the request to stop")
    return Cancel(request_id=request_id)


# ---- server messages ---------------------------------------------------------------------


def track_info_message(*, request_id: RequestId, track_id: str, file_path: str,
                       bpm: float | None, key: str | None, mode: str | None,
                       duration_seconds: float, sample_rate: int, channels: int,
                       title: str | None, stems_cached: bool,
                       model: str | None) -> dict[str, Any]:
    return {
        "type": "trackInfo", "success": True, "requestId": request_id, "trackId": track_id,
        "filePath": file_path, "bpm": bpm, "key": key, "mode": mode,
        "durationSeconds": duration_seconds, "sampleRate": sample_rate, "channels": channels,
        "title": title, "stemsCached": stems_cached, "model": model,
    }


def progress_message(*, request_id: RequestId, track_id: str, job_id: str | None, stage: str,
                     progress: float, eta_seconds: float | None,
                     queue_position: int | None) -> dict[str, Any]:
    return {
        "type": "progress", "success": True, "requestId": request_id, "trackId": track_id,
        "jobId": job_id, "stage": stage, "progress": progress, "etaSeconds": eta_seconds,
        "queuePosition": queue_position,
    }


def stems_ready_message(*, request_id: RequestId, track_id: str, job_id: str,
                        stems: Mapping[str, str], model: str, sample_rate: int,
                        cached: bool, processing_time: float | None,
                        format: str = "wav") -> dict[str, Any]:
    return {
        "type": "stemsReady", "success": True, "requestId": request_id, "trackId": track_id,
        "jobId": job_id, "stems": dict(stems), "model": model, "sampleRate": sample_rate,
        "format": format, "cached": cached, "processingTime": processing_time,
    }


def stems_failed_message(*, request_id: RequestId, track_id: str, job_id: str | None,
                         code: str, message: str) -> dict[str, Any]:
    return {
        "type": "stemsFailed", "success": False, "requestId": request_id, "trackId": track_id,
        "jobId": job_id, "error": {"code": code, "message": message},
    }


def error_message(error: ProtocolError) -> dict[str, Any]:
    return error.to_error_message()


def hello_message(*, server_version: str, model: str | None, sources: list[str],
                  model_status: str, model_error: str | None) -> dict[str, Any]:
    return {
        "type": "hello", "success": True, "protocolVersion": PROTOCOL_VERSION,
        "serverVersion": server_version, "model": model, "sources": sources,
        "modelStatus": model_status, "modelError": model_error,
    }


def pong_message(*, request_id: RequestId, time: float) -> dict[str, Any]:
    return {"type": "pong", "success": True, "requestId": request_id, "time": time}


def cancelled_message(*, request_id: RequestId) -> dict[str, Any]:
    return {"type": "cancelled", "success": True, "requestId": request_id}
