"""The server's side of the worker processes: start, feed, watch, restart.

Each worker is a spawned process with a duplex pipe. A reader thread per worker blocks
on the pipe and hands messages to the event loop; when the pipe breaks the process has
died, and the pool reports the crash so the scheduler can retry the job.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from stemcast.lifeline import started_from_main_thread
from stemcast.separation.worker import worker_main
from stemcast.separation.worker_messages import (
    CancelTask,
    ModelDescription,
    Reprioritize,
    SeparateTask,
    ServerToWorker,
    Shutdown,
    WorkerConfig,
    WorkerReady,
    WorkerToServer,
)
from stemcast_protocol import ModelState

if TYPE_CHECKING:
    from stemcast.jobs.transport import WorkerSlot

log = logging.getLogger(__name__)

# One job per priority level at most: a low job, preempted by a normal one, preempted
# by a high one.
MAX_JOBS_PER_WORKER = 3


class WorkerState(str, Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"  # running, but without a model: jobs fail fast
    DEAD = "dead"


@dataclass
class ModelStatus:
    """What the workers told us about their models; shown in /health and hello.

    The flat fields describe the default model (what a request naming no model gets):
    the configured one, or what `auto` chose. `models` lists every model on offer."""

    name: str
    requested: str = ""
    state: ModelState = ModelState.LOADING
    error: str | None = None
    choice: str = ""
    sources: tuple[str, ...] = ()
    sample_rate: int | None = None
    device: str | None = None
    channels: int | None = None
    precision: str | None = None
    segment_seconds: float | None = None
    models: tuple[ModelDescription, ...] = ()

    def find(self, name: str) -> ModelDescription | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def offer(self) -> list[dict[str, object]]:
        """Every model on offer, as `hello.models` and `/health` list them."""
        return [{"name": m.name, "kind": m.kind, "sources": list(m.sources),
                 "sampleRate": m.sample_rate, "device": m.device, "precision": m.precision,
                 "default": m.name == self.name} for m in self.models]


class WorkerHandle:
    def __init__(
        self,
        index: int,
        config: WorkerConfig,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[WorkerHandle, WorkerToServer], None],
        on_exit: Callable[[WorkerHandle, int | None], None],
    ) -> None:
        self.index = index
        self.state = WorkerState.STARTING
        # Jobs this worker holds (job id -> priority rank); it advances the most urgent.
        self.jobs: dict[str, int] = {}
        # From its WorkerReady: shown in /queue's workers, as the fleet's are.
        self.device: str | None = None
        self.model: str | None = None
        self._loop = loop
        self._on_message = on_message
        self._on_exit = on_exit
        ctx = mp.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self._conn: Connection = parent_conn
        if config.numba_cache and config.numba_cache_per_worker:
            # One cache per worker slot: numba's cache is not safe for two writers.
            config = replace(config, numba_cache=f"{config.numba_cache}-{index}")
        self.process: BaseProcess = ctx.Process(
            target=worker_main, name=f"stemcast-worker-{index}",
            args=(child_conn, config, os.getpid(), started_from_main_thread()),
            daemon=True,
        )
        self.process.start()
        child_conn.close()  # only the child holds its end, so EOF means the child is gone
        self._reader = threading.Thread(
            target=self._read_loop, name=f"stemcast-worker-{index}-reader", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def _read_loop(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            self._loop.call_soon_threadsafe(self._on_message, self, message)
        self.process.join(timeout=5)
        self._loop.call_soon_threadsafe(self._on_exit, self, self.process.exitcode)

    def send(self, message: ServerToWorker) -> None:
        try:
            self._conn.send(message)
        except (BrokenPipeError, OSError):
            # The reader thread sees the broken pipe too and reports the exit.
            log.warning("worker %s pipe is broken", self.index)

    def stop(self, timeout: float = 5.0) -> None:
        self.send(Shutdown())
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self._conn.close()


class WorkerPool:
    """A fixed number of worker processes, restarted when one dies."""

    def __init__(
        self,
        size: int,
        config: WorkerConfig,
        on_task_message: Callable[[WorkerToServer], None],
        on_worker_lost: Callable[[str], None],
        on_change: Callable[[], None],
    ) -> None:
        self.size = size
        self.config = config
        self.model = ModelStatus(name=config.model, requested=config.model)
        # Set once the first worker has said which models it holds (auto is resolved).
        self.resolved = asyncio.Event()
        self.restarts = 0
        self.workers: list[WorkerHandle] = []
        self._on_task_message = on_task_message
        self._on_worker_lost = on_worker_lost
        self._on_change = on_change
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.workers = [self._spawn(i) for i in range(self.size)]

    def _spawn(self, index: int) -> WorkerHandle:
        assert self._loop is not None
        return WorkerHandle(index, self.config, self._loop, self._handle_message, self._handle_exit)

    def idle_worker(self) -> WorkerHandle | None:
        for worker in self.workers:
            if worker.state in (WorkerState.READY, WorkerState.UNAVAILABLE) and not worker.jobs:
                return worker
        return None

    def preemptable_worker(self, rank: int) -> WorkerHandle | None:
        """A busy worker holding a job less urgent than `rank`: it takes the new job and,
        at its next segment boundary, advances whichever of its jobs is most urgent."""
        candidates = [w for w in self.workers
                      if w.state == WorkerState.BUSY and w.jobs
                      and len(w.jobs) < MAX_JOBS_PER_WORKER and max(w.jobs.values()) > rank]
        return min(candidates, key=lambda w: len(w.jobs)) if candidates else None

    def assign(self, slot: WorkerSlot, task: SeparateTask) -> None:
        worker = self.workers[slot.index]
        worker.jobs[task.job_id] = task.priority_rank
        if worker.state == WorkerState.READY:
            worker.state = WorkerState.BUSY
        worker.send(task)

    def worker_of(self, job_id: str) -> WorkerHandle | None:
        return next((w for w in self.workers if job_id in w.jobs), None)

    def reprioritize(self, job_id: str, rank: int) -> None:
        worker = self.worker_of(job_id)
        if worker is not None:
            worker.jobs[job_id] = rank
            worker.send(Reprioritize(job_id, rank))

    def cancel_job(self, job_id: str) -> None:
        """The worker drops the job at its next segment boundary and removes its files."""
        worker = self.worker_of(job_id)
        if worker is not None:
            worker.jobs.pop(job_id, None)
            worker.send(CancelTask(job_id))
            if not worker.jobs and worker.state == WorkerState.BUSY:
                worker.state = WorkerState.READY

    def _handle_message(self, worker: WorkerHandle, message: WorkerToServer) -> None:
        if isinstance(message, WorkerReady):
            # A worker without its default model still serves the others (dsp) and fails
            # requests for the missing one at once, so it takes work either way.
            # Sent again when a worker switches models (a download landed): it may be busy.
            worker.state = WorkerState.BUSY if worker.jobs else WorkerState.READY
            self.model = status_from(message)
            worker.model = message.default_model
            worker.device = self.model.device or next((m.device for m in message.models), None)
            if message.default_model is None:
                log.error("NO MODEL: %s", message.default_error)
            else:
                default = self.model.find(message.default_model)
                assert default is not None
                log.info("worker %s ready (pid %s): model %s on %s in %s; %s", worker.index,
                         message.pid, default.name, default.device, default.precision,
                         message.choice)
            log.info("models on offer: %s", ", ".join(self.model.names))
            self.resolved.set()
            self._on_change()
            return
        # Task messages: a finished task frees the worker.
        from stemcast.separation.worker_messages import TaskDone, TaskFailed

        if isinstance(message, TaskDone | TaskFailed) and message.job_id in worker.jobs:
            del worker.jobs[message.job_id]
            if not worker.jobs and worker.state == WorkerState.BUSY:
                worker.state = WorkerState.READY
        self._on_task_message(message)
        if isinstance(message, TaskDone | TaskFailed):
            self._on_change()

    def _handle_exit(self, worker: WorkerHandle, exitcode: int | None) -> None:
        worker.state = WorkerState.DEAD
        lost_jobs = list(worker.jobs)
        worker.jobs.clear()
        if self._stopping:
            return
        log.error("worker %s (pid %s) died with exit code %s%s; restarting it", worker.index,
                  worker.pid, exitcode,
                  f" while holding job(s) {', '.join(lost_jobs)}" if lost_jobs else "")
        self.restarts += 1
        self.workers[worker.index] = self._spawn(worker.index)
        for job_id in lost_jobs:
            self._on_worker_lost(job_id)
        self._on_change()

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self.workers))

    def node_devices(self, model: str) -> list[str]:
        return []  # no fleet: the workers run on this server's --device

    def describe(self) -> list[dict[str, object]]:
        return [
            {"index": w.index, "pid": w.pid, "state": w.state.value, "jobs": list(w.jobs),
             "device": w.device, "model": w.model}
            for w in self.workers
        ]


def status_from(message: WorkerReady) -> ModelStatus:
    default = next((m for m in message.models if m.name == message.default_model), None)
    if default is None:
        return ModelStatus(name=message.requested_model, requested=message.requested_model,
                           state=ModelState.UNAVAILABLE, error=message.default_error,
                           choice=message.choice, models=message.models)
    return ModelStatus(
        name=default.name, requested=message.requested_model, state=ModelState.READY,
        choice=message.choice, sources=default.sources, sample_rate=default.sample_rate,
        device=default.device, channels=default.channels, precision=default.precision,
        segment_seconds=default.segment_seconds, models=message.models)
