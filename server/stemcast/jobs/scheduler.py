"""The priority scheduler: owns the workers, orders the queue, does identical work once.

Queue order is priority (high, normal, low), then FIFO (the job's seq). The queue lives
in SQLite; this class keeps the live jobs in memory for ordering and progress
(jobs/live.py), and writes every state transition through JobStore, so a restart loses
nothing. What workers report is turned into transitions by jobs/worker_results.py;
progress messages are shaped by jobs/progress.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from stemcast.config import Settings
from stemcast.db.busy import DatabaseBusyError
from stemcast.jobs.audio_changes import AudioChanges
from stemcast.jobs.catalog import ModelCatalog
from stemcast.jobs.eta import EtaEstimator, RunningJob
from stemcast.jobs.eta_store import EtaTimingStore
from stemcast.jobs.events import EventBus, JobFailed, Subscriber
from stemcast.jobs.live import LiveJobs
from stemcast.jobs.lock_recovery import LockRecovery
from stemcast.jobs.models import PRIORITY_RANK, Job, JobState, cache_key
from stemcast.jobs.observer import JobObserver
from stemcast.jobs.progress import TICK_SECONDS, ProgressReporter
from stemcast.jobs.queue import JobQueue
from stemcast.jobs.status import queue_rows, queue_snapshot
from stemcast.jobs.store import JobStore
from stemcast.jobs.submission import StemRequest, Submission, completed_event, stems_on_disk
from stemcast.jobs.transport import TransportFactory, WorkerCallbacks, WorkerTransport
from stemcast.jobs.worker_pool import WorkerPool
from stemcast.jobs.worker_results import WorkerLost, WorkerResults
from stemcast.separation.worker_messages import (
    SeparateTask,
    TaskOptions,
    WorkerConfig,
    WorkerToServer,
)
from stemcast.storage.job_objects import remove_job_folder, restore_job_folder
from stemcast.tasks import cancel_and_wait
from stemcast_protocol import Priority

log = logging.getLogger(__name__)


def worker_config(settings: Settings) -> WorkerConfig:
    """What the server's own worker processes run (local pool, or `--workers` nodes)."""
    return WorkerConfig(
        model=settings.model,
        model_repo=settings.model_repo,
        device=settings.device,
        fetch_timeout=settings.model_fetch_timeout,
        precision=settings.precision,
        batch_size=settings.batch_size,
        numba_cache=str(settings.numba_cache("worker")),
        numba_cache_per_worker=settings.numba_cache_dir is None,
        log=settings.log,
    )


def local_pool(settings: Settings, callbacks: WorkerCallbacks) -> WorkerTransport:
    """The default transport: worker processes on this machine."""
    return WorkerPool(
        settings.max_concurrent_jobs,
        worker_config(settings),
        on_task_message=callbacks.on_task_message,
        on_worker_lost=callbacks.on_worker_lost,
        on_change=callbacks.on_change,
    )

