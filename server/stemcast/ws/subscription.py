"""One client request watching one job: turns job events into that client's messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stemcast.jobs.events import JobCompleted, JobEvent, JobFailed, JobProgress
from stemcast_protocol import (
    progress_message,
    stems_failed_message,
    stems_ready_message,
)


@dataclass(eq=False)
class RequestSubscription:
    """Delivers to a session's outbox; `essential` messages are never dropped."""

    request_id: str | int | None
    track_id: str
    push: Callable[[dict[str, Any], bool], None]
    on_finished: Callable[[RequestSubscription], None]
    job_id: str | None = None
    finished: bool = field(default=False)

    def deliver(self, event: JobEvent) -> None:
        if self.finished:
            return
        if isinstance(event, JobProgress):
            self.push(
                progress_message(
                    request_id=self.request_id,
                    track_id=self.track_id,
                    job_id=event.job_id,
                    stage=event.stage,
                    progress=event.progress,
                    eta_seconds=event.eta_seconds,
                    queue_position=event.queue_position,
                ),
                False,
            )
        elif isinstance(event, JobCompleted):
            self.finished = True
            self.push(
                stems_ready_message(
                    request_id=self.request_id,
                    track_id=self.track_id,
                    job_id=event.job_id,
                    stems=event.stems,
                    model=event.model,
                    sample_rate=event.sample_rate,
                    cached=event.cached,
                    processing_time=event.processing_time,
                ),
                True,
            )
            self.on_finished(self)
        elif isinstance(event, JobFailed):
            self.fail(event.code, event.message, event.job_id)

    def fail(self, code: str, message: str, job_id: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.push(
            stems_failed_message(
                request_id=self.request_id,
                track_id=self.track_id,
                job_id=job_id or self.job_id,
                code=code,
                message=message,
            ),
            True,
        )
        self.on_finished(self)
