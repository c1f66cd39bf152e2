"""Storage faults any request can meet: a locked database, a full disk.

Both are states of the machine, not bugs, so every door (HTTP, WebSocket, the API jobs)
answers them with their own code instead of INTERNAL_ERROR: `BUSY` with a retry hint,
`DISK_FULL` with what to free. `classify` is the one place that recognises them.
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass
from typing import Final

from stemcast.db.busy import DatabaseBusyError, is_locked

BUSY_RETRY_AFTER_S: Final = 2
_DISK_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True)
class StorageFault:
    code: str  # "BUSY" or "DISK_FULL"
    message: str  # names the cause and the fix
    http_status: int  # 503 (retry) or 507 (insufficient storage)
    retry_after_s: int | None = None


def _busy(detail: str) -> StorageFault:
    return StorageFault(
        "BUSY", f"{detail}; retry in {BUSY_RETRY_AFTER_S} s", 503, BUSY_RETRY_AFTER_S)


def disk_full(detail: str) -> StorageFault:
    return StorageFault(
        "DISK_FULL", f"the server's disk is full ({detail}); nothing was stored. Free disk "
        "space on the server (or lower --cache-max-gb) and try again", 507)


def classify(exc: BaseException) -> StorageFault | None:
    """The storage fault behind `exc` (or behind what caused it), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseBusyError):
            return _busy(str(current).split("; nothing was changed")[0])
        if is_locked(current):
            return _busy("the database is locked by another process (a backup, "
                         "`stemcast add`, a sqlite3 shell)")
        if isinstance(current, sqlite3.Error) and "disk is full" in str(current).lower():
            return disk_full(f"the database could not grow: {current}")
        if isinstance(current, OSError) and current.errno in _DISK_FULL_ERRNOS:
            where = f" writing {current.filename}" if current.filename else ""
            return disk_full(f"{current.strerror or current}{where}")
        current = current.__cause__ or current.__context__
    return None
