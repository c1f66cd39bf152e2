"""Hooks the scheduler calls at a few points of a job's life (metrics listen here).

The base class does nothing, so the scheduler needs no metrics to run.
"""

from __future__ import annotations

from stemcast.jobs.models import JobState
from stemcast_protocol import Priority


class JobObserver:
    def cache_lookup(self, result: str) -> None:
        """A request was answered: "hit" (cached stems), "joined" (a live job), "miss"."""

    def job_started(self, priority: Priority, created_at: str) -> None:
        """A job left the queue for a worker (created_at: when it was submitted)."""

    def job_finished(self, state: JobState, priority: Priority,
                     processing_time: float | None = None,
                     duration: float | None = None) -> None:
        """A job completed or failed (processing time and audio duration when completed)."""
