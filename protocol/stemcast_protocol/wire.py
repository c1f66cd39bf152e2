"""Every WebSocket message as a type: the source of protocol/messages.schema.json.

One TypedDict per command (client -> server) and per server message, field for field as
PROTOCOL.md sections 3 and 4 list them; stemcast_protocol.schema turns them into JSON
Schema. Commands: an optional field may be null (= left out, section 1). Server messages:
every field is always sent (null, not left out); `error` is a map, or a string beside
`errorCode` in seed 000's JSON dialect (section 1.1).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from stemcast_protocol.errors import ErrorCode
from stemcast_protocol.messages import Delivery, ModelState, Priority, Stage

RequestId = str | int
EchoedId = str | int | None  # the request's id, null when it had none


class ErrorInfo(TypedDict):
    code: ErrorCode
    message: str  # the problem and the fix


# A map, or in seed 000's dialect (section 1.1) the message string with `errorCode`.
Failure = ErrorInfo | str


# -- commands (section 3) ----------------------------------------------------------------

class GetTrackInfo(TypedDict):
    """Exactly one of trackId and filePath."""

    command: Literal["getTrackInfo"]
    trackId: NotRequired[str | None]
    filePath: NotRequired[str | None]
    stems: NotRequired[bool | list[str] | None]
    requestId: NotRequired[RequestId | None]
    priority: NotRequired[Priority | None]
    delivery: NotRequired[Delivery | None]
    model: NotRequired[str | None]
    format: NotRequired[Literal["wav", "flac", "mp3"] | None]
    sampleRate: NotRequired[int | None]
    bitDepth: NotRequired[int | None]
    bitrate: NotRequired[int | None]
    variant: NotRequired[str | None]
    drums: NotRequired[bool | None]


class HelloCommand(TypedDict):
    command: Literal["hello"]
    client: NotRequired[str | None]
    protocolVersion: NotRequired[int | None]
    delivery: NotRequired[Delivery | None]


class Ping(TypedDict):
    command: Literal["ping"]
    requestId: NotRequired[RequestId | None]


class Cancel(TypedDict):
    command: Literal["cancel"]
    requestId: RequestId
    keepJob: NotRequired[bool]  # true: only stop following (3.4)


COMMANDS: tuple[type, ...] = (GetTrackInfo, HelloCommand, Ping, Cancel)


# -- server messages (section 4) ---------------------------------------------------------

class TrackInfo(TypedDict):
    type: Literal["trackInfo"]
    success: Literal[True]
    requestId: EchoedId
    trackId: str
    filePath: str
    bpm: float | None
    key: str | None
    mode: str | None
    durationSeconds: float
    sampleRate: int
    channels: int
    title: str | None
    stemsCached: bool
    model: str | None
    keyName: str | None
    camelot: str | None
    analysis: Literal["pending", "done", "failed"]
    firstBeatOffset: float
    firstPhraseBeatNo: int
    hotCues: list[dict[str, Any]]
    bpmGuess: float | None


class Progress(TypedDict):
    type: Literal["progress"]
    success: Literal[True]
    requestId: EchoedId
    trackId: str
    jobId: str | None
    stage: Stage
    progress: float
    etaSeconds: float | None
    queuePosition: int | None
    # [low, high] seconds, present only while etaSeconds is uncertain
    etaRange: NotRequired[list[float]]


class StemsReady(TypedDict):
    type: Literal["stemsReady"]
    success: Literal[True]
    requestId: EchoedId
    trackId: str
    jobId: str
    stems: dict[str, str]  # stem name -> absolute path
    model: str
    sampleRate: int
    format: Literal["wav", "flac", "mp3"]
    bitDepth: int | None
    bitrate: int | None
    variant: str | None
    cached: bool
    processingTime: float | None
    waveforms: list[dict[str, Any]]


class StemsFailed(TypedDict):
    type: Literal["stemsFailed"]
    success: Literal[False]
    requestId: EchoedId
    trackId: str
    jobId: str | None
    error: Failure
    errorCode: NotRequired[ErrorCode]  # seed 000's dialect only


class Error(TypedDict):
    type: Literal["error"]
    success: Literal[False]
    requestId: EchoedId
    command: str | None
    error: Failure
    errorCode: NotRequired[ErrorCode]  # seed 000's dialect only
    trackId: NotRequired[str]  # seed 000's dialect only ("" when the command named none)


class ModelOffer(TypedDict):
    name: str
    kind: str  # demucs, spleeter or dsp
    sources: list[str]
    sampleRate: int | None
    device: str | None
    precision: str | None
    default: bool


class Outputs(TypedDict):
    formats: list[str]
    sampleRates: list[int]
    bitDepths: dict[str, list[int]]
    variants: list[str]


class Hello(TypedDict):
    type: Literal["hello"]
    success: Literal[True]
    protocolVersion: int
    serverVersion: str
    model: str | None
    sources: list[str]
    modelStatus: ModelState
    modelError: str | None
    modelChoice: str
    models: list[ModelOffer]
    outputs: Outputs


class Pong(TypedDict):
    type: Literal["pong"]
    success: Literal[True]
    requestId: EchoedId
    time: float


class Cancelled(TypedDict):
    type: Literal["cancelled"]
    success: Literal[True]
    requestId: RequestId
    jobCancelled: NotRequired[bool]  # the separation job itself was stopped


class StemChunk(TypedDict):
    """`data` is msgpack bin; as JSON (the examples) base64."""

    type: Literal["stemChunk"]
    success: Literal[True]
    requestId: EchoedId
    trackId: str
    jobId: str
    stem: str
    startFrame: int
    frames: int
    sampleRate: int
    channels: int
    encoding: Literal["pcm_s16le", "pcm_f32le"]
    data: str


class TrackAnalysis(TypedDict):
    type: Literal["trackAnalysis"]
    success: bool
    requestId: EchoedId
    trackId: str
    bpm: float | None
    key: str | None
    mode: str | None
    keyName: str | None
    camelot: str | None
    bpmConfidence: float | None
    keyConfidence: float | None
    beats: list[float] | None
    downbeats: list[float] | None
    loudnessLufs: float | None
    audibleStart: float | None
    audibleEnd: float | None
    analysis: Literal["done", "failed"]
    error: Failure | None
    errorCode: NotRequired[ErrorCode]  # seed 000's dialect only
    firstBeatOffset: float
    firstPhraseBeatNo: int
    hotCues: list[dict[str, Any]]
    bpmGuess: float | None


class DrumsReady(TypedDict):
    type: Literal["drumsReady"]
    success: Literal[True]
    requestId: EchoedId
    trackId: str
    jobId: str
    onsets: str
    midi: str
    onsetsUrl: str
    midiUrl: str
    onsetCount: int
    lanes: dict[str, int]


class DrumsFailed(TypedDict):
    type: Literal["drumsFailed"]
    success: Literal[False]
    requestId: EchoedId
    trackId: str
    jobId: str | None
    error: Failure
    errorCode: NotRequired[ErrorCode]  # seed 000's dialect only


MESSAGES: tuple[type, ...] = (TrackInfo, Progress, StemsReady, StemsFailed, Error, Hello,
                              Pong, Cancelled, StemChunk, TrackAnalysis, DrumsReady,
                              DrumsFailed)
