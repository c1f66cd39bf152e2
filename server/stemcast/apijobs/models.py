"""An HTTP API job: one client's request for a track, with its delivery settings.

Several API jobs (and WebSocket requests) can share one separation job: the API job
says who is told what and how; the separation job does the work once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from stemcast_protocol import OutputRequest, Priority


class ApiJobStatus(str, Enum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_live(self) -> bool:
        return self in (ApiJobStatus.QUEUED, ApiJobStatus.PROCESSING)


class DeliveryMode(str, Enum):
    PATH = "path"  # callbacks carry absolute paths (server and client share a disk)
    CALLBACK = "callback"  # callbacks carry each stem as base64 WAV
    POLL = "poll"  # callbacks (if any) carry download URLs; the client fetches


@dataclass(frozen=True)
class AnalysisOptions:
    """`options` of POST /jobs: the seeds' stages, plus drums, the model and the output."""

    stems: bool = True
    basic_features: bool = False
    characteristics: bool = False
    drums: bool = False  # transcribe the drum stem (seed 002); implies stems
    model: str | None = None  # None: the server's default model
    output: OutputRequest = field(default_factory=OutputRequest)

    def to_dict(self) -> dict[str, Any]:
        return {"stems": self.stems, "basic_features": self.basic_features,
                "characteristics": self.characteristics, "drums": self.drums,
                "model": self.model, "output": self.output.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisOptions:
        output = data.get("output")
        return cls(stems=bool(data.get("stems", True)),
                   basic_features=bool(data.get("basic_features", False)),
                   characteristics=bool(data.get("characteristics", False)),
                   drums=bool(data.get("drums", False)), model=data.get("model"),
                   output=OutputRequest.from_dict(output) if output else OutputRequest())


@dataclass
class ApiJob:
    id: str
    track_id: str | None
    track_hash: str | None
    separation_job_id: str | None
    options: AnalysisOptions
    priority: Priority
    callback_url: str | None
    delivery_mode: DeliveryMode
    status: ApiJobStatus
    stage: str
    progress: float
    created_at: str
    updated_at: str
    stages_completed: list[str] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    processing_time: float | None = None

    def to_api(self) -> dict[str, Any]:
        """GET /jobs/{id}, in the seeds' snake_case."""
        return {
            "job_id": self.id,
            "status": self.status.value,
            "stage": self.stage,
            "progress": self.progress,
            "stages_completed": self.stages_completed,
            # A string, as seed 000's app server stores it; the code beside it.
            "error": (self.error_message or self.error_code) if self.error_code else None,
            "error_code": self.error_code,
            "track_hash": self.track_hash,
            "track_id": self.track_id,
            "separation_job_id": self.separation_job_id,
            "options": self.options.to_dict(),
            "priority": self.priority.value,
            "callback_url": self.callback_url,
            "stem_delivery_mode": self.delivery_mode.value,
            "processing_time": self.processing_time,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
