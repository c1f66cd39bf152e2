"""Messages between the server and a separation worker process (pickled over a pipe).

Workers talk to the scheduler only through these, never through shared memory, so a
worker on another machine (the Redis scale-out) needs a new transport, not new logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WorkerConfig:
    model: str
    model_repo: Path | None
    device: str
    fetch_timeout: float
    torch_threads: int | None = None


# server -> worker


@dataclass(frozen=True)
class SeparateTask:
    job_id: str
    input_path: str
    output_dir: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Shutdown:
    pass


# worker -> server


@dataclass(frozen=True)
class WorkerReady:
    model: str
    sources: tuple[str, ...]
    sample_rate: int
    device: str
    pid: int


@dataclass(frozen=True)
class WorkerModelUnavailable:
    model: str
    message: str
    pid: int


@dataclass(frozen=True)
class TaskProgress:
    job_id: str
    stage: str
    fraction: float  # of this stage, 0..1


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


ServerToWorker = SeparateTask | Shutdown
WorkerToServer = WorkerReady | WorkerModelUnavailable | TaskProgress | TaskDone | TaskFailed
