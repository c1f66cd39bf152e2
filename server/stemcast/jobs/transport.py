"""What the scheduler needs of its workers, wherever they run.

Two implementations: the local process pool (jobs/worker_pool.py, the default: one machine,
no Redis) and the Redis fleet (fleet/remote_pool.py: workers on other machines). The
scheduler orders jobs and writes every transition to SQLite either way; a transport only
carries tasks out and worker messages (jobs/worker_results.py) back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from stemcast.jobs.worker_pool import ModelStatus
from stemcast.separation.worker_messages import SeparateTask, WorkerToServer


class WorkerSlot(Protocol):
    """A place a task can go: a local worker process, or the fleet's queue."""

    @property
    def index(self) -> int: ...


class WorkerTransport(Protocol):
    @property
    def size(self) -> int: ...  # jobs at once, for ETAs and /health

    restarts: int
    model: ModelStatus
    resolved: asyncio.Event  # set once some worker has said which models it holds

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def idle_worker(self) -> WorkerSlot | None: ...

    def preemptable_worker(self, rank: int) -> WorkerSlot | None: ...

    def assign(self, worker: WorkerSlot, task: SeparateTask) -> None: ...

    def reprioritize(self, job_id: str, rank: int) -> None: ...

    def cancel_job(self, job_id: str) -> None: ...

    def describe(self) -> list[dict[str, object]]: ...

    def node_devices(self, model: str) -> list[str]: ...  # a fleet's live nodes holding it


@dataclass(frozen=True)
class WorkerCallbacks:
    """How a transport reports back to the scheduler."""

    on_task_message: Callable[[WorkerToServer], None]
    on_worker_lost: Callable[[str], None]  # a job's worker died: retried or failed
    on_change: Callable[[], None]  # a worker became free: dispatch again


# The scheduler builds its transport with its own callbacks (app/factory.py picks which).
TransportFactory = Callable[[WorkerCallbacks], WorkerTransport]
