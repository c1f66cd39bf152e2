"""The API server's side of the fleet: the scheduler's worker transport over Redis.

The scheduler still orders the queue and keeps every job in SQLite; it hands a job to the
fleet when a worker is free (as many jobs in flight as workers heartbeat, or
`--fleet-workers`), and this pool turns the job's event stream back into the worker
messages the scheduler already understands (jobs/worker_results.py). Redis restarting is
waited out: submissions and reads are retried, and event cursors resume where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from redis.exceptions import RedisError

from stemcast.config import Settings
from stemcast.fleet.finished_jobs import finished_result
from stemcast.fleet.redis_queue import RETRY_S, RedisQueue, retry_redis
from stemcast.fleet.server_files import ServerFiles
from stemcast.fleet.wire import WireError, decode, encode
from stemcast.jobs.transport import (
    TransportFactory,
    WorkerCallbacks,
    WorkerSlot,
    WorkerTransport,
)
from stemcast.jobs.worker_pool import ModelStatus, status_from
from stemcast.separation.worker_messages import SeparateTask, TaskDone, TaskFailed, WorkerReady
from stemcast.storage.store import StoreError, open_store
from stemcast.tasks import cancel_and_wait

log = logging.getLogger(__name__)

FLEET_POLL_S = 1.0
READ_BLOCK_MS = 500


@dataclass(frozen=True)
class FleetSlot:
    index: int


@dataclass
class _InFlight:
    task: SeparateTask
    follow: str  # the job whose events carry this one's (another API server's, if deduped)
    cursor: str = "0"  # late joiners replay from the start, as with the local pool


class RemotePool:
    def __init__(self, queue: RedisQueue, callbacks: WorkerCallbacks, model: str,
                 fleet_workers: int = 0, files: ServerFiles | None = None) -> None:
        """`fleet_workers`: jobs in flight at once; 0: one per live worker. `files`: the
        object store workers write stems to (None: a shared folder)."""
        self.queue = queue
        self.files = files
        self.callbacks = callbacks
        self.fixed_size = fleet_workers
        self.model = ModelStatus(name=model, requested=model)
        self.resolved = asyncio.Event()
        self.restarts = 0  # the fleet's nodes restart themselves; deaths are counted here
        self.fleet: list[dict[str, object]] = []
        self._devices: dict[str, list[str]] = {}  # model -> the device of each live node
        self._inflight: dict[str, _InFlight] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._dead: set[str] = set()

    @property
    def size(self) -> int:
        live = sum(1 for w in self.fleet if w["alive"])
        return self.fixed_size or max(live, 1)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._watch_fleet(), name="fleet-watch"),
                       asyncio.create_task(self._read_events(), name="fleet-events")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        await self.queue.close()

    # ---- the scheduler's transport -------------------------------------------------------

    def idle_worker(self) -> WorkerSlot | None:
        live = sum(1 for w in self.fleet if w["alive"])
        capacity = self.fixed_size or live
        return FleetSlot(len(self._inflight)) if len(self._inflight) < capacity else None

    def preemptable_worker(self, rank: int) -> WorkerSlot | None:
        return None  # a node runs one job; the queue's order is the fleet's preemption

    def assign(self, worker: WorkerSlot, task: SeparateTask) -> None:
        self._inflight[task.job_id] = _InFlight(task, task.job_id)
        asyncio.get_running_loop().create_task(self._submit(task))

    async def _submit(self, task: SeparateTask) -> None:
        if await self._finished_already(task):
            return
        while True:
            try:
                holder = await self.queue.claim_work(task.seed, task.job_id)
                flight = self._inflight.get(task.job_id)
                if holder != task.job_id:
                    log.info("job %s: the fleet already runs this work as %s; following it",
                             task.job_id, holder)
                    if flight is not None:
                        flight.follow = holder
                else:
                    if self.files is not None and not await self._put_input(task):
                        return
                    await self.queue.submit(encode(task), task.priority_rank)
                self._wake.set()
                return
            except RedisError as exc:
                log.warning("redis: job %s not queued yet (%s); retrying", task.job_id, exc)
                await asyncio.sleep(RETRY_S)

    async def _finished_already(self, task: SeparateTask) -> bool:
        """A job requeued after this server stopped, that the fleet finished meanwhile
        (fleet/finished_jobs.py): reported done from its files, not queued again."""
        done = await asyncio.to_thread(finished_result, task,
                                       self.files.store if self.files else None)
        if done is None:
            return False
        log.info("job %s: finished by the fleet while this server was away", task.job_id)
        self._inflight.pop(task.job_id, None)
        self.callbacks.on_task_message(done)
        self.callbacks.on_change()
        return True

    async def _put_input(self, task: SeparateTask) -> bool:
        assert self.files is not None
        try:
            await self.files.put_input(task)
            return True
        except StoreError as exc:
            self._inflight.pop(task.job_id, None)
            self.callbacks.on_task_message(TaskFailed(task.job_id, "SEPARATION_FAILED", str(exc)))
            self.callbacks.on_change()
            return False

    def reprioritize(self, job_id: str, rank: int) -> None:
        flight = self._inflight.get(job_id)
        if flight is None:
            return
        flight.task = replace(flight.task, priority_rank=rank)
        # A job that follows another API server's job lifts that one; only its own server
        # holds its task, so here only its rank is set (queued again under this job's id,
        # it would be separated a second time).
        own = flight.follow == job_id
        asyncio.get_running_loop().create_task(retry_redis(
            self.queue.lift, flight.follow, rank, encode(flight.task) if own else None))

    def cancel_job(self, job_id: str) -> None:
        flight = self._inflight.pop(job_id, None)
        asyncio.get_running_loop().create_task(retry_redis(self.queue.cancel, job_id))
        if self.files is not None:
            asyncio.get_running_loop().create_task(
                self.files.ended(job_id, flight.task if flight else None))
        self.callbacks.on_change()


    # ---- events back ---------------------------------------------------------------------

    async def _read_events(self) -> None:
        while True:
            cursors: dict[str, str] = {}
            for flight in self._inflight.values():
                cursors.setdefault(flight.follow, flight.cursor)
            if not cursors:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), READ_BLOCK_MS / 1000)
                continue
            try:
                events = await self.queue.read_events(cursors, READ_BLOCK_MS)
            except RedisError as exc:
                log.warning("redis: reading job events failed (%s); retrying", exc)
                await asyncio.sleep(RETRY_S)
                continue
            for followed, entry_id, record in events:
                await self._deliver(followed, entry_id, record)

    async def _deliver(self, followed: str, entry_id: str, record: bytes) -> None:
        try:
            message = decode(record)
        except WireError as exc:
            log.error("job %s: %s", followed, exc)
            return
        if self.files is not None:
            message = await self._pull(followed, message)
        for job_id, flight in list(self._inflight.items()):
            if flight.follow != followed:
                continue
            flight.cursor = entry_id
            if job_id != followed:
                message = replace(message, job_id=job_id)
            if isinstance(message, TaskDone | TaskFailed):
                del self._inflight[job_id]
            self.callbacks.on_task_message(message)
            if isinstance(message, TaskDone | TaskFailed):
                self.callbacks.on_change()

    async def _pull(self, followed: str, message: Any) -> Any:
        """The files a message announces, from the store into the job folders first."""
        assert self.files is not None
        flights = [(job_id, f) for job_id, f in self._inflight.items() if f.follow == followed]
        try:
            await self.files.pull(followed, message, [f.task.output_dir for _, f in flights])
        except (StoreError, OSError) as exc:  # OSError: this server's disk (full, say)
            log.error("job %s: %s", followed, exc)
            if isinstance(message, TaskDone):
                message = TaskFailed(message.job_id, "SEPARATION_FAILED", str(exc))
        if isinstance(message, TaskDone | TaskFailed):
            for job_id, flight in flights:
                await self.files.ended(job_id, flight.task)
        return message

    # ---- who is in the fleet -------------------------------------------------------------

    async def _watch_fleet(self) -> None:
        while True:
            try:
                self._seen(await self.queue.fleet())
            except RedisError as exc:
                log.warning("redis: cannot read the fleet (%s)", exc)
            await asyncio.sleep(FLEET_POLL_S)

    def _seen(self, hashes: list[dict[bytes, bytes]]) -> None:
        before = self.idle_worker() is not None
        fleet: list[dict[str, object]] = []
        devices: dict[str, list[str]] = {}
        for index, raw in enumerate(hashes):
            info = {k.decode(): v for k, v in raw.items()}
            text = {k: v.decode(errors="replace") for k, v in info.items() if k != "ready"}
            ready = _ready(info.get("ready", b""))
            alive = text.get("alive") == "1"
            if not alive and text["name"] not in self._dead:
                self._dead.add(text["name"])
                self.restarts += 1
                log.error("fleet worker %s stopped heartbeating (job %s)", text["name"],
                          text.get("job") or "none")
            if ready is not None and alive:
                if not self.resolved.is_set() or self.model.requested != ready.requested_model:
                    self.model = status_from(ready)
                self.resolved.set()
                for held in ready.models:
                    devices.setdefault(held.name, []).append(held.device)
            device = ready.models[0].device if ready and ready.models else text.get("device")
            beat = float(text.get("lastHeartbeat", "0") or 0)
            fleet.append({"index": index, "name": text.get("name"), "host": text.get("host"),
                          "pid": int(text.get("pid", "0") or 0),
                          "state": text.get("state") if alive else "dead",
                          "jobs": [text["job"]] if text.get("job") else [],
                          "device": device, "model": ready.default_model if ready else None,
                          "lastHeartbeat": beat,
                          "heartbeatAgeS": _age(beat),
                          "alive": alive})
        self.fleet = fleet
        self._devices = devices
        if not before and self.idle_worker() is not None:
            self.callbacks.on_change()

    def describe(self) -> list[dict[str, object]]:
        # The age as of this answer, not of the last fleet poll (up to FLEET_POLL_S older).
        return [{**row, "heartbeatAgeS": _age(row["lastHeartbeat"])} for row in self.fleet]

    def node_devices(self, model: str) -> list[str]:
        return self._devices.get(model, [])


def _age(beat: object) -> float:
    return round(max(time.time() - beat, 0.0), 1) if isinstance(beat, float) else 0.0


def _ready(raw: bytes) -> WorkerReady | None:
    if not raw:
        return None
    try:
        message = decode(raw)
    except WireError:
        return None
    return message if isinstance(message, WorkerReady) else None


def fleet_transport(settings: Settings) -> TransportFactory:
    """The scheduler's transport for `serve --queue`."""
    assert settings.queue_url is not None

    def build(callbacks: WorkerCallbacks) -> WorkerTransport:
        files = ServerFiles(open_store(settings.storage_url, settings.storage_endpoint)) \
            if settings.storage_url else None
        return RemotePool(RedisQueue(settings.queue_url or ""), callbacks, settings.model,
                          settings.fleet_workers, files)

    return build
