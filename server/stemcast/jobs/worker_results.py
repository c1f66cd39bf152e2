"""What the workers report, turned into job transitions and subscriber events.

The scheduler's inbox hands every worker message here, in the order the worker sent
it: progress and streamed regions are published; a finished, failed or refused job is
written through the store before its subscribers hear of it; a lost worker's job is
tried again once, then failed. A transition the locked database refused parks the job
in LockRecovery until the database takes writes again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from stemcast.db.busy import DatabaseBusyError
from stemcast.jobs.audio_changes import AUDIO_CHANGED, AudioChanges
from stemcast.jobs.eta import EtaEstimator, RunningJob
from stemcast.jobs.eta_store import EtaTimingStore
from stemcast.jobs.events import EventBus, JobChunk, JobFailed
from stemcast.jobs.live import LiveJobs
from stemcast.jobs.models import Job, JobState
from stemcast.jobs.observer import JobObserver
from stemcast.jobs.progress import ProgressReporter
from stemcast.jobs.store import JobStore
from stemcast.jobs.submission import completed_event
from stemcast.jobs.worker_pool import ModelStatus
from stemcast.separation.worker_messages import (
    TaskChunk,
    TaskDone,
    TaskFailed,
    TaskProgress,
    WorkerToServer,
)
from stemcast.storage.job_folder import JobFolder

log = logging.getLogger(__name__)

# A job is tried again once after a worker crash, then failed: a track that kills the
# worker twice would otherwise crash-loop it forever.
MAX_ATTEMPTS: Final = 2


@dataclass(frozen=True)
class WorkerLost:
    """The worker running `job_id` died (the pool noticed)."""
    job_id: str


class WorkerResults:
    def __init__(self, store: JobStore, live: LiveJobs, bus: EventBus, *,
                 eta: EtaEstimator, eta_timings: EtaTimingStore, progress: ProgressReporter,
                 audio_changes: AudioChanges,
                 models: Callable[[], ModelStatus], kick: Callable[[], None]) -> None:
        """`models`: what the workers hold now (a stream's layout comes from it);
        `kick`: wakes the dispatcher (a worker is free, or a job is queued again)."""
        self._store = store
        self._live = live
        self._bus = bus
        self._eta = eta
        self._eta_timings = eta_timings
        self._progress = progress
        self._audio_changes = audio_changes
        self._models = models
        self._kick = kick
        self.observer = JobObserver()  # metrics replace it (stemcast.app.metrics)

    async def handle(self, message: WorkerToServer | WorkerLost) -> None:
        running = self._live.running
        if isinstance(message, TaskProgress):
            await self._progressed(message)
        elif isinstance(message, TaskChunk):
            self._streamed(message)
        elif isinstance(message, TaskDone | TaskFailed) and message.job_id not in running:
            return  # a cancelled job's last word: it is no longer ours to finish
        elif isinstance(message, TaskDone):
            await self._completed(message)
        elif isinstance(message, TaskFailed) and message.code == AUDIO_CHANGED:
            await self._audio_changes.job_refused(message.job_id, message.message)
            running.pop(message.job_id, None)
            self._kick()
        elif isinstance(message, TaskFailed):
            await self._failed(message)
        elif isinstance(message, WorkerLost):
            await self._worker_lost(message.job_id)

    async def _progressed(self, message: TaskProgress) -> None:
        running = self._live.running.get(message.job_id)
        if running is None:
            return
        if message.device:
            running.device = message.device  # the fleet node running it
        if message.stage != running.stage:
            running.enter(message.stage, time.monotonic())
            await self._store.set_progress(message.job_id, message.stage.value,
                                           running.progress)
        running.advance(message.fraction, time.monotonic())
        self._progress.publish(message.job_id)

    def _streamed(self, message: TaskChunk) -> None:
        running = self._live.running.get(message.job_id)
        if running is None:
            return
        model = self._models().find(running.job.model)
        assert model is not None  # the worker separates only models it described
        self._bus.publish(JobChunk(
            job_id=message.job_id, start_frame=message.start_frame, frames=message.frames,
            stems_dir=str(JobFolder.of(running.job.output_dir).stems_dir),
            sources=model.sources, sample_rate=model.sample_rate, channels=model.channels,
            subtype=running.job.options.subtype))

    async def _completed(self, message: TaskDone) -> None:
        # The job stays findable as live until the database says it is done, so a
        # request arriving in between joins it instead of starting a second job.
        await self._store.mark_completed(
            message.job_id, message.stems, message.processing_time, message.duration_seconds,
            message.sample_rate)
        finished = self._live.running[message.job_id]
        await self._learn_timing(finished, message.duration_seconds)
        job = await self._store.get(message.job_id)
        self._live.running.pop(message.job_id, None)
        self._audio_changes.finished(message.job_id)
        log.info("job %s completed in %.1f s", message.job_id, message.processing_time)
        if job is not None:
            self.observer.job_finished(JobState.COMPLETED, job.priority,
                                       message.processing_time, message.duration_seconds)
            self._bus.publish(completed_event(job, cached=False))
        self._kick()

    async def _learn_timing(self, finished: RunningJob, duration: float) -> None:
        """The job's stage times for later ETAs, kept in the database (a locked database
        loses this one timing, never the job)."""
        timing = finished.timing(time.monotonic(), duration)
        key = self._eta.learn(finished.job.model, timing, finished.device)
        if key is None:
            return
        try:
            await self._eta_timings.save(key, timing)
        except DatabaseBusyError as exc:
            log.warning("job %s: timing not kept for ETAs: %s", finished.job.id, exc)

    async def _failed(self, message: TaskFailed) -> None:
        await self._store.mark_failed(message.job_id, message.code, message.message)
        self._audio_changes.finished(message.job_id)
        failed = self._live.running.pop(message.job_id, None)
        log.warning("job %s failed: %s: %s", message.job_id, message.code, message.message)
        if failed is not None:
            self.observer.job_finished(JobState.FAILED, failed.job.priority)
        self._bus.publish(JobFailed(message.job_id, message.code, message.message))
        self._kick()

    async def _worker_lost(self, job_id: str) -> None:
        job = await self._store.get(job_id)
        if job is None or job_id not in self._live.running:
            return
        attempts = job.attempts + 1
        if attempts < MAX_ATTEMPTS:
            log.warning("retrying job %s after its worker crashed", job_id)
            await self._store.requeue(job_id, count_attempt=True)
            job = await self._store.get(job_id)
            assert job is not None
            del self._live.running[job_id]
            self._live.queued.push(job)
            self._progress.publish(job_id)
        else:
            message = (
                f"the separation worker crashed {attempts} times on this job "
                f"(input '{job.input_path}'); the file may be damaged or too large for this "
                "machine's memory. Check the server log, try a shorter file or a machine "
                "with more memory."
            )
            await self._store.mark_failed(job_id, "WORKER_CRASHED", message, count_attempt=True)
            del self._live.running[job_id]
            self._audio_changes.finished(job_id)
            self._bus.publish(JobFailed(job_id, "WORKER_CRASHED", message))
        self._kick()

    # ---- a locked database ---------------------------------------------------------------

    def hold_for_recovery(self, message: WorkerToServer | WorkerLost,
                          exc: DatabaseBusyError) -> None:
        """A transition the database refused: the job leaves the running set (failed in
        memory) and is queued again from the database once it takes writes."""
        job_id = getattr(message, "job_id", None)
        running = self._live.running.pop(job_id, None) if isinstance(job_id, str) else None
        if running is None:
            log.error("scheduler could not record %r: %s", message, exc)
            return
        log.error("job %s: %s; it runs again once the database can be written",
                  running.job.id, exc)
        self._live.recovery.hold(running.job)
        self._progress.publish(running.job.id)
        self._kick()

    def requeued_after_lock(self, job: Job) -> None:
        self._live.queued.push(job)
        self._progress.publish(job.id)
        self._progress.publish_queue_positions()
        self._kick()

    def settled_after_lock(self, job: Job) -> None:
        if job.state == JobState.COMPLETED:
            self._bus.publish(completed_event(job, cached=False))
        else:
            self._bus.publish(JobFailed(job.id, job.error_code or "CANCELLED",
                                        job.error_message or "the job was cancelled"))
