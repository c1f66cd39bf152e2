"""Messages between the server and a separation worker process (pickled over a pipe).

Workers talk to the scheduler only through these, never through shared memory, so a
worker on another machine (the Redis scale-out) needs a new transport, not new logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stemcast.logging_setup import LogSettings
from stemcast_protocol import Stage


@dataclass(frozen=True)
class WorkerConfig:
    model: str
    model_repo: Path | None
    device: str
    fetch_timeout: float
    torch_threads: int | None = None
    precision: str = "auto"
    batch_size: int | None = None
    numba_cache: str | None = None  # numba's cache folder (see cpu_pool.py)
    numba_cache_per_worker: bool = False  # suffix the folder with the worker's index
    log: LogSettings = field(default_factory=LogSettings)  # the server's --log-level and --log-json


# server -> worker


@dataclass(frozen=True)
class TaskOptions:
    """What the worker needs to know of a job's options (jobs.SeparationOptions)."""

    model: str | None = None  # None: the worker's default model
    subtype: str = "PCM_16"  # the master's WAV subtype: PCM_16, or FLOAT for > 16 bits
    shifts: int = 0  # Demucs's random shifts (averaged); 0: none


@dataclass(frozen=True)
class SeparateTask:
    job_id: str
    input_path: str
    output_dir: str
    options: TaskOptions = field(default_factory=TaskOptions)
    # The worker always advances its most urgent job: (rank, seq) smallest first.
    priority_rank: int = 1
    seq: int = 0
    seed: str = ""  # the cache key: seeds the random shifts when options ask for shifts
    # The hash of the audio the job was asked for: the worker refuses other audio.
    pcm_hash: str = ""


@dataclass(frozen=True)
class Reprioritize:
    job_id: str
    priority_rank: int


@dataclass(frozen=True)
class CancelTask:
    job_id: str


@dataclass(frozen=True)
class Shutdown:
    pass


# worker -> server


@dataclass(frozen=True)
class ModelDescription:
    """One engine a worker holds, loaded and warmed up."""

    name: str
    sources: tuple[str, ...]
    sample_rate: int
    channels: int
    device: str
    precision: str
    segment_seconds: float
    kind: str  # "demucs" or "dsp"


@dataclass(frozen=True)
class WorkerReady:
    """The worker's engines. `default_model` is what a request that names no model gets:
    the configured model, or what `auto` chose (`choice` says which and why). When an
    explicitly named model could not be loaded, `default_model` is None and
    `default_error` says why and how to fix it; the other engines still work."""

    requested_model: str
    default_model: str | None
    models: tuple[ModelDescription, ...]
    pid: int
    choice: str = ""
    default_error: str | None = None


@dataclass(frozen=True)
class TaskProgress:
    job_id: str
    stage: Stage  # decoding, separating or writing
    fraction: float  # of this stage, 0..1
    # Set by a fleet node (fleet/node.py): the device running the job, as its heartbeat
    # reports it, so ETAs learn per node device. None: this server's own workers, or a
    # node of an older version (the server's --device stands in).
    device: str | None = None


@dataclass(frozen=True)
class TaskChunk:
    """Frames [start_frame, start_frame + frames) of every stem are final and on disk
    (appended to stems/NAME.s16.partial, 16-bit interleaved, before this is sent)."""

    job_id: str
    start_frame: int
    frames: int


@dataclass(frozen=True)
class TaskDone:
    job_id: str
    stems: dict[str, str]
    duration_seconds: float
    processing_time: float
    sample_rate: int


@dataclass(frozen=True)
class TaskFailed:
    job_id: str
    code: str
    message: str


ServerToWorker = SeparateTask | Reprioritize | CancelTask | Shutdown
WorkerToServer = WorkerReady | TaskProgress | TaskChunk | TaskDone | TaskFailed
