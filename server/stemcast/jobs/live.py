"""The jobs not finished yet, by where they stand: waiting, running, or held back.

One value shared by the scheduler (which moves jobs between the three), the progress
reporter (which describes them) and the worker results (which finish them), so no part
keeps its own copy of who is where.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from stemcast.jobs.eta import RunningJob
from stemcast.jobs.lock_recovery import LockRecovery
from stemcast.jobs.models import Job
from stemcast.jobs.queue import JobQueue


@dataclass
class LiveJobs:
    recovery: LockRecovery  # held: the locked database refused their last transition
    queued: JobQueue = field(default_factory=JobQueue)
    running: dict[str, RunningJob] = field(default_factory=dict)

    def find_by_key(self, key: str) -> Job | None:
        """The live job doing the work `key` names, wherever it stands."""
        queued = self.queued.find_by_key(key)
        if queued is not None:
            return queued
        for running in self.running.values():
            if running.job.cache_key == key:
                return running.job
        return self.recovery.find_by_key(key)

    def position(self, job_id: str) -> int | None:
        """0 while running; 1 for the next job to start, and so on; None otherwise."""
        if job_id in self.running:
            return 0
        return self.queued.position(job_id)

    def ids(self) -> Iterator[str]:
        yield from self.running
        yield from (job.id for job in self.queued)
        yield from self.recovery.jobs
