"""Progress events: what a live job's subscribers are told, and how often.

Every job someone watches gets at least one progress message a second, with a fresh
ETA, even while a long segment computes; queued jobs are told when their place moves.
"""

from __future__ import annotations

import asyncio
from typing import Final

from stemcast.jobs.eta import EtaEstimator, rounded, rounded_range, seconds_of
from stemcast.jobs.events import EventBus, JobProgress
from stemcast.jobs.live import LiveJobs
from stemcast_protocol import Stage

TICK_SECONDS: Final = 1.0


class ProgressReporter:
    def __init__(self, live: LiveJobs, bus: EventBus, eta: EtaEstimator, workers: int) -> None:
        """`workers`: how many jobs run at once (the queue's ETA divides by it)."""
        self._live = live
        self._bus = bus
        self._eta = eta
        self._workers = workers

    def event(self, job_id: str) -> JobProgress:
        live = self._live
        running = live.running.get(job_id)
        if running is not None:
            estimate = self._eta.running_estimate(running)
            return JobProgress(job_id, running.stage, round(running.progress, 4),
                               rounded(seconds_of(estimate)), 0,
                               rounded_range(estimate))
        job = live.queued.find(job_id)
        if job is not None:
            estimate = self._eta.queued_estimate(job, live.running.values(), live.queued,
                                                 self._workers)
            return JobProgress(job_id, Stage.QUEUED, 0.0, rounded(seconds_of(estimate)),
                               live.position(job_id), rounded_range(estimate))
        return JobProgress(job_id, Stage.QUEUED, 0.0, None, None)

    def publish(self, job_id: str) -> None:
        self._bus.publish(self.event(job_id))

    def publish_queue_positions(self) -> None:
        for job in self._live.queued:
            if self._bus.subscriber_count(job.id):
                self.publish(job.id)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            for job_id in list(self._live.ids()):
                if self._bus.subscriber_count(job_id):
                    self.publish(job_id)
