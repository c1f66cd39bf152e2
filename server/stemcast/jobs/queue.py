"""The in-memory order of queued jobs: priority first (high, normal, low), then FIFO."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from stemcast.jobs.models import Job
from stemcast_protocol import Priority


class JobQueue:
    def __init__(self, jobs: list[Job] | None = None) -> None:
        self._jobs: list[Job] = sorted(jobs or [], key=lambda j: j.queue_order)

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs))

    def push(self, job: Job) -> None:
        keys = [j.queue_order for j in self._jobs]
        self._jobs.insert(bisect.bisect_right(keys, job.queue_order), job)

    def pop(self) -> Job:
        return self._jobs.pop(0)

    def remove(self, job_id: str) -> Job | None:
        for index, job in enumerate(self._jobs):
            if job.id == job_id:
                return self._jobs.pop(index)
        return None

    def find(self, job_id: str) -> Job | None:
        return next((j for j in self._jobs if j.id == job_id), None)

    def find_by_key(self, key: str) -> Job | None:
        return next((j for j in self._jobs if j.cache_key == key), None)

    def position(self, job_id: str) -> int | None:
        """1 for the next job to start, 2 for the one after, ...; None if not queued."""
        for index, job in enumerate(self._jobs):
            if job.id == job_id:
                return index + 1
        return None

    def reprioritize(self, job_id: str, priority: Priority) -> None:
        job = self.remove(job_id)
        if job is not None:
            job.priority = priority
            self.push(job)
