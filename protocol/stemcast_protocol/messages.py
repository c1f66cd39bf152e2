"""Commands a client sends (validated into dataclasses), and the names both sides share
(message types, stages, priorities, model states). The maps the server sends are built in
server_messages.py.

Field names are the seeds' (camelCase, `command`, `type`, `requestId`, `trackId`): they are
the contract with existing DJ engines.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from stemcast_protocol.errors import ErrorCode, ProtocolError, RequestId
from stemcast_protocol.options import OptionError, OutputRequest, parse_output_options

PROTOCOL_VERSION = 1
MAX_ID_LENGTH = 200  # requestId, trackId and hello's client name
# Names longer than this get no "did you mean" (no command is half as long): suggesting is
# costly for long strings, and a client could send megabytes of name per frame.
MAX_SUGGESTED_LENGTH = 40
MAX_PATH_LENGTH = 4096  # PATH_MAX on Linux
# msgpack carries 64-bit integers; a larger integer requestId could not be echoed.
MIN_INT_ID, MAX_INT_ID = -(1 << 63), (1 << 64) - 1
STEM_FORMAT = "wav"


class CommandName(str, Enum):
    GET_TRACK_INFO = "getTrackInfo"
    HELLO = "hello"
    PING = "ping"
    CANCEL = "cancel"


class MessageType(str, Enum):
    TRACK_INFO = "trackInfo"
    PROGRESS = "progress"
    STEMS_READY = "stemsReady"
    STEMS_FAILED = "stemsFailed"
    ERROR = "error"
    HELLO = "hello"
    PONG = "pong"
    CANCELLED = "cancelled"
    STEM_CHUNK = "stemChunk"
    TRACK_ANALYSIS = "trackAnalysis"
    DRUMS_READY = "drumsReady"
    DRUMS_FAILED = "drumsFailed"


COMMANDS: tuple[str, ...] = tuple(c.value for c in CommandName)
MESSAGE_TYPES: tuple[str, ...] = tuple(t.value for t in MessageType)


class Priority(str, Enum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Stage(str, Enum):
    """A job's stages, in the order a job goes through them."""

    QUEUED = "queued"
    DECODING = "decoding"
    SEPARATING = "separating"
    WRITING = "writing"
    COMPLETE = "complete"


class Delivery(str, Enum):
    """How stems reach a client: file paths (default) or binary chunks while they separate."""

    PATH = "path"
    BINARY = "binary"


class ModelState(str, Enum):
    """`modelStatus` of the hello reply."""

    READY = "ready"
    LOADING = "loading"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class GetTrackInfo:
    track_id: str | None
    file_path: str | None
    stems: bool
    request_id: RequestId
    priority: Priority = Priority.HIGH
    delivery: Delivery | None = None  # None: the session's (hello's) choice
    model: str | None = None  # None: the server's default model
    output: OutputRequest = field(default_factory=OutputRequest)
    drums: bool = False  # also transcribe the drum stem (seed 002)


@dataclass(frozen=True)
class Hello:
    client: str | None
    protocol_version: int | None
    delivery: Delivery | None = None


@dataclass(frozen=True)
class Ping:
    request_id: RequestId


@dataclass(frozen=True)
class Cancel:
    request_id: str | int
    keep_job: bool = False  # only stop following; never stop the job for others' sake


Command = GetTrackInfo | Hello | Ping | Cancel


# ---- reading client commands ---------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass in Python
        return "boolean"
    names = {str: "string", int: "integer", float: "number", bytes: "binary", list: "array",
             dict: "map"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class _Fields:
    """Typed reads of one command's fields; every error echoes the command and requestId."""

    message: Mapping[str, Any]
    command: str | None
    request_id: RequestId

    def error(self, code: ErrorCode, text: str) -> ProtocolError:
        return ProtocolError(code, text, request_id=self.request_id, command=self.command)

    def _wrong_type(self, name: str, expected: str, value: Any) -> ProtocolError:
        return self.error(ErrorCode.INVALID_FIELD,
                          f"field '{name}' must be {expected}, got {_type_name(value)}")

    # A null value means the same as an absent field: some encoders always write them.
    def string(self, name: str, *, max_length: int) -> str | None:
        value = self.message.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._wrong_type(name, "a string", value)
        if not value:
            raise self.error(ErrorCode.INVALID_FIELD,
                             f"field '{name}' must not be empty; leave it out instead")
        if len(value) > max_length:
            raise self.error(ErrorCode.INVALID_FIELD,
                             f"field '{name}' must be at most {max_length} characters, "
                             f"got {len(value)}")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.message.get(name)
        if value is None:
            return default
        # Real booleans only: 0/1 or "true" usually mean a client bug worth hearing about.
        if not isinstance(value, bool):
            raise self._wrong_type(name, "a boolean (true/false)", value)
        return value

    def integer(self, name: str) -> int | None:
        value = self.message.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(name, "an integer", value)
        return value

    def choice(self, name: str, options: Sequence[str], default: str) -> str:
        value = self.message.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or value not in options:
            shown = repr(value[:80]) if isinstance(value, str) else _type_name(value)
            raise self.error(ErrorCode.INVALID_FIELD,
                             f"field '{name}' must be one of {', '.join(options)}; "
                             f"got {shown}")
        return value


def _read_request_id(message: Mapping[str, Any], command: str | None) -> RequestId:
    value = message.get("requestId")
    if value is None:
        return None
    problem = None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problem = f"must be a string or an integer, got {_type_name(value)}"
    elif isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        problem = f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}"
    elif isinstance(value, int) and not MIN_INT_ID <= value <= MAX_INT_ID:
        problem = "must fit in 64 bits; use a string for longer ids"
    if problem:
        # The id itself is unusable, so this error cannot echo it.
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field 'requestId' {problem}",
                            command=command)
    return value


