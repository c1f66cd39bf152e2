"""One event stream per job; every delivery (WebSocket, callback, CLI) subscribes to it."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from stemcast_protocol import Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    stage: Stage  # a str enum: equal to its wire spelling
    progress: float
    eta_seconds: float | None
    queue_position: int | None
    # (low, high) seconds while the estimate is uncertain (early, or an unsteady rate)
    eta_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class JobChunk:
    """Frames [start_frame, start_frame + frames) of every stem are final, on disk in
    stems_dir (NAME.s16.partial while the job runs, NAME.wav once it is complete)."""

    job_id: str
    start_frame: int
    frames: int
    stems_dir: str
    sources: tuple[str, ...]
    sample_rate: int
    channels: int
    subtype: str = "PCM_16"  # the master's samples: PCM_16 or FLOAT


@dataclass(frozen=True)
class JobCompleted:
    job_id: str
    stems: dict[str, str]  # the master stems: model's sources -> WAV path
    model: str
    sample_rate: int
    cached: bool
    processing_time: float | None
    subtype: str = "PCM_16"
    output_dir: str = ""


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    code: str
    message: str


JobEvent = JobProgress | JobChunk | JobCompleted | JobFailed


class Subscriber(Protocol):
    def deliver(self, event: JobEvent) -> None:
        """Must not block: hand the event to the subscriber's own queue and return."""


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)

    def subscribe(self, job_id: str, subscriber: Subscriber) -> None:
        if subscriber not in self._subscribers[job_id]:
            self._subscribers[job_id].append(subscriber)

    def unsubscribe(self, job_id: str, subscriber: Subscriber) -> None:
        subs = self._subscribers.get(job_id)
        if subs and subscriber in subs:
            subs.remove(subscriber)
            if not subs:
                del self._subscribers[job_id]

    def subscriber_count(self, job_id: str) -> int:
        return len(self._subscribers.get(job_id, ()))

    def publish(self, event: JobEvent) -> None:
        terminal = isinstance(event, JobCompleted | JobFailed)
        subs = self._subscribers.pop(event.job_id, []) if terminal else \
            list(self._subscribers.get(event.job_id, ()))
        for subscriber in subs:
            try:
                subscriber.deliver(event)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("subscriber %r failed on %s", subscriber, type(event).__name__)
