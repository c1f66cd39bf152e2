"""Who is reading a job's stems right now: the pruner never removes a folder in use."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class ReaderLeases:
    """In-memory count of open downloads per separation job id."""

    def __init__(self) -> None:
        self._count: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, job_id: str) -> Iterator[None]:
        with self._lock:
            self._count[job_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._count[job_id] -= 1
                if self._count[job_id] <= 0:
                    del self._count[job_id]

    def active(self) -> set[str]:
        with self._lock:
            return set(self._count)

    def readers(self, job_id: str) -> int:
        with self._lock:
            return self._count.get(job_id, 0)


class LeasedResponse(Response):
    """Wraps a file or zip response: the job's folder is leased while it is sent."""

    def __init__(self, inner: Response, leases: ReaderLeases, job_id: str) -> None:
        self.inner = inner
        self.leases = leases
        self.job_id = job_id
        self.status_code = inner.status_code
        self.background = None

    @property
    def headers(self) -> Any:
        return self.inner.headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self.leases.hold(self.job_id):
            await self.inner(scope, receive, send)
