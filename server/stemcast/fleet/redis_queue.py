"""The fleet's queue and mailboxes in Redis: what a key means and who writes it.

- `jobs:high`, `jobs:normal`, `jobs:low`: streams of tasks with one consumer group; a worker
  reads high, then normal, then low (FIFO within each by stream id). An entry stays pending
  on its worker until acknowledged, then it is deleted (the stream keeps only live work).
- `hb:{worker}`: the worker's heartbeat, a key with a short TTL. A pending entry whose
  worker's heartbeat has expired is claimed by another worker (XCLAIM): a long job on a
  live worker is never run twice, however long it takes. The delivery count bounds retries.
- `worker:{worker}` (hash) and the `workers` set: what each worker is and does, for /health.
- `owner:{job}`: which worker runs a job ("done" once finished), so a duplicate entry (a
  priority lift, a redelivery after the job finished) is dropped, not run again.
- `dedup:{cacheKey}`: the job doing that work, across API servers (`SET NX`).
- `events:{job}`: the job's event stream (progress, region-final chunks, done/failed), read
  from id 0 by any API server; it expires a while after the job ends.
- `cancel:{job}`, `rank:{job}`: cancellation and priority lifts, read by the worker at its
  checks between segments.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

STREAMS = ("high", "normal", "low")  # by priority rank: 0, 1, 2
GROUP = "workers"
DONE = "done"


@dataclass(frozen=True)
class Entry:
    stream: str
    entry_id: str
    task: bytes
    deliveries: int  # 1 on the first read; more when claimed from a dead worker


class RedisQueue:
    def __init__(self, url: str, prefix: str = "stemcast:", event_ttl_s: int = 3600) -> None:
        self.url = url
        # Any: redis-py's return types are unions of every reply shape (bytes | str | int
        # | None...); this module reads bytes replies (decode_responses off) and says so.
        self.redis: Any = aioredis.Redis.from_url(url, socket_connect_timeout=5)
        self.prefix = prefix
        self.event_ttl_s = event_ttl_s

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def stream(self, rank: int) -> str:
        return self.key("jobs", STREAMS[min(max(rank, 0), len(STREAMS) - 1)])

    async def close(self) -> None:
        await self.redis.aclose()

    async def ensure_groups(self) -> None:
        for rank in range(len(STREAMS)):
            try:
                await self.redis.xgroup_create(self.stream(rank), GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # ---- the API server's side ---------------------------------------------------------

    async def submit(self, task: bytes, rank: int) -> None:
        await self.redis.xadd(self.stream(rank), {"task": task})

    async def claim_work(self, cache_key: str, job_id: str) -> str:
        """The job id doing this work across the fleet: `job_id`, unless another API
        server already queued the same work."""
        key = self.key("dedup", cache_key)
        if await self.redis.set(key, job_id, nx=True, ex=self.event_ttl_s):
            return job_id
        holder = await self.redis.get(key)
        return holder.decode() if holder else job_id

    async def cancel(self, job_id: str) -> None:
        await self.redis.set(self.key("cancel", job_id), 1, ex=self.event_ttl_s)

    async def lift(self, job_id: str, rank: int, task: bytes | None) -> None:
        """A higher priority: the running worker reads `rank:{job}`; a job still waiting
        is queued again in the higher stream (its `owner` key drops the older entry)."""
        await self.redis.set(self.key("rank", job_id), rank, ex=self.event_ttl_s)
        if task is not None:
            await self.submit(task, rank)

    async def read_events(self, cursors: dict[str, str],
                          block_ms: int) -> list[tuple[str, str, bytes]]:
        """(job id, entry id, record) for new events of the jobs in `cursors`."""
        if not cursors:
            return []
        streams = {self.key("events", job): cursor for job, cursor in cursors.items()}
        replies = await self.redis.xread(streams, block=block_ms)
        events = []
        cut = len(self.key("events", ""))
        for stream, entries in replies or []:
            job = stream.decode()[cut:]
            for entry_id, fields in entries:
                events.append((job, entry_id.decode(), fields[b"m"]))
        return events

    async def fleet(self) -> list[dict[bytes, bytes]]:
        """Every registered worker's hash, with `alive` set from its heartbeat."""
        names = sorted(n.decode() for n in await self.redis.smembers(self.key("workers")))
        described = []
        for name in names:
            info = await self.redis.hgetall(self.key("worker", name))
            if not info:
                await self.redis.srem(self.key("workers"), name)
                continue
            alive = await self.redis.exists(self.key("hb", name))
            described.append({**info, b"alive": b"1" if alive else b"0"})
        return described

    # ---- the worker's side -------------------------------------------------------------

    async def heartbeat(self, worker: str, ttl_ms: int, info: dict[str, str | bytes]) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self.key("hb", worker), 1, px=ttl_ms)
        pipe.hset(self.key("worker", worker),
                  mapping={**info, "lastHeartbeat": f"{time.time():.3f}"})
        pipe.expire(self.key("worker", worker), max(60, ttl_ms // 100))
        pipe.sadd(self.key("workers"), worker)
        await pipe.execute()

    async def leave(self, worker: str) -> None:
        await self.redis.delete(self.key("hb", worker), self.key("worker", worker))
        await self.redis.srem(self.key("workers"), worker)
        for rank in range(len(STREAMS)):
            await self.redis.xgroup_delconsumer(self.stream(rank), GROUP, worker)

    async def hand_back(self, worker: str) -> None:
        """Leave mid-job: the heartbeat goes at once, so another worker claims the pending
        entry now; the consumer stays in the group, or its pending entry would be lost."""
        await self.redis.delete(self.key("hb", worker), self.key("worker", worker))
        await self.redis.srem(self.key("workers"), worker)

    async def next_entry(self, worker: str) -> Entry | None:
        """A dead worker's entry first (it has waited longest), else the most urgent new
        one: high, then normal, then low."""
        claimed = await self._claim_orphan(worker)
        if claimed is not None:
            return claimed
        for rank in range(len(STREAMS)):
            stream = self.stream(rank)
            replies = await self.redis.xreadgroup(GROUP, worker, {stream: ">"}, count=1)
            for _name, entries in replies or []:
                for entry_id, fields in entries:
                    if fields:  # an entry deleted while pending reads as empty
                        return Entry(stream, entry_id.decode(), fields[b"task"], 1)
                    await self.ack(Entry(stream, entry_id.decode(), b"", 1))
        return None

    async def _claim_orphan(self, worker: str) -> Entry | None:
        for rank in range(len(STREAMS)):
            stream = self.stream(rank)
            pending = await self.redis.xpending_range(stream, GROUP, "-", "+", 50)
            for item in pending:
                owner = item["consumer"].decode()
                if owner == worker or await self.redis.exists(self.key("hb", owner)):
                    continue
                entry_id = item["message_id"].decode()
                # min_idle_time 0: the expired heartbeat decides, not how long it waited.
                claimed = await self.redis.xclaim(stream, GROUP, worker, 0, [entry_id])
                for got_id, fields in claimed:
                    if fields:
                        return Entry(stream, got_id.decode(), fields[b"task"],
                                     int(item["times_delivered"]) + 1)
                    await self.ack(Entry(stream, entry_id, b"", 1))
        return None

    async def ack(self, entry: Entry) -> None:
        pipe = self.redis.pipeline()
        pipe.xack(entry.stream, GROUP, entry.entry_id)
        pipe.xdel(entry.stream, entry.entry_id)  # acknowledged entries are trimmed
        await pipe.execute()

    async def take(self, job_id: str, worker: str) -> bool:
        """Become the job's runner, unless it is done or a live worker runs it."""
        key = self.key("owner", job_id)
        if await self.redis.set(key, worker, nx=True, ex=self.event_ttl_s):
            return True
        holder = (await self.redis.get(key) or b"").decode()
        if holder == DONE:
            return False
        if holder and holder != worker and await self.redis.exists(self.key("hb", holder)):
            return False
        await self.redis.set(key, worker, ex=self.event_ttl_s)
        return True

    async def publish(self, job_id: str, record: bytes, final: bool = False) -> None:
        events = self.key("events", job_id)
        pipe = self.redis.pipeline()
        pipe.xadd(events, {"m": record})
        if final:
            # Late joiners replay a finished job's events for a while, then they go.
            pipe.expire(events, self.event_ttl_s)
            pipe.set(self.key("owner", job_id), DONE, ex=self.event_ttl_s)
        await pipe.execute()

    async def finished(self, job_id: str, cache_key: str) -> None:
        """Forget the job's mailboxes and its dedup claim (if it still holds it)."""
        dedup = self.key("dedup", cache_key)
        if (await self.redis.get(dedup) or b"").decode() == job_id:
            await self.redis.delete(dedup)
        await self.redis.delete(self.key("cancel", job_id), self.key("rank", job_id))

    async def cancelled(self, job_id: str) -> bool:
        return bool(await self.redis.exists(self.key("cancel", job_id)))

    async def rank(self, job_id: str) -> int | None:
        value = await self.redis.get(self.key("rank", job_id))
        return int(value) if value is not None else None


_log = logging.getLogger(__name__)
RETRY_S = 0.5  # after Redis refused (restarting, unreachable): try again this soon


async def retry_redis(action: Callable[..., Awaitable[object]], *args: Any,
                      **kwargs: Any) -> None:
    """Run `action` until Redis takes it: a restarting Redis loses no worker event, no
    task hand-off and no cancel (the fleet's tests kill and restart redis-server)."""
    while True:
        try:
            await action(*args, **kwargs)
            return
        except RedisError as exc:
            _log.warning("redis: %s; retrying", exc)
            await asyncio.sleep(RETRY_S)
