"""The priority scheduler: owns the workers, orders the queue, does identical work once.

Queue order is priority (high, normal, low), then FIFO (the job's seq). The queue lives
in SQLite; this class keeps the live jobs in memory for ordering and progress, and
writes every state transition through JobStore, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field

from stemcast.config import Settings
from stemcast.db.busy import DatabaseBusyError
from stemcast.jobs.audio_changes import AUDIO_CHANGED, AudioChanges
from stemcast.jobs.catalog import ModelCatalog
from stemcast.jobs.eta import EtaEstimator, RunningJob, rounded
from stemcast.jobs.events import (
    EventBus,
    JobChunk,
    JobCompleted,
    JobFailed,
    JobProgress,
    Subscriber,
)
from stemcast.jobs.lock_recovery import LockRecovery
from stemcast.jobs.models import PRIORITY_RANK, Job, JobState, SeparationOptions, cache_key
from stemcast.jobs.observer import JobObserver
from stemcast.jobs.queue import JobQueue
from stemcast.jobs.status import queue_rows, queue_snapshot
from stemcast.jobs.store import JobStore
from stemcast.jobs.worker_pool import WorkerPool
from stemcast.separation.worker_messages import (
    SeparateTask,
    TaskChunk,
    TaskDone,
    TaskFailed,
    TaskOptions,
    TaskProgress,
    WorkerConfig,
    WorkerToServer,
)
from stemcast.storage.job_folder import JobFolder
from stemcast_protocol import Priority, Stage

log = logging.getLogger(__name__)

# A job is tried again once after a worker crash, then failed: a track that kills the
# worker twice would otherwise crash-loop it forever.
MAX_ATTEMPTS = 2
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class StemRequest:
    pcm_hash: str
    input_path: str
    track_id: str | None
    duration_seconds: float | None
    priority: Priority
    model: str  # resolved once by the request pipeline (requests/pipeline.py)
    options: SeparationOptions = field(default_factory=SeparationOptions)


@dataclass(frozen=True)
class Submission:
    job_id: str
    cached: bool  # the stems existed: JobCompleted was delivered already
    joined: bool  # another client had asked for the same work: now shared


@dataclass(frozen=True)
class _WorkerLost:
    job_id: str


class Scheduler:
    def __init__(self, store: JobStore, settings: Settings, bus: EventBus) -> None:
        self.store = store
        self.settings = settings
        self.bus = bus
        self.pool = WorkerPool(
            settings.max_concurrent_jobs,
            WorkerConfig(
                model=settings.model,
                model_repo=settings.model_repo,
                device=settings.device,
                fetch_timeout=settings.model_fetch_timeout,
                precision=settings.precision,
                batch_size=settings.batch_size,
                numba_cache=str(settings.numba_cache("worker")),
                numba_cache_per_worker=settings.numba_cache_dir is None,
            ),
            on_task_message=self._on_worker_message,
            on_worker_lost=lambda job_id: self._inbox.put_nowait(_WorkerLost(job_id)),
            on_change=self._kick,
        )
        self._queued = JobQueue()
        self._running: dict[str, RunningJob] = {}
        self._submit_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._inbox: asyncio.Queue[WorkerToServer | _WorkerLost] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.catalog = ModelCatalog(self.pool, settings)
        self.eta = EtaEstimator()
        self.observer = JobObserver()  # metrics replace it (stemcast.app.metrics)
        # Who asked for each live job: asked again if the worker finds other audio.
        self.audio_changes = AudioChanges(self)
        # Jobs whose transition the locked database refused: queued again once it can.
        self.recovery = LockRecovery(store, on_requeued=self._requeued_after_lock,
                                     on_settled=self._settled_after_lock)

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        requeued = await self.store.requeue_interrupted()
        if requeued:
            log.info("requeued %d job(s) that were running when the server stopped", requeued)
        self._queued = JobQueue(
            [j for j in await self.store.live_jobs() if j.state == JobState.QUEUED]
        )
        if self._queued:
            log.info("%d job(s) waiting in the queue from before the restart", len(self._queued))
        self.pool.start()
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="scheduler-dispatch"),
            asyncio.create_task(self._inbox_loop(), name="scheduler-inbox"),
            asyncio.create_task(self._tick_loop(), name="scheduler-tick"),
            asyncio.create_task(self.recovery.run(), name="scheduler-lock-recovery"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.pool.stop()

    # ---- requests ----------------------------------------------------------------------

    async def submit(self, request: StemRequest, subscriber: Subscriber) -> Submission:
        """Answer from the cache, join the live job for the same work, or queue a new one."""
        model = request.model
        options = self.catalog.effective_options(request.options, model)
        key = cache_key(request.pcm_hash, model, options)
        # One submission at a time: two clients asking at once must end in one job.
        async with self._submit_lock:
            done = await self.store.completed_for_key(key)
            if done is not None:
                if await asyncio.to_thread(_all_exist, done.stems.values()):
                    await self.store.touch(done.id)  # most recently used: kept by the pruner
                    self.observer.cache_lookup("hit")
                    subscriber.deliver(self._completed_event(done, cached=True))
                    return Submission(done.id, cached=True, joined=False)
                log.warning("stems of job %s are gone from disk; separating again", done.id)
                await self.store.forget_completed(done.id)
            live = self._live_job_for_key(key)
            if live is not None:
                self.bus.subscribe(live.id, subscriber)
                self.audio_changes.asked(live.id, subscriber, request)
                if PRIORITY_RANK[request.priority] < PRIORITY_RANK[live.priority]:
                    await self._raise_priority(live, request.priority)
                subscriber.deliver(self._progress_event(live.id))
                self.observer.cache_lookup("joined")
                return Submission(live.id, cached=False, joined=True)
            job = await self.store.create(
                key=key,
                pcm_hash=request.pcm_hash,
                track_id=request.track_id,
                input_path=request.input_path,
                model=model,
                options=options,
                priority=request.priority,
                output_root=str(self.settings.jobs_dir),
                duration_seconds=request.duration_seconds,
            )
            self._queued.push(job)
            self.observer.cache_lookup("miss")
            self.bus.subscribe(job.id, subscriber)
            self.audio_changes.asked(job.id, subscriber, request)
            subscriber.deliver(self._progress_event(job.id))
            self._kick()
            return Submission(job.id, cached=False, joined=False)

    def unsubscribe(self, job_id: str, subscriber: Subscriber) -> None:
        self.bus.unsubscribe(job_id, subscriber)
        for moved_to in self.audio_changes.forget_subscriber(subscriber):
            self.bus.unsubscribe(moved_to, subscriber)

    async def cancel(self, job_id: str, reason: str = "the job was cancelled") -> bool:
        """Stop a queued or running job; its remaining subscribers get CANCELLED."""
        queued = self._queued.remove(job_id)
        held = self.recovery.release(job_id)
        if queued is None and held is None and job_id not in self._running:
            return False
        try:
            await self.store.mark_cancelled(job_id, reason)
        except DatabaseBusyError:
            # Not cancelled after all (the client is told BUSY): the job stays as it was.
            if queued is not None:
                self._queued.push(queued)
            if held is not None:
                self.recovery.hold(held)
            raise
        self.audio_changes.finished(job_id)
        if queued is None:
            self.pool.cancel_job(job_id)
            self._running.pop(job_id, None)
        log.info("job %s cancelled", job_id)
        self.bus.publish(JobFailed(job_id, "CANCELLED", reason))
        self._publish_queue_positions()
        self._kick()
        return True

    async def forget(self, job_id: str) -> None:
        """Remove a finished job's files; a later request for the same audio separates anew."""
        job = await self.store.get(job_id)
        if job is None or job.state.is_live:
            return
        await asyncio.to_thread(shutil.rmtree, job.output_dir, True)
        if job.state == JobState.COMPLETED:
            await self.store.forget_completed(job_id)

    async def _raise_priority(self, job: Job, priority: Priority) -> None:
        await self.store.set_priority(job.id, priority)
        if self._queued.find(job.id) is not None:
            self._queued.reprioritize(job.id, priority)
        else:
            job.priority = priority  # already running: the worker reorders its jobs
            self.pool.reprioritize(job.id, PRIORITY_RANK[priority])
        self._publish_queue_positions()

    # ---- dispatch --------------------------------------------------------------------

    def _kick(self) -> None:
        self._wake.set()

    def _live_job_for_key(self, key: str) -> Job | None:
        queued = self._queued.find_by_key(key)
        if queued is not None:
            return queued
        for running in self._running.values():
            if running.job.cache_key == key:
                return running.job
        return self.recovery.find_by_key(key)

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dispatched = False
            while self._queued:
                head = next(iter(self._queued))
                rank = PRIORITY_RANK[head.priority]
                # An idle worker, or one busy only with less urgent jobs: it switches to
                # this one at its next segment boundary (the others resume after).
                worker = self.pool.idle_worker() or self.pool.preemptable_worker(rank)
                if worker is None:
                    break
                job = self._queued.pop()
                try:
                    await self.store.mark_running(job.id)
                except DatabaseBusyError as exc:
                    log.error("job %s not started: %s", job.id, exc)
                    self._queued.push(job)  # still queued in the database too
                    asyncio.get_running_loop().call_later(TICK_SECONDS, self._kick)
                    break
                job.state = JobState.RUNNING
                self._running[job.id] = RunningJob(job, started=time.monotonic())
                self.pool.assign(
                    worker,
                    SeparateTask(job.id, job.input_path, job.output_dir,
                                 TaskOptions(model=job.model, subtype=job.options.subtype,
                                             shifts=job.options.shifts),
                                 priority_rank=rank, seq=job.seq, seed=job.cache_key,
                                 pcm_hash=job.pcm_hash),
                )
                log.info("job %s started on worker %s (priority %s)", job.id, worker.index,
                         job.priority.value)
                self.observer.job_started(job.priority, job.created_at)
                self.bus.publish(self._progress_event(job.id))
                dispatched = True
            if dispatched:
                self._publish_queue_positions()

    # ---- worker messages ---------------------------------------------------------------

    def _on_worker_message(self, message: WorkerToServer) -> None:
        self._inbox.put_nowait(message)

    async def _inbox_loop(self) -> None:
        # One consumer keeps each job's messages in the order the worker sent them.
        while True:
            message = await self._inbox.get()
            try:
                await self._handle(message)
            except DatabaseBusyError as exc:
                self._hold_for_recovery(message, exc)
            except Exception:
                log.exception("scheduler failed to handle %r", message)

    async def _handle(self, message: WorkerToServer | _WorkerLost) -> None:
        if isinstance(message, TaskProgress):
            running = self._running.get(message.job_id)
            if running is None:
                return
            stage = message.stage
            if stage != running.stage:
                running.enter(stage, time.monotonic())
                await self.store.set_progress(message.job_id, stage.value, running.progress)
            running.advance(message.fraction, time.monotonic())
            self.bus.publish(self._progress_event(message.job_id))
        elif isinstance(message, TaskChunk):
            running = self._running.get(message.job_id)
            if running is None:
                return
            model = self.pool.model.find(running.job.model)
            assert model is not None  # the worker separates only models it described
            self.bus.publish(JobChunk(
                job_id=message.job_id, start_frame=message.start_frame, frames=message.frames,
                stems_dir=str(JobFolder.of(running.job.output_dir).stems_dir),
                sources=model.sources, sample_rate=model.sample_rate, channels=model.channels,
                subtype=running.job.options.subtype))
        elif isinstance(message, TaskDone | TaskFailed) and message.job_id not in self._running:
            return  # a cancelled job's last word: it is no longer ours to finish
        elif isinstance(message, TaskDone):
            # The job stays findable as live until the database says it is done, so a
            # request arriving in between joins it instead of starting a second job.
            await self.store.mark_completed(
                message.job_id, message.stems, message.processing_time, message.duration_seconds,
                message.sample_rate)
            finished = self._running[message.job_id]
            writing = (time.monotonic() - finished.writing_started
                       if finished.writing_started is not None else None)
            self.eta.learn(finished.job.model, message.processing_time,
                           message.duration_seconds, writing)
            job = await self.store.get(message.job_id)
            self._running.pop(message.job_id, None)
            self.audio_changes.finished(message.job_id)
            log.info("job %s completed in %.1f s", message.job_id, message.processing_time)
            if job is not None:
                self.observer.job_finished(JobState.COMPLETED, job.priority,
                                           message.processing_time, message.duration_seconds)
                self.bus.publish(self._completed_event(job, cached=False))
            self._kick()
        elif isinstance(message, TaskFailed) and message.code == AUDIO_CHANGED:
            await self.audio_changes.job_refused(message.job_id, message.message)
            self._running.pop(message.job_id, None)
            self._kick()
        elif isinstance(message, TaskFailed):
            await self.store.mark_failed(message.job_id, message.code, message.message)
            self.audio_changes.finished(message.job_id)
            failed = self._running.pop(message.job_id, None)
            log.warning("job %s failed: %s: %s", message.job_id, message.code, message.message)
            if failed is not None:
                self.observer.job_finished(JobState.FAILED, failed.job.priority)
            self.bus.publish(JobFailed(message.job_id, message.code, message.message))
            self._kick()
        elif isinstance(message, _WorkerLost):
            await self._handle_worker_lost(message.job_id)

    def _hold_for_recovery(self, message: WorkerToServer | _WorkerLost,
                           exc: DatabaseBusyError) -> None:
        """A transition the database refused: the job leaves the running set (failed in
        memory) and is queued again from the database once it takes writes."""
        job_id = getattr(message, "job_id", None)
        running = self._running.pop(job_id, None) if isinstance(job_id, str) else None
        if running is None:
            log.error("scheduler could not record %r: %s", message, exc)
            return
        log.error("job %s: %s; it runs again once the database can be written",
                  running.job.id, exc)
        self.recovery.hold(running.job)
        self.bus.publish(self._progress_event(running.job.id))
        self._kick()

    def _requeued_after_lock(self, job: Job) -> None:
        self._queued.push(job)
        self.bus.publish(self._progress_event(job.id))
        self._publish_queue_positions()
        self._kick()

    def _settled_after_lock(self, job: Job) -> None:
        if job.state == JobState.COMPLETED:
            self.bus.publish(self._completed_event(job, cached=False))
        else:
            self.bus.publish(JobFailed(job.id, job.error_code or "CANCELLED",
                                       job.error_message or "the job was cancelled"))

    async def _handle_worker_lost(self, job_id: str) -> None:
        job = await self.store.get(job_id)
        if job is None or job_id not in self._running:
            return
        attempts = job.attempts + 1
        if attempts < MAX_ATTEMPTS:
            log.warning("retrying job %s after its worker crashed", job_id)
            await self.store.requeue(job_id, count_attempt=True)
            job = await self.store.get(job_id)
            assert job is not None
            del self._running[job_id]
            self._queued.push(job)
            self.bus.publish(self._progress_event(job_id))
        else:
            message = (
                f"the separation worker crashed {attempts} times on this job "
                f"(input '{job.input_path}'); the file may be damaged or too large for this "
                "machine's memory. Check the server log, try a shorter file or a machine "
                "with more memory."
            )
            await self.store.mark_failed(job_id, "WORKER_CRASHED", message, count_attempt=True)
            del self._running[job_id]
            self.audio_changes.finished(job_id)
            self.bus.publish(JobFailed(job_id, "WORKER_CRASHED", message))
        self._kick()

    # ---- progress ----------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        # At least one progress message a second for every job someone is watching,
        # with a fresh ETA, even while a long segment computes.
        while True:
            await asyncio.sleep(TICK_SECONDS)
            for job_id in [*self._running, *(j.id for j in self._queued), *self.recovery.jobs]:
                if self.bus.subscriber_count(job_id):
                    self.bus.publish(self._progress_event(job_id))

    def _publish_queue_positions(self) -> None:
        for job in self._queued:
            if self.bus.subscriber_count(job.id):
                self.bus.publish(self._progress_event(job.id))

    def queue_position(self, job_id: str) -> int | None:
        """0 while running; 1 for the next job to start, and so on; None otherwise."""
        if job_id in self._running:
            return 0
        return self._queued.position(job_id)

    def _progress_event(self, job_id: str) -> JobProgress:
        running = self._running.get(job_id)
        if running is not None:
            return JobProgress(job_id, running.stage, round(running.progress, 4),
                               rounded(self.eta.running(running)), 0)
        job = self._queued.find(job_id)
        if job is not None:
            eta = self.eta.queued(job, self._running.values(), self._queued, self.pool.size)
            return JobProgress(job_id, Stage.QUEUED, 0.0, rounded(eta),
                               self.queue_position(job_id))
        return JobProgress(job_id, Stage.QUEUED, 0.0, None, None)

    def _completed_event(self, job: Job, *, cached: bool) -> JobCompleted:
        return completed_event(job, cached=cached)

    # ---- figures for /health and /queue (shaped in jobs/status.py) ---------------------

    def snapshot(self) -> dict[str, object]:
        return {**queue_snapshot(len(self._queued), len(self._running), self.pool, self.eta),
                "waitingForDatabase": len(self.recovery.jobs)}

    def queue_listing(self) -> list[dict[str, object]]:
        return queue_rows(self._running.values(), self._queued)


def completed_event(job: Job, *, cached: bool) -> JobCompleted:
    """A completed job as its subscribers see it; everything comes from its record."""
    return JobCompleted(
        job_id=job.id,
        stems=job.stems,
        model=job.model,
        sample_rate=job.sample_rate or 44100,
        cached=cached,
        processing_time=job.processing_time,
        subtype=job.options.subtype,
        output_dir=job.output_dir,
    )


def _all_exist(paths: object) -> bool:
    items = list(paths)  # type: ignore[call-overload]
    return bool(items) and all(os.path.isfile(p) for p in items)