class Scheduler:
    def __init__(self, store: JobStore, settings: Settings, bus: EventBus,
                 transport: TransportFactory | None = None) -> None:
        """`transport`: where the workers are; None: local worker processes."""
        self.store = store
        self.settings = settings
        self.bus = bus
        callbacks = WorkerCallbacks(
            on_task_message=self._on_worker_message,
            on_worker_lost=lambda job_id: self._inbox.put_nowait(WorkerLost(job_id)),
            on_change=self._kick)
        self.pool: WorkerTransport = (transport or partial(local_pool, settings))(callbacks)
        self._submit_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._inbox: asyncio.Queue[WorkerToServer | WorkerLost] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.catalog = ModelCatalog(self.pool, settings)
        self.eta = EtaEstimator(settings.device, node_devices=self.pool.node_devices)
        self.eta_timings = EtaTimingStore(store.connection, store.busy_timeout_s)
        # Jobs whose transition the locked database refused: queued again once it can.
        self.recovery = LockRecovery(
            store, on_requeued=lambda job: self._results.requeued_after_lock(job),
            on_settled=lambda job: self._results.settled_after_lock(job))
        self._live = LiveJobs(self.recovery)
        self.progress = ProgressReporter(self._live, bus, self.eta, self.pool.size)
        # Who asked for each live job: asked again if the worker finds other audio.
        self.audio_changes = AudioChanges(store, bus)
        self._results = WorkerResults(store, self._live, bus, eta=self.eta,
                                      eta_timings=self.eta_timings,
                                      progress=self.progress, audio_changes=self.audio_changes,
                                      models=lambda: self.pool.model, kick=self._kick)

    @property
    def observer(self) -> JobObserver:
        return self._results.observer

    @observer.setter
    def observer(self, observer: JobObserver) -> None:
        """Metrics replace the default observer (stemcast.app.metrics)."""
        self._results.observer = observer

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        for key, timing in await self.eta_timings.load():
            self.eta.restore(key, timing)  # the first job after a restart is known too
        requeued = await self.store.requeue_interrupted()
        if requeued:
            log.info("requeued %d job(s) that were running when the server stopped", requeued)
        self._live.queued = JobQueue(
            [j for j in await self.store.live_jobs() if j.state == JobState.QUEUED]
        )
        if self._live.queued:
            log.info("%d job(s) waiting in the queue from before the restart",
                     len(self._live.queued))
        self.pool.start()
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="scheduler-dispatch"),
            asyncio.create_task(self._inbox_loop(), name="scheduler-inbox"),
            asyncio.create_task(self.progress.run(), name="scheduler-tick"),
            asyncio.create_task(self.recovery.run(), name="scheduler-lock-recovery"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
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
                if await asyncio.to_thread(stems_on_disk, done.stems.values()) or (
                        await restore_job_folder(done.output_dir)
                        and await asyncio.to_thread(stems_on_disk, done.stems.values())):
                    await self.store.touch(done.id)  # most recently used: kept by the pruner
                    self.observer.cache_lookup("hit")
                    subscriber.deliver(completed_event(done, cached=True))
                    return Submission(done.id, cached=True, joined=False)
                log.warning("stems of job %s are gone from disk; separating again", done.id)
                await self.store.forget_completed(done.id)
            live = self._live.find_by_key(key)
            if live is not None:
                self.bus.subscribe(live.id, subscriber)
                self.audio_changes.asked(live.id, subscriber, request)
                if PRIORITY_RANK[request.priority] < PRIORITY_RANK[live.priority]:
                    await self._raise_priority(live, request.priority)
                subscriber.deliver(self.progress.event(live.id))
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
            self._live.queued.push(job)
            self.observer.cache_lookup("miss")
            self.bus.subscribe(job.id, subscriber)
            self.audio_changes.asked(job.id, subscriber, request)
            subscriber.deliver(self.progress.event(job.id))
            self._kick()
            return Submission(job.id, cached=False, joined=False)

    def unsubscribe(self, job_id: str, subscriber: Subscriber) -> None:
        self.bus.unsubscribe(job_id, subscriber)
        for moved_to in self.audio_changes.forget_subscriber(subscriber):
            self.bus.unsubscribe(moved_to, subscriber)

    async def cancel(self, job_id: str, reason: str = "the job was cancelled") -> bool:
        """Stop a queued or running job; its remaining subscribers get CANCELLED."""
        queued = self._live.queued.remove(job_id)
        held = self.recovery.release(job_id)
        if queued is None and held is None and job_id not in self._live.running:
            return False
        try:
            await self.store.mark_cancelled(job_id, reason)
        except DatabaseBusyError:
            # Not cancelled after all (the client is told BUSY): the job stays as it was.
            if queued is not None:
                self._live.queued.push(queued)
            if held is not None:
                self.recovery.hold(held)
            raise
        self.audio_changes.finished(job_id)
        if queued is None:
            self.pool.cancel_job(job_id)
            self._live.running.pop(job_id, None)
        log.info("job %s cancelled", job_id)
        self.bus.publish(JobFailed(job_id, "CANCELLED", reason))
        self.progress.publish_queue_positions()
        self._kick()
        return True

    async def forget(self, job_id: str) -> None:
        """Remove a finished job's files; a later request for the same audio separates anew."""
        job = await self.store.get(job_id)
        if job is None or job.state.is_live:
            return
        await remove_job_folder(job.output_dir)
        if job.state == JobState.COMPLETED:
            await self.store.forget_completed(job_id)

    async def _raise_priority(self, job: Job, priority: Priority) -> None:
        await self.store.set_priority(job.id, priority)
        if self._live.queued.find(job.id) is not None:
            self._live.queued.reprioritize(job.id, priority)
        else:
            job.priority = priority  # already running: the worker reorders its jobs
            self.pool.reprioritize(job.id, PRIORITY_RANK[priority])
        self.progress.publish_queue_positions()

    # ---- dispatch --------------------------------------------------------------------

    def _kick(self) -> None:
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dispatched = False
            while self._live.queued:
                queued = self._live.queued
                head = next(iter(queued))
                rank = PRIORITY_RANK[head.priority]
                # An idle worker, or one busy only with less urgent jobs: it switches to
                # this one at its next segment boundary (the others resume after).
                worker = self.pool.idle_worker() or self.pool.preemptable_worker(rank)
                if worker is None:
                    break
                job = queued.pop()
                try:
                    await self.store.mark_running(job.id)
                except DatabaseBusyError as exc:
                    log.error("job %s not started: %s", job.id, exc)
                    queued.push(job)  # still queued in the database too
                    asyncio.get_running_loop().call_later(TICK_SECONDS, self._kick)
                    break
                job.state = JobState.RUNNING
                self._live.running[job.id] = RunningJob(job, started=time.monotonic())
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
                self.progress.publish(job.id)
                dispatched = True
            if dispatched:
                self.progress.publish_queue_positions()

    # ---- worker messages ---------------------------------------------------------------

    def _on_worker_message(self, message: WorkerToServer) -> None:
        self._inbox.put_nowait(message)

    async def _inbox_loop(self) -> None:
        # One consumer keeps each job's messages in the order the worker sent them.
        while True:
            message = await self._inbox.get()
            try:
                await self._results.handle(message)
            except DatabaseBusyError as exc:
                self._results.hold_for_recovery(message, exc)
            except Exception:
                log.exception("scheduler failed to handle %r", message)

    # ---- figures for /health and /queue (shaped in jobs/status.py) ---------------------

    def snapshot(self) -> dict[str, object]:
        return {**queue_snapshot(len(self._live.queued), len(self._live.running), self.pool,
                                 self.eta),
                "waitingForDatabase": len(self.recovery.jobs)}

    def workers(self) -> list[dict[str, object]]:
        return self.pool.describe()

    def queue_listing(self) -> list[dict[str, object]]:
        return queue_rows(self._live.running.values(), self._live.queued)
