"""The JSON bodies of the HTTP API as types: what /openapi.json describes.

Each TypedDict is one body a handler takes or answers (stemcast.http.api_meta names
which); the integration tests validate real replies against the schemas made from these,
so a field added to a reply and not here fails them. NotRequired: a field some replies
leave out; `X | None`: a field always there, sometimes null.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from stemcast_protocol.wire import ModelOffer  # the same shape as hello.models

Priority = Literal["high", "normal", "low"]
DeliveryMode = Literal["path", "callback", "poll"]


class ErrorDetail(TypedDict):
    code: str  # e.g. NOT_FOUND, INVALID_FIELD, NOT_READY (PROTOCOL.md section 5)
    message: str  # the problem and the fix, in words
    retryAfterSeconds: NotRequired[float]  # 503 BUSY: when to send the request again


class ErrorBody(TypedDict):
    """Every HTTP error, with a 4xx or 5xx status."""

    success: Literal[False]
    error: ErrorDetail


# -- health and figures ------------------------------------------------------------------

class HealthModel(TypedDict):
    name: str
    requested: str
    choice: str
    state: Literal["ready", "loading", "unavailable"]
    error: str | None
    sources: list[str]
    sampleRate: int | None
    precision: str | None
    segmentSeconds: float | None
    repo: str | None


class WorkerRow(TypedDict):
    index: int
    pid: int | None
    state: str
    jobs: list[str]
    # `serve --queue`: the fleet's workers also say who and where they are.
    name: NotRequired[str]
    host: NotRequired[str]
    device: NotRequired[str | None]
    model: NotRequired[str | None]
    lastHeartbeat: NotRequired[float]
    heartbeatAgeS: NotRequired[float]
    alive: NotRequired[bool]


class QueueFigures(TypedDict):
    queued: int
    running: int
    maxConcurrentJobs: int
    realtimeFactor: float | None
    realtimeFactors: dict[str, float | None]
    workerRestarts: int
    workers: list[WorkerRow]
    waitingForDatabase: int


class Health(TypedDict):
    """Without the token (when --token is set) only `status` and `ready`."""

    status: Literal["ok"]
    ready: bool
    version: NotRequired[str]
    model: NotRequired[HealthModel]
    models: NotRequired[list[ModelOffer]]
    analysis: NotRequired[dict[str, int]]
    device: NotRequired[str]
    queue: NotRequired[QueueFigures]
    connectedClients: NotRequired[int]
    uptimeSeconds: NotRequired[float]


class Live(TypedDict):
    status: Literal["ok"]


class Ready(TypedDict):
    status: Literal["ok"]
    ready: Literal[True]


class QueueRow(TypedDict):
    jobId: str
    trackId: str | None
    state: Literal["running", "queued"]
    stage: str
    progress: float
    priority: Priority
    queuePosition: int  # 0 while running
    createdAt: str


class QueueListing(TypedDict):
    jobs: list[QueueRow]
    workers: list[WorkerRow]


class Stats(TypedDict):
    jobs: dict[str, int]  # separation jobs by state
    api_jobs: dict[str, int]  # job API jobs by status
    callbacks: dict[str, int]  # callbacks by delivery state
    callback_attempts: int
    callback_failures: int
    tracks: int
    queue: QueueFigures
    connected_clients: int
    uptime_seconds: float


# -- tracks ------------------------------------------------------------------------------

class AddTrack(TypedDict):
    path: str  # absolute, inside an allowed folder (--allow-path-prefix)
    trackId: NotRequired[str]  # the client's own id for the track


class FetchTrack(TypedDict):
    url: str  # http(s) URL of an audio file


class Track(TypedDict):
    trackId: str
    filePath: str
    title: str | None
    durationSeconds: float
    sampleRate: int
    channels: int
    format: str | None
    bpm: float | None
    key: str | None
    mode: str | None
    keyName: str | None
    camelot: str | None
    analysis: str  # pending, done, failed
    source: str
    externalId: str | None
    createdAt: str


class TrackAdded(Track):
    success: Literal[True]


class TrackAnalysis(TypedDict):
    trackId: str
    bpm: float | None
    key: str | None
    mode: str | None
    state: str
    error: str | None
    keyName: str | None
    camelot: str | None
    bpmConfidence: float | None
    keyConfidence: float | None
    loudnessLufs: float | None
    peakDbfs: float | None
    audibleStart: float | None
    audibleEnd: float | None
    beats: list[float] | None
    downbeats: list[float] | None
    waveforms: Any  # the mix's peaks at every zoom level, once analysed


class TrackStems(TypedDict):
    trackId: str
    jobId: str
    model: str | None
    stems: dict[str, str]  # stem name -> URL
    zip: str
    waveforms: str
    processingTime: float | None
    finishedAt: str | None


class JobWaveforms(TypedDict):
    jobId: str
    waveforms: list[dict[str, Any]]


# -- the job API (seeds 000 and 004, snake_case) -----------------------------------------

class JobOptions(TypedDict):
    stems: NotRequired[bool | list[str]]
    basic_features: NotRequired[bool]
    characteristics: NotRequired[bool]
    drums: NotRequired[bool]
    model: NotRequired[str]
    format: NotRequired[Literal["wav", "flac", "mp3"]]
    sample_rate: NotRequired[int]
    bit_depth: NotRequired[int]
    bitrate: NotRequired[int]
    variant: NotRequired[str]


class JobRequest(TypedDict):
    """As JSON; multipart/form-data takes the same fields (options as a JSON string) with
    the audio in `file` instead of `file_path`."""

    file_path: str
    track_hash: NotRequired[str]  # the job id; without it the track's id
    options: NotRequired[JobOptions]
    callback_url: NotRequired[str]
    stem_delivery_mode: NotRequired[DeliveryMode]
    priority: NotRequired[Priority]


JobStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]


class JobCreated(TypedDict):
    job_id: str
    status: JobStatus
    track_hash: str | None
    track_id: str | None
    created_at: str
    callback_url: str | None
    stem_delivery_mode: DeliveryMode


class CallbackState(TypedDict):
    stage: str
    state: str  # pending, delivered, failed
    attempts: int
    last_error: str | None
    delivered_at: float | str | None


class JobRecord(TypedDict):
    job_id: str
    status: JobStatus
    stage: str
    progress: float
    stages_completed: list[str]
    error: str | None
    error_code: str | None
    track_hash: str | None
    track_id: str | None
    separation_job_id: str | None
    options: dict[str, Any]
    priority: Priority
    callback_url: str | None
    stem_delivery_mode: DeliveryMode
    processing_time: float | None
    created_at: str
    updated_at: str
    callbacks: list[CallbackState]


class JobPending(TypedDict):
    job_id: str
    status: JobStatus
    stage: str
    progress: float


class JobStems(TypedDict):
    job_id: str
    stage: Literal["stems"]
    status: Literal["completed"]
    data: dict[str, Any]  # as the `stems` callback carries it (PROTOCOL.md 8.5)


class JobDeleted(TypedDict):
    job_id: str
    status: JobStatus
    deleted: Literal[True]
