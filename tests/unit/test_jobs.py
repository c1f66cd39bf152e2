"""Cache key, queue order, migrations and job state transitions on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest

from stemcast.db.database import Migration, MigrationError, load_migrations, migrate, open_database
from stemcast.jobs.models import Job, JobState, SeparationOptions, cache_key
from stemcast.jobs.queue import JobQueue
from stemcast.jobs.store import JobStore
from stemcast_protocol import Priority


def test_cache_key_depends_on_audio_model_and_options() -> None:
    base = cache_key("a" * 64, "htdemucs", SeparationOptions())
    assert base == cache_key("a" * 64, "htdemucs", SeparationOptions())
    assert base != cache_key("b" * 64, "htdemucs", SeparationOptions())
    assert base != cache_key("a" * 64, "htdemucs_ft", SeparationOptions())
    assert base != cache_key("a" * 64, "htdemucs", SeparationOptions(shifts=1))
    assert base != cache_key("a" * 64, "htdemucs", SeparationOptions(subtype="FLOAT"))


def _job(seq: int, priority: Priority, key: str = "") -> Job:
    return Job(id=f"job{seq}", seq=seq, cache_key=key or f"k{seq}", pcm_hash="h", track_id=None,
               input_path="/x", model="m", options=SeparationOptions(), priority=priority,
               state=JobState.QUEUED, stage="queued", progress=0.0, attempts=0,
               output_dir="/o", created_at="t")


def test_queue_orders_by_priority_then_fifo() -> None:
    queue = JobQueue()
    arrivals = [(1, Priority.LOW), (2, Priority.NORMAL), (3, Priority.HIGH), (4, Priority.LOW),
                (5, Priority.HIGH), (6, Priority.NORMAL)]
    for seq, priority in arrivals:
        queue.push(_job(seq, priority))
    assert [j.seq for j in queue] == [3, 5, 2, 6, 1, 4]
    assert queue.position("job2") == 3 and queue.position("nope") is None
    queue.reprioritize("job4", Priority.HIGH)  # a user asked for the background job
    assert [j.seq for j in queue] == [3, 4, 5, 2, 6, 1]
    assert queue.pop().seq == 3 and len(queue) == 5
    assert queue.find_by_key("k6") is not None and queue.remove("job6") is not None
    assert [j.seq for j in JobQueue(list(queue))] == [4, 5, 2, 1]


async def test_migrations_apply_once_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = await open_database(path)
    newest = load_migrations()[-1].version
    async with conn.execute("SELECT version FROM schema_version") as cur:
        assert [row[0] for row in await cur.fetchall()] == list(range(1, newest + 1))
    await conn.close()
    conn = await open_database(path)  # a second start applies nothing again
    assert await migrate(conn) == newest
    await conn.close()


async def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    conn = await aiosqlite.connect(tmp_path / "db.sqlite3", isolation_level=None)
    good = Migration(1, "001_a.sql", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "002_b.sql", "CREATE TABLE b (x INTEGER);\nINSERT INTO nope VALUES (1);")
    assert await migrate(conn, [good]) == 1
    with pytest.raises(MigrationError, match=r"002_b\.sql"):
        await migrate(conn, [good, bad])
    async with conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'") as cur:
        assert await cur.fetchone() is None  # table b was rolled back with its migration
    assert await migrate(conn, [good]) == 1
    with pytest.raises(MigrationError, match="newer"):
        await migrate(conn, [])  # a database from a newer stemcast is refused
    await conn.close()


async def test_job_store_transitions(tmp_path: Path) -> None:
    conn = await open_database(tmp_path / "db.sqlite3")
    store = JobStore(conn)
    kwargs = dict(pcm_hash="h", track_id=None, input_path="/a.wav", model="m",
                  options=SeparationOptions(), output_root=str(tmp_path), duration_seconds=3.0)
    first = await store.create(key="k1", priority=Priority.LOW, **kwargs)  # type: ignore[arg-type]
    second = await store.create(key="k2", priority=Priority.HIGH, **kwargs)  # type: ignore[arg-type]
    assert (first.seq, second.seq) == (1, 2) and first.state == JobState.QUEUED
    # The database refuses a second live job for the same work.
    with pytest.raises(Exception, match="UNIQUE"):
        await store.create(key="k1", priority=Priority.HIGH, **kwargs)  # type: ignore[arg-type]
    await store.mark_running(first.id)
    assert await store.requeue_interrupted() == 1  # what a restart does
    assert (await store.get(first.id)).state == JobState.QUEUED  # type: ignore[union-attr]
    await store.mark_running(first.id)
    await store.mark_completed(first.id, {"bass": "/b.wav"}, 1.5, 3.0)
    done = await store.completed_for_key("k1")
    assert done is not None and done.stems == {"bass": "/b.wav"} and done.progress == 1
    await store.mark_failed(second.id, "MODEL_UNAVAILABLE", "no weights")
    failed = await store.get(second.id)
    assert failed is not None and failed.error_code == "MODEL_UNAVAILABLE"
    assert await store.live_jobs() == []
    assert await store.count_by_state() == {"completed": 1, "failed": 1}
    await conn.close()
