"""A locked database is waited out, retried with backoff, then reported as BUSY.

SQLite lets one writer at a time. Another process (a backup, `stemcast add`, an operator's
`sqlite3` shell) can hold the write lock for longer than SQLite's busy timeout, and the
write then fails with `database is locked`. A job state transition must not be lost to
that: `retry_locked` tries again with backoff, and raises DatabaseBusyError, naming how
long it tried, only when the lock outlasted every attempt. Callers decide what then
(the scheduler keeps the job in memory and writes it again once the lock is gone).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Pauses between attempts; each attempt itself waits up to the busy timeout inside SQLite.
BACKOFF_S: Final = (0.25, 1.0)
DEFAULT_BUSY_TIMEOUT_S: Final = 5.0


class DatabaseBusyError(RuntimeError):
    """The database stayed write-locked by another process through every retry."""

    def __init__(self, what: str, waited_s: float) -> None:
        super().__init__(
            f"the database stayed locked by another process for about {waited_s:.0f} s while "
            f"{what}; nothing was changed. Retry in a few seconds (and look for a process "
            "holding a write transaction on stemcast.sqlite3)")
        self.waited_s = waited_s


def is_locked(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED as Python's sqlite3 reports them."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


async def retry_locked(operation: Callable[[], Awaitable[T]], what: str,
                       busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> T:
    """Run `operation`; while the database is locked, wait and run it again."""
    waited = 0.0
    for pause in (*BACKOFF_S, None):
        try:
            return await operation()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
            waited += busy_timeout_s
            if pause is None:
                raise DatabaseBusyError(what, waited) from exc
            log.warning("database locked while %s; trying again in %.2f s", what, pause)
            await asyncio.sleep(pause)
            waited += pause
    raise AssertionError("unreachable")
