"""Commands a client sends (validated into dataclasses) and the maps the server sends.

Field names are the seeds' (camelCase, `command`, `type`, `requestId`, `trackId`): they are
the contract with existing DJ engines, so the builders here are the only place the server
spells them.
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


# ---- server messages -----------------------------------------------------------------


def _value(item: Enum | str) -> str:
    return str(item.value) if isinstance(item, Enum) else item


def track_info_message(*, request_id: RequestId, track_id: str, file_path: str,
                       bpm: float | None, key: str | None, mode: str | None,
                       duration_seconds: float, sample_rate: int, channels: int,
                       title: str | None, stems_cached: bool,
                       model: str | None, key_name: str | None = None,
                       camelot: str | None = None,
                       analysis: str = "pending", first_beat_offset: float = 0.0,
                       first_phrase_beat_no: int = 1,
                       bpm_guess: float | None = None,
                       hot_cues: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """`firstBeatOffset`, `firstPhraseBeatNo` and `hotCues` are seed 000's (`hotCues`: the
    track's cues, [{index, position, isLoop, loopEnd?, name?, color?}] as Mismo's app
    server gives its engine); `bpmGuess` is a bpm > 0 even without a steady pulse."""
    return {
        "type": MessageType.TRACK_INFO.value, "success": True, "requestId": request_id,
        "trackId": track_id, "filePath": file_path, "bpm": bpm, "key": key, "mode": mode,
        "durationSeconds": duration_seconds, "sampleRate": sample_rate, "channels": channels,
        "title": title, "stemsCached": stems_cached, "model": model, "keyName": key_name,
        "camelot": camelot, "analysis": analysis, "firstBeatOffset": first_beat_offset,
        "firstPhraseBeatNo": first_phrase_beat_no, "hotCues": [dict(c) for c in hot_cues],
        "bpmGuess": bpm_guess,
    }


def track_analysis_message(*, request_id: RequestId, track_id: str,
                           analysis: Mapping[str, Any], bpm: float | None, key: str | None,
                           mode: str | None, first_beat_offset: float = 0.0,
                           first_phrase_beat_no: int = 1,
                           bpm_guess: float | None = None,
                           hot_cues: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The track's analysis once it is done (or failed), after a trackInfo that lacked it.

    `analysis` is the track's analysis map (state, error, keyName, camelot, beats, ...)."""
    return {
        "type": MessageType.TRACK_ANALYSIS.value,
        "success": analysis.get("state") == "done", "requestId": request_id,
        "trackId": track_id, "bpm": bpm, "key": key, "mode": mode,
        "keyName": analysis.get("keyName"), "camelot": analysis.get("camelot"),
        "bpmConfidence": analysis.get("bpmConfidence"),
        "keyConfidence": analysis.get("keyConfidence"),
        "beats": analysis.get("beats"), "downbeats": analysis.get("downbeats"),
        "loudnessLufs": analysis.get("loudnessLufs"),
        "audibleStart": analysis.get("audibleStart"), "audibleEnd": analysis.get("audibleEnd"),
        "analysis": analysis.get("state"),
        "error": ({"code": ErrorCode.ANALYSIS_FAILED.value, "message": analysis["error"]}
                  if analysis.get("error") else None),
        "firstBeatOffset": first_beat_offset, "firstPhraseBeatNo": first_phrase_beat_no,
        "hotCues": [dict(c) for c in hot_cues], "bpmGuess": bpm_guess,
    }


def drums_ready_message(*, request_id: RequestId, track_id: str, job_id: str,
                        onsets: str, midi: str, onsets_url: str, midi_url: str,
                        onset_count: int, lanes: Mapping[str, int]) -> dict[str, Any]:
    return {
        "type": MessageType.DRUMS_READY.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "onsets": onsets, "midi": midi,
        "onsetsUrl": onsets_url, "midiUrl": midi_url, "onsetCount": onset_count,
        "lanes": dict(lanes),
    }


