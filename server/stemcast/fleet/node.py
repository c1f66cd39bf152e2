"""`stemcast worker`: one separation worker of the fleet, on any machine that sees Redis
and the shared data folder.

It runs the same worker process as `stemcast serve` (separation/worker.py, spawned once:
the model loads once), feeds it tasks from Redis and publishes what it says to the job's
event stream. One job at a time per node: the queue, not the node, decides what is most
urgent. It heartbeats while alive; killed, its heartbeat expires and another node claims
its job. SIGTERM drains: the job in hand finishes, then the node leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace

from redis.exceptions import RedisError

from stemcast.fleet.redis_queue import RETRY_S, Entry, RedisQueue, retry_redis
from stemcast.fleet.wire import WireError, decode_task, encode
from stemcast.fleet.worker_files import WorkerFiles
from stemcast.jobs.worker_pool import WorkerHandle
from stemcast.jobs.worker_results import MAX_ATTEMPTS
from stemcast.separation.worker_messages import (
    CancelTask,
    SeparateTask,
    TaskChunk,
    TaskDone,
    TaskFailed,
    TaskProgress,
    WorkerConfig,
    WorkerReady,
    WorkerToServer,
)
from stemcast.storage.store import StoreError

log = logging.getLogger(__name__)

TaskMessage = TaskProgress | TaskChunk | TaskDone | TaskFailed


@contextlib.contextmanager
def _ignoring(*signals: signal.Signals) -> Iterator[None]:
    before = [signal.signal(sig, signal.SIG_IGN) for sig in signals]
    try:
        yield
    finally:
        for sig, handler in zip(signals, before, strict=True):
            signal.signal(sig, handler)


@dataclass
class _Current:
    entry: Entry
    task: SeparateTask


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Node:
    def __init__(self, queue: RedisQueue, config: WorkerConfig, name: str,
                 heartbeat_ttl_s: float = 10.0, poll_s: float = 0.1,
                 files: WorkerFiles | None = None) -> None:
        self.queue = queue
        self.files = files  # --storage: input and stems through an object store
        self.config = config
        self.name = name
        self.ttl_ms = max(int(heartbeat_ttl_s * 1000), 300)
        self.poll_s = poll_s
        self.current: _Current | None = None
        self.ready: WorkerReady | None = None
        self.draining = False
        self.crashed = False
        self.stopping = False  # its separation process is being stopped on purpose
        self._outbox: asyncio.Queue[TaskMessage] = asyncio.Queue()
        self._handle: WorkerHandle | None = None

    async def run(self, signals: bool = True) -> int:
        """Until drained (0) or the separation process died (1). `signals`: SIGTERM and
        SIGINT drain (`stemcast worker`); False inside `serve --workers`, whose server owns
        the signals and stops its nodes by cancelling this."""
        loop = asyncio.get_running_loop()
        await retry_redis(self.queue.ensure_groups)
        if signals:
            # The separation process ignores SIGTERM and SIGINT (inherited through exec):
            # a signal sent to the whole process group (Ctrl-C, systemd's stop) drains
            # the node instead of killing its job. It still dies with the node (lifeline).
            with _ignoring(signal.SIGTERM, signal.SIGINT):
                self._handle = WorkerHandle(0, self.config, loop, self._on_message,
                                            self._on_exit)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._drain)
        else:
            self._handle = WorkerHandle(0, self.config, loop, self._on_message, self._on_exit)
        helpers = [asyncio.create_task(self._heartbeats(), name="fleet-heartbeat"),
                   asyncio.create_task(self._publisher(), name="fleet-publisher"),
                   asyncio.create_task(self._controls(), name="fleet-controls")]
        log.info("worker %s: loading %s on %s; queue %s", self.name, self.config.model,
                 self.config.device, self.queue.url)
        try:
            while not self.crashed and not (self.draining and self.current is None):
                if self.ready is not None and self.current is None and not self.draining:
                    try:
                        entry = await self.queue.next_entry(self.name)
                    except RedisError as exc:
                        log.warning("redis: %s; retrying", exc)
                        await asyncio.sleep(RETRY_S)
                        continue
                    if entry is not None:
                        await retry_redis(self._start, entry)
                        continue
                await asyncio.sleep(self.poll_s)
            await self._outbox.join()
        finally:
            for task in helpers:
                task.cancel()
            if not self.crashed:
                self.stopping = True
                await asyncio.to_thread(self._handle.stop)
                with contextlib.suppress(RedisError):
                    if self.current is None:
                        await self.queue.leave(self.name)
                    else:
                        # Stopped mid-job (its server is shutting down): the entry stays
                        # pending, and another node claims it now, not after the TTL.
                        await self.queue.hand_back(self.name)
            await self.queue.close()
        log.info("worker %s: %s", self.name, "its separation process died" if self.crashed
                 else "drained and left the fleet")
        return 1 if self.crashed else 0

    def _drain(self) -> None:
        log.info("worker %s: draining (finishing the job in hand, taking no more)", self.name)
        self.draining = True


    async def _start(self, entry: Entry) -> None:
        try:
            task = decode_task(entry.task)
        except WireError as exc:
            log.error("dropping a queue entry: %s", exc)
            await self.queue.ack(entry)
            return
        if entry.deliveries > MAX_ATTEMPTS:
            # Its workers died each time: a track that kills workers must not kill the fleet.
            failed = TaskFailed(task.job_id, "WORKER_CRASHED",
                                f"the separation worker crashed {entry.deliveries - 1} times on "
                                "this job; see the workers' logs")
            await self.queue.publish(task.job_id, encode(failed), final=True)
            await self.queue.finished(task.job_id, task.seed)
            await self.queue.ack(entry)
            return
        if await self.queue.cancelled(task.job_id) or not await self.queue.take(task.job_id,
                                                                                 self.name):
            await self.queue.ack(entry)  # cancelled, done, or a live worker runs it
            return
        if entry.deliveries > 1:
            log.warning("job %s: taking it over from a worker that stopped heartbeating",
                        task.job_id)
        local = task
        if self.files is not None:
            try:
                local = await self.files.localize(task)
            except (StoreError, OSError) as exc:  # OSError: the scratch folder's disk
                await self.queue.publish(task.job_id, encode(TaskFailed(
                    task.job_id, "SEPARATION_FAILED", str(exc))), final=True)
                await self.queue.finished(task.job_id, task.seed)
                await self.queue.ack(entry)
                return
        self.current = _Current(entry, task)
        assert self._handle is not None
        self._handle.send(local)
        log.info("job %s started (%s)", task.job_id, entry.stream)

    # ---- the worker process -------------------------------------------------------------

    def _on_message(self, _handle: WorkerHandle, message: WorkerToServer) -> None:
        if isinstance(message, WorkerReady):
            self.ready = message
            log.info("worker %s ready: %s", self.name, message.default_model)
            return
        self._outbox.put_nowait(message)

    def _on_exit(self, _handle: WorkerHandle, exitcode: int | None) -> None:
        if self.stopping or (self.draining and self.current is None):
            return
        # Its job stays pending under this node's name: another node claims it once this
        # node's heartbeat has expired.
        log.error("worker %s: the separation process died (exit code %s)", self.name, exitcode)
        self.crashed = True

    async def _publisher(self) -> None:
        """Worker messages go out in the order the worker sent them, Redis down or not."""
        while True:
            message = await self._outbox.get()
            if self.files is not None:
                message = await self._to_store(message)
            if isinstance(message, TaskProgress):
                message = replace(message, device=self._device())
            final = isinstance(message, TaskDone | TaskFailed)
            await retry_redis(self.queue.publish, message.job_id, encode(message),
                                 final=final)
            current = self.current
            if final and current is not None and current.task.job_id == message.job_id:
                await retry_redis(self._finish, current)
            self._outbox.task_done()

    async def _to_store(self, message: TaskMessage) -> TaskMessage:
        """What the message announces goes to the store before the message goes out."""
        assert self.files is not None
        current = self.current
        if current is None or current.task.job_id != message.job_id:
            return message
        try:
            out = await self.files.outgoing(message, current.task, self.ready)
        except (StoreError, OSError) as exc:  # OSError: a region's file read back
            log.error("job %s: %s", message.job_id, exc)
            if not isinstance(message, TaskDone):
                return message
            out = TaskFailed(message.job_id, "SEPARATION_FAILED", str(exc))
        assert isinstance(out, TaskProgress | TaskChunk | TaskDone | TaskFailed)
        return out

    def _device(self) -> str:
        """The device the job in hand runs on, as the heartbeat's ready record (and so
        /queue's workers[].device) names it: the resolved one, not `auto`."""
        current, ready = self.current, self.ready
        if ready is not None:
            name = (current.task.options.model if current else None) or ready.default_model
            for held in ready.models:
                if held.name == name:
                    return held.device
        return self.config.device

    async def _finish(self, current: _Current) -> None:
        if self.files is not None:
            await self.files.forget(current.task)
        await self.queue.finished(current.task.job_id, current.task.seed)
        await self.queue.ack(current.entry)
        if self.current is current:
            self.current = None

    async def _controls(self) -> None:
        """Cancellation from any API server, checked while a job runs."""
        while True:
            await asyncio.sleep(0.25)
            current = self.current
            if current is None:
                continue
            try:
                if await self.queue.cancelled(current.task.job_id):
                    assert self._handle is not None
                    # The worker drops it at its next segment boundary, removing its files.
                    self._handle.send(CancelTask(current.task.job_id))
                    log.info("job %s cancelled", current.task.job_id)
                    await self._finish(current)
            except RedisError as exc:
                log.warning("redis: %s; retrying", exc)

    async def _heartbeats(self) -> None:
        while True:
            current = self.current
            info: dict[str, str | bytes] = {
                "name": self.name, "host": socket.gethostname(), "pid": str(os.getpid()),
                "device": self.config.device, "model": self.config.model,
                "state": ("draining" if self.draining else "busy" if current
                          else "ready" if self.ready else "starting"),
                "job": current.task.job_id if current else "",
                "ready": encode(self.ready) if self.ready else b"",
            }
            try:
                await self.queue.heartbeat(self.name, self.ttl_ms, info)
            except RedisError as exc:
                log.warning("redis: heartbeat failed (%s)", exc)
            await asyncio.sleep(self.ttl_ms / 3000)
