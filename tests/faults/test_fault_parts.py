"""The parts the drills rely on, each on its own (real SQLite files, real full disks are
in the drills): lock retries, fault classification, error texts."""

from __future__ import annotations

import errno
import sqlite3
import threading
import time
from pathlib import Path

import aiosqlite
import httpx
import pytest

from stemcast.db.busy import DatabaseBusyError, retry_locked
from stemcast.db.database import open_database
from stemcast.db.faults import classify
from stemcast.error_text import describe


def _hold_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    locked.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


async def _locked_for(path: Path, seconds: float) -> threading.Thread:
    locked = threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(path, seconds, locked))
    holder.start()
    assert locked.wait(10)
    return holder


async def test_a_lock_shorter_than_the_retries_is_waited_out(tmp_path: Path) -> None:
    conn = await open_database(tmp_path / "db.sqlite3", busy_timeout_s=0.2)
    try:
        await conn.execute("CREATE TABLE t (x)")
        holder = await _locked_for(tmp_path / "db.sqlite3", 0.6)

        async def insert() -> aiosqlite.Cursor:
            return await conn.execute("INSERT INTO t VALUES (1)")

        await retry_locked(insert, "inserting", busy_timeout_s=0.2)
        holder.join()
        async with conn.execute("SELECT COUNT(*) FROM t") as cursor:
            assert (await cursor.fetchone())[0] == 1  # type: ignore[index]
    finally:
        await conn.close()


async def test_a_lock_longer_than_the_retries_is_busy(tmp_path: Path) -> None:
    conn = await open_database(tmp_path / "db.sqlite3", busy_timeout_s=0.1)
    try:
        await conn.execute("CREATE TABLE t (x)")
        holder = await _locked_for(tmp_path / "db.sqlite3", 3.0)

        async def insert() -> aiosqlite.Cursor:
            return await conn.execute("INSERT INTO t VALUES (1)")

        with pytest.raises(DatabaseBusyError) as caught:
            await retry_locked(insert, "inserting a row", busy_timeout_s=0.1)
        holder.join()
        assert "locked by another process" in str(caught.value)
        assert "inserting a row" in str(caught.value)
        fault = classify(caught.value)
        assert fault is not None and fault.code == "BUSY" and fault.retry_after_s
    finally:
        await conn.close()


def test_classify_names_disk_full_and_busy_and_nothing_else() -> None:
    full = classify(OSError(errno.ENOSPC, "No space left on device", "/data/x.wav"))
    assert full is not None and full.code == "DISK_FULL" and full.http_status == 507
    assert "/data/x.wav" in full.message
    sqlite_full = classify(sqlite3.OperationalError("database or disk is full"))
    assert sqlite_full is not None and sqlite_full.code == "DISK_FULL"
    wrapped = RuntimeError("could not store")
    wrapped.__cause__ = sqlite3.OperationalError("database is locked")
    busy = classify(wrapped)
    assert busy is not None and busy.code == "BUSY" and busy.http_status == 503
    assert classify(OSError(errno.EACCES, "Permission denied")) is None
    assert classify(ValueError("bad")) is None


def test_error_texts_are_never_empty() -> None:
    assert describe(ValueError("bad value")) == "ValueError: bad value"
    text = describe(httpx.ReadTimeout(""))
    assert text.startswith("ReadTimeout: ") and len(text) > len("ReadTimeout: ") + 5
    assert describe(TimeoutError()) != "TimeoutError: "
