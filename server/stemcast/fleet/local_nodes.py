"""`serve --queue URL --workers N`: N fleet nodes inside the API server.

They are `stemcast worker`'s nodes (fleet/node.py), run on the server's event loop, each
with its own separation process, and they consume from the same Redis streams as every
other worker: priorities, dedup and reclaiming stay fleet-wide, and the API server hands
them work the same way it hands it to remote workers (its capacity counts their
heartbeats). Without `--workers` an API server with `--queue` separates nothing itself.

A node whose separation process died is started again under a new name (its old name's
pending entry is claimed once that heartbeat expires, as with any dead worker). When the
server stops, a node in the middle of a job hands its entry back to the fleet at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from stemcast.config import Settings
from stemcast.fleet.node import Node, default_name
from stemcast.fleet.redis_queue import RedisQueue
from stemcast.fleet.worker_files import WorkerFiles
from stemcast.jobs.scheduler import worker_config
from stemcast.separation.worker_messages import WorkerConfig
from stemcast.storage.store import open_store
from stemcast.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0  # after a node's separation process died: not a hot loop


class LocalNodes:
    def __init__(self, settings: Settings, heartbeat_ttl_s: float = 10.0) -> None:
        """`settings.workers` nodes on `settings.queue_url`, named HOST-PID-localI."""
        assert settings.queue_url is not None
        self.url = settings.queue_url
        self.count = settings.workers
        self.heartbeat_ttl_s = heartbeat_ttl_s
        self.base = worker_config(settings)
        # --storage: these nodes go through the store like remote ones, so that every API
        # server finds every job's stems there (their scratch under DATA_DIR/scratch).
        self.store = open_store(settings.storage_url, settings.storage_endpoint) \
            if settings.storage_url else None
        self.scratch = settings.data_dir / "scratch"
        self.nodes: list[Node | None] = [None] * self.count
        self._tasks: list[asyncio.Task[None]] = []

    def config(self, index: int) -> WorkerConfig:
        if not self.base.numba_cache_per_worker:
            return self.base  # a shared, pre-filled cache: only read
        # Node's process is always its worker 0: the folder carries the node's index.
        return replace(self.base, numba_cache=f"{self.base.numba_cache}-fleet{index}",
                       numba_cache_per_worker=False)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(index), name=f"fleet-local-{index}")
                       for index in range(self.count)]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def _keep(self, index: int) -> None:
        generation = 0
        while True:
            suffix = f"local{index}" + (f"r{generation}" if generation else "")
            files = WorkerFiles(self.store, self.scratch / f"local{index}") \
                if self.store is not None else None
            node = Node(RedisQueue(self.url), self.config(index), f"{default_name()}-{suffix}",
                        heartbeat_ttl_s=self.heartbeat_ttl_s, files=files)
            self.nodes[index] = node
            if await node.run(signals=False) == 0:
                return
            generation += 1
            log.error("local fleet worker %s: starting it again as %s-local%dr%d", node.name,
                      default_name(), index, generation)
            await asyncio.sleep(RESTART_DELAY_S)