def drums_failed_message(*, request_id: RequestId, track_id: str, job_id: str | None,
                         code: ErrorCode | str, message: str) -> dict[str, Any]:
    return _request_failed(MessageType.DRUMS_FAILED, request_id, track_id, job_id, code,
                           message)


def progress_message(*, request_id: RequestId, track_id: str, job_id: str | None,
                     stage: Stage | str, progress: float, eta_seconds: float | None,
                     queue_position: int | None) -> dict[str, Any]:
    return {
        "type": MessageType.PROGRESS.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "stage": _value(stage), "progress": progress,
        "etaSeconds": eta_seconds, "queuePosition": queue_position,
    }


def stems_ready_message(*, request_id: RequestId, track_id: str, job_id: str,
                        stems: Mapping[str, str], model: str, sample_rate: int,
                        cached: bool, processing_time: float | None,
                        format: str = STEM_FORMAT, bit_depth: int | None = 16,
                        bitrate: int | None = None, variant: str | None = None,
                        waveforms: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {
        "type": MessageType.STEMS_READY.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "stems": dict(stems), "model": model,
        "sampleRate": sample_rate, "format": format, "bitDepth": bit_depth,
        "bitrate": bitrate, "variant": variant, "cached": cached,
        "processingTime": processing_time, "waveforms": [dict(w) for w in waveforms],
    }


def _request_failed(kind: MessageType, request_id: RequestId, track_id: str,
                    job_id: str | None, code: ErrorCode | str, message: str) -> dict[str, Any]:
    return {
        "type": kind.value, "success": False, "requestId": request_id,
        "trackId": track_id, "jobId": job_id,
        "error": {"code": _value(code), "message": message},
    }


def stems_failed_message(*, request_id: RequestId, track_id: str, job_id: str | None,
                         code: ErrorCode | str, message: str) -> dict[str, Any]:
    return _request_failed(MessageType.STEMS_FAILED, request_id, track_id, job_id, code,
                           message)


def error_message(error: ProtocolError) -> dict[str, Any]:
    return error.to_error_message()


def hello_message(*, server_version: str, model: str | None, sources: Sequence[str],
                  model_status: ModelState | str, model_error: str | None,
                  model_choice: str = "", models: Sequence[Mapping[str, Any]] = (),
                  ) -> dict[str, Any]:
    from stemcast_protocol.options import BIT_DEPTHS, FORMATS, SAMPLE_RATES, VARIANTS

    return {
        "type": MessageType.HELLO.value, "success": True, "protocolVersion": PROTOCOL_VERSION,
        "serverVersion": server_version, "model": model, "sources": list(sources),
        "modelStatus": _value(model_status), "modelError": model_error,
        "modelChoice": model_choice, "models": [dict(m) for m in models],
        "outputs": {"formats": list(FORMATS), "sampleRates": list(SAMPLE_RATES),
                    "bitDepths": {k: list(v) for k, v in BIT_DEPTHS.items()},
                    "variants": list(VARIANTS)},
    }


def pong_message(*, request_id: RequestId, time: float) -> dict[str, Any]:
    return {"type": MessageType.PONG.value, "success": True, "requestId": request_id,
            "time": time}


def cancelled_message(*, request_id: str | int, job_cancelled: bool = False) -> dict[str, Any]:
    """`jobCancelled`: the separation job itself was stopped (this was its last follower)."""
    return {"type": MessageType.CANCELLED.value, "success": True, "requestId": request_id,
            "jobCancelled": job_cancelled}


def stem_chunk_message(*, request_id: RequestId, track_id: str, job_id: str, stem: str,
                       start_frame: int, frames: int, sample_rate: int, channels: int,
                       data: bytes, encoding: str = "pcm_s16le") -> dict[str, Any]:
    """One stretch of one stem: `frames` frames of interleaved samples in `data`."""
    return {
        "type": MessageType.STEM_CHUNK.value, "success": True, "requestId": request_id,
        "trackId": track_id, "jobId": job_id, "stem": stem, "startFrame": start_frame,
        "frames": frames, "sampleRate": sample_rate, "channels": channels,
        "encoding": encoding, "data": data,
    }
