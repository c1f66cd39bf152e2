"""Jobs whose state transition could not be written because the database stayed locked.

When a transition (started, completed, failed, retried) still cannot be written after
the retries of stemcast.db.busy, the scheduler drops the job from what it runs: in
memory it has failed. Its subscribers stay subscribed, and a request for the same work
joins it. Here it waits until the database takes writes again; then its row is queued
again (still `queued`/`running` there, as nothing else was written) and it runs anew,
so no job is left that no one will finish. A worker's result that could not be
recorded is not trusted: the job's folder is rewritten from scratch by the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from stemcast.db.busy import DatabaseBusyError
from stemcast.jobs.models import Job, JobState
from stemcast.jobs.store import JobStore

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_S: Final = 1.0


class LockRecovery:
    def __init__(self, store: JobStore, *, on_requeued: Callable[[Job], None],
                 on_settled: Callable[[Job], None]) -> None:
        """on_requeued: the job is queued again in the database (put it in the queue);
        on_settled: its row says it finished after all (tell its subscribers)."""
        self._store = store
        self._on_requeued = on_requeued
        self._on_settled = on_settled
        self.jobs: dict[str, Job] = {}

    def hold(self, job: Job) -> None:
        job.state = JobState.QUEUED
        self.jobs[job.id] = job

    def release(self, job_id: str) -> Job | None:
        return self.jobs.pop(job_id, None)

    def find_by_key(self, key: str) -> Job | None:
        return next((job for job in self.jobs.values() if job.cache_key == key), None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(RECOVERY_INTERVAL_S)
            for job_id in list(self.jobs):
                try:
                    await self._store.requeue_live(job_id)
                    fresh = await self._store.get(job_id)
                except DatabaseBusyError:
                    break  # still locked: try again later
                except Exception:
                    log.exception("could not queue job %s again after a database lock", job_id)
                    continue
                if self.jobs.pop(job_id, None) is None or fresh is None:
                    continue  # cancelled meanwhile, or gone
                if fresh.state == JobState.QUEUED:
                    log.info("job %s queued again: the database takes writes again", job_id)
                    self._on_requeued(fresh)
                else:
                    self._on_settled(fresh)
