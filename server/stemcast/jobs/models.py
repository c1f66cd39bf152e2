"""Job records, their states, and the cache key that makes identical work one job."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from stemcast_protocol import OutputRequest, Priority

PRIORITY_RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}

# Bumped when a change makes stored stems differ from what the code would now write,
# so old cache entries are not served for the new code.
CACHE_FORMAT_VERSION = 1


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_live(self) -> bool:
        return self in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True)
class SeparationOptions:
    """Everything besides the audio and the model that changes the stems written."""

    format: str = "wav"
    subtype: str = "PCM_16"
    shifts: int = 0
    overlap: float = 0.25
    precision: str = "fp32"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_output(cls, output: OutputRequest) -> SeparationOptions:
        """The master a request's output is made from: float when it wants > 16 bits."""
        return cls(subtype="FLOAT" if output.wants_float_master else "PCM_16")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeparationOptions:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def cache_key(pcm_hash: str, model: str, options: SeparationOptions) -> str:
    """Same decoded audio + same model + same options = same stems = one job."""
    payload = json.dumps(
        {"v": CACHE_FORMAT_VERSION, "pcm": pcm_hash, "model": model, "options": options.to_dict()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Job:
    id: str
    seq: int
    cache_key: str
    pcm_hash: str
    track_id: str | None
    input_path: str
    model: str
    options: SeparationOptions
    priority: Priority
    state: JobState
    stage: str
    progress: float
    attempts: int
    output_dir: str
    created_at: str
    error_code: str | None = None
    error_message: str | None = None
    stems: dict[str, str] = field(default_factory=dict)
    duration_seconds: float | None = None
    processing_time: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    sample_rate: int | None = None

    @property
    def queue_order(self) -> tuple[int, int]:
        return (PRIORITY_RANK[self.priority], self.seq)
