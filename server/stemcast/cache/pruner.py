"""Applies the retention policy: at start, every few minutes, and from `stemcast cache`.

Removal deletes the job's folder and marks its row with `JobStore.forget_completed`, so
a later request separates the track again instead of pointing at missing files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from stemcast.cache.leases import ReaderLeases
from stemcast.cache.retention import CacheEntry, Removal, choose_all, choose_removals, parse_time
from stemcast.jobs.store import JobStore
from stemcast.storage.job_objects import remove_job_folder
from stemcast.tasks import cancel_and_wait

log = logging.getLogger(__name__)

GB = 1024 ** 3


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


@dataclass(frozen=True)
class Limits:
    retention_hours: float | None = None
    cache_max_gb: float | None = None
    min_keep_minutes: float = 10.0

    @property
    def retention_s(self) -> float | None:
        return None if self.retention_hours is None else self.retention_hours * 3600

    @property
    def max_bytes(self) -> int | None:
        return None if self.cache_max_gb is None else int(self.cache_max_gb * GB)

    @property
    def min_keep_s(self) -> float:
        return self.min_keep_minutes * 60


@dataclass
class PruneStats:
    runs: int = 0
    removed: dict[str, int] = field(default_factory=dict)  # by reason
    removed_bytes: int = 0
    cache_bytes: int = 0
    cache_entries: int = 0


async def cache_entries(store: JobStore) -> list[CacheEntry]:
    """The completed jobs, measuring (and recording) sizes not yet known."""
    entries = []
    for row in await store.cache_rows():
        size = row["size_bytes"]
        if size is None:
            size = await asyncio.to_thread(folder_size, Path(row["output_dir"]))
            await store.set_size(row["id"], size)
        entries.append(CacheEntry(job_id=row["id"], output_dir=row["output_dir"],
                                  last_used=parse_time(row["last_used_at"] or row["finished_at"]),
                                  size_bytes=int(size)))
    return entries


async def remove(store: JobStore, removals: list[Removal]) -> int:
    """Mark the rows first (nobody is pointed at them again), then delete the folders."""
    freed = 0
    for removal in removals:
        await store.forget_completed(removal.entry.job_id)
        await remove_job_folder(removal.entry.output_dir)
        freed += removal.entry.size_bytes
        log.info("cache: removed job %s (%s, %d bytes)", removal.entry.job_id, removal.reason,
                 removal.entry.size_bytes, extra={"job_id": removal.entry.job_id})
    return freed


async def prune(store: JobStore, limits: Limits, leases: ReaderLeases | None = None, *,
                now: float | None = None, stats: PruneStats | None = None) -> list[Removal]:
    entries = await cache_entries(store)
    removals = choose_removals(
        entries, now=time.time() if now is None else now, retention_s=limits.retention_s,
        max_bytes=limits.max_bytes, min_keep_s=limits.min_keep_s,
        leased=leases.active() if leases else set())
    freed = await remove(store, removals)
    if stats is not None:
        stats.runs += 1
        for removal in removals:
            stats.removed[removal.reason] = stats.removed.get(removal.reason, 0) + 1
        stats.removed_bytes += freed
        stats.cache_bytes = sum(e.size_bytes for e in entries) - freed
        stats.cache_entries = len(entries) - len(removals)
    return removals


async def clear(store: JobStore, limits: Limits, leases: ReaderLeases | None = None, *,
                force: bool = False) -> list[Removal]:
    removals = choose_all(await cache_entries(store), now=time.time(),
                          min_keep_s=limits.min_keep_s,
                          leased=leases.active() if leases else set(), force=force)
    await remove(store, removals)
    return removals


class CachePruner:
    """The background task of a running server."""

    def __init__(self, store: JobStore, limits: Limits, leases: ReaderLeases,
                 interval_s: float = 300.0) -> None:
        self.store = store
        self.limits = limits
        self.leases = leases
        self.interval_s = interval_s
        self.stats = PruneStats()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def run_once(self) -> list[Removal]:
        async with self._lock:
            return await prune(self.store, self.limits, self.leases, stats=self.stats)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("cache pruning failed; trying again in %.0f s", self.interval_s)
            await asyncio.sleep(self.interval_s)