def _read_command_name(message: Mapping[str, Any], fields: _Fields) -> CommandName:
    raw = message.get("command")
    known = ", ".join(COMMANDS)
    if raw is None:
        raise fields.error(ErrorCode.MISSING_FIELD,
                           "the message has no 'command' field; send e.g. {\"command\": "
                           "\"getTrackInfo\", \"trackId\": \"...\", \"stems\": true} "
                           f"(known commands: {known})")
    if not isinstance(raw, str):
        raise fields.error(ErrorCode.INVALID_FIELD,
                           f"field 'command' must be a string naming a command ({known}), "
                           f"got {_type_name(raw)}")
    try:
        return CommandName(raw)
    except ValueError:
        pass
    near: list[str] = []
    if len(raw) <= MAX_SUGGESTED_LENGTH:  # difflib's cost grows with the name's length
        near = [c for c in COMMANDS if c.lower() == raw.lower()]
        near = near or difflib.get_close_matches(raw, COMMANDS, n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    raise fields.error(ErrorCode.UNKNOWN_COMMAND,
                       f"unknown command {raw[:80]!r}{hint}; known commands: {known}")


def _read_get_track_info(fields: _Fields) -> GetTrackInfo:
    track_id = fields.string("trackId", max_length=MAX_ID_LENGTH)
    file_path = fields.string("filePath", max_length=MAX_PATH_LENGTH)
    if track_id is None and file_path is None:
        raise fields.error(ErrorCode.MISSING_FIELD,
                           "getTrackInfo needs 'trackId' (a track the server knows) or "
                           "'filePath' (an absolute path in an allowed folder)")
    if track_id is not None and file_path is not None:
        raise fields.error(ErrorCode.INVALID_FIELD,
                           "send either 'trackId' or 'filePath', not both")
    if file_path is not None:
        if "\0" in file_path:
            raise fields.error(ErrorCode.INVALID_FIELD,
                               "field 'filePath' must not contain NUL characters")
        if not os.path.isabs(file_path):
            raise fields.error(ErrorCode.INVALID_FIELD,
                               f"field 'filePath' must be an absolute path on the server, "
                               f"got {file_path[:MAX_ID_LENGTH]!r}")
    priority = fields.choice("priority", [p.value for p in Priority], Priority.HIGH.value)
    try:
        output = parse_output_options(fields.message.get, camel=True)
    except OptionError as exc:
        raise fields.error(ErrorCode.INVALID_FIELD, str(exc)) from exc
    # `stems` is seed 000's boolean, or a list naming the stems wanted (which implies true).
    stems = output.stems is not None or fields.boolean("stems", default=False)
    drums = fields.boolean("drums", default=False)
    return GetTrackInfo(track_id=track_id, file_path=file_path,
                        stems=stems or drums,
                        request_id=fields.request_id, priority=Priority(priority),
                        delivery=_read_delivery(fields),
                        model=fields.string("model", max_length=MAX_ID_LENGTH),
                        output=output, drums=drums)


def _read_delivery(fields: _Fields) -> Delivery | None:
    if fields.message.get("delivery") is None:
        return None
    return Delivery(fields.choice("delivery", [d.value for d in Delivery], Delivery.PATH.value))


def parse_command(message: Mapping[str, Any]) -> Command:
    """Validate one decoded client map into a command, or raise ProtocolError.

    Unknown extra fields are ignored (forward compatibility); known fields of the wrong
    type are errors. The requestId is read first so that every later error echoes it.
    """
    raw_command = message.get("command")
    command = raw_command if isinstance(raw_command, str) else None
    fields = _Fields(message, command, _read_request_id(message, command))
    name = _read_command_name(message, fields)
    if name is CommandName.GET_TRACK_INFO:
        return _read_get_track_info(fields)
    if name is CommandName.HELLO:
        return Hello(client=fields.string("client", max_length=MAX_ID_LENGTH),
                     protocol_version=fields.integer("protocolVersion"),
                     delivery=_read_delivery(fields))
    if name is CommandName.PING:
        return Ping(request_id=fields.request_id)
    if fields.request_id is None:
        raise fields.error(ErrorCode.MISSING_FIELD,
                           "cancel needs the 'requestId' of the getTrackInfo request to stop "
                           "following")
    return Cancel(request_id=fields.request_id,
                  keep_job=fields.boolean("keepJob", default=False))
