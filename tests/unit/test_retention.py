"""The stem-cache policy (pure), the pruner on a real database and folders, leases, logs."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import pytest

from stemcast.cache import pruner
from stemcast.cache.leases import ReaderLeases
from stemcast.cache.retention import CacheEntry, choose_all, choose_removals, parse_time
from stemcast.db.database import open_database
from stemcast.jobs.models import JobState, SeparationOptions
from stemcast.jobs.store import JobStore
from stemcast.logging_setup import ContextFilter, JsonFormatter, job_context
from stemcast_protocol import Priority

NOW = 1_000_000.0
HOUR = 3600.0


def entry(job_id: str, age_s: float, size: int = 100) -> CacheEntry:
    return CacheEntry(job_id=job_id, output_dir=f"/x/{job_id}", last_used=NOW - age_s,
                      size_bytes=size)


def ids(removals: list) -> list[str]:  # type: ignore[type-arg]
    return [r.entry.job_id for r in removals]


def test_no_limits_remove_nothing() -> None:
    entries = [entry("a", 100 * HOUR), entry("b", 1)]
    assert choose_removals(entries, now=NOW, retention_s=None, max_bytes=None,
                           min_keep_s=600) == []


def test_age_removes_entries_unused_longer_than_retention() -> None:
    entries = [entry("old", 5 * HOUR), entry("new", 1 * HOUR), entry("older", 9 * HOUR)]
    removals = choose_removals(entries, now=NOW, retention_s=2 * HOUR, max_bytes=None,
                               min_keep_s=600)
    assert ids(removals) == ["older", "old"]
    assert {r.reason for r in removals} == {"age"}


def test_size_removes_least_recently_used_first_until_under_the_limit() -> None:
    entries = [entry("a", 4 * HOUR, 100), entry("b", 3 * HOUR, 100), entry("c", 2 * HOUR, 100),
               entry("d", 1 * HOUR, 100)]
    removals = choose_removals(entries, now=NOW, retention_s=None, max_bytes=250,
                               min_keep_s=600)
    assert ids(removals) == ["a", "b"]
    assert {r.reason for r in removals} == {"size"}


def test_age_removals_count_towards_the_size_limit() -> None:
    entries = [entry("ancient", 50 * HOUR, 500), entry("b", 2 * HOUR, 100),
               entry("c", 1 * HOUR, 100)]
    removals = choose_removals(entries, now=NOW, retention_s=24 * HOUR, max_bytes=250,
                               min_keep_s=600)
    assert ids(removals) == ["ancient"]


def test_never_under_a_reader_or_within_min_keep() -> None:
    entries = [entry("reading", 50 * HOUR, 100), entry("told", 60, 100),
               entry("free", 40 * HOUR, 100)]
    removals = choose_removals(entries, now=NOW, retention_s=1 * HOUR, max_bytes=0,
                               min_keep_s=600, leased={"reading"})
    assert ids(removals) == ["free"]
    # With min_keep 0 the recently told one may go; the leased one never.
    removals = choose_removals(entries, now=NOW, retention_s=None, max_bytes=0,
                               min_keep_s=0, leased={"reading"})
    assert sorted(ids(removals)) == ["free", "told"]


def test_clear_keeps_protected_unless_forced() -> None:
    entries = [entry("a", 60), entry("b", 10 * HOUR)]
    assert ids(choose_all(entries, now=NOW, min_keep_s=600)) == ["b"]
    assert sorted(ids(choose_all(entries, now=NOW, min_keep_s=600, force=True))) == ["a", "b"]


def test_parse_time() -> None:
    assert parse_time("1970-01-01T00:01:40.000Z") == 100.0
    assert parse_time(None) == 0.0
    assert parse_time("garbage") == 0.0


def test_leases_count_open_readers() -> None:
    leases = ReaderLeases()
    with leases.hold("j"):
        with leases.hold("j"):
            assert leases.readers("j") == 2
        assert leases.active() == {"j"}
    assert leases.active() == set()


async def _completed_job(store: JobStore, root: Path, name: str, size: int) -> str:
    job = await store.create(key=f"k-{name}", pcm_hash=name, track_id=None,
                             input_path="/in.wav", model="tiny", options=SeparationOptions(),
                             priority=Priority.NORMAL, output_root=str(root),
                             duration_seconds=1.0)
    stems = Path(job.output_dir) / "stems"
    stems.mkdir(parents=True)
    (stems / "vocals.wav").write_bytes(b"\0" * size)
    await store.mark_completed(job.id, {"vocals": str(stems / "vocals.wav")}, 1.0, 1.0)
    return job.id


async def test_pruner_on_a_real_database_and_folders(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "db.sqlite3")
    try:
        store = JobStore(db)
        root = tmp_path / "jobs"
        old = await _completed_job(store, root, "old", 3000)
        mid = await _completed_job(store, root, "mid", 3000)
        new = await _completed_job(store, root, "new", 3000)
        await db.execute("UPDATE jobs SET last_used_at = '2000-01-01T00:00:00.000Z'"
                         " WHERE id = ?", (old,))
        await db.execute("UPDATE jobs SET last_used_at = '2001-01-01T00:00:00.000Z'"
                         " WHERE id = ?", (mid,))
        entries = await pruner.cache_entries(store)
        assert [e.job_id for e in entries] == [old, mid, new]
        assert all(e.size_bytes == 3000 for e in entries)

        leases = ReaderLeases()
        limits = pruner.Limits(retention_hours=None, cache_max_gb=5000 / pruner.GB,
                               min_keep_minutes=10)
        stats = pruner.PruneStats()
        with leases.hold(old):  # being downloaded: the next least recently used goes
            removals = await pruner.prune(store, limits, leases, stats=stats)
        assert ids(removals) == [mid]
        assert not (root / mid).exists() and (root / old).exists()
        gone = await store.get(mid)
        assert gone is not None and gone.state == JobState.FAILED
        assert gone.error_code == "FILES_REMOVED"
        assert await store.completed_for_key("k-mid") is None
        assert stats.removed == {"size": 1} and stats.cache_bytes == 6000

        # Without the lease the old one goes; the new one is protected by min_keep.
        removals = await pruner.prune(store, limits, leases)
        assert ids(removals) == [old]
        # touch() makes an entry most recently used.
        await store.touch(new)
        row = await store.get(new)
        assert row is not None and row.state == JobState.COMPLETED

        limits_age = pruner.Limits(retention_hours=1e-9, cache_max_gb=None,
                                   min_keep_minutes=0)
        removals = await pruner.prune(store, limits_age, now=time.time() + 10)
        assert ids(removals) == [new]
        assert await store.cache_rows() == []
        assert sorted(p.name for p in root.iterdir()) == []
    finally:
        await db.close()


async def test_clear_and_missing_folder(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "db.sqlite3")
    try:
        store = JobStore(db)
        a = await _completed_job(store, tmp_path / "jobs", "a", 10)
        shutil.rmtree(tmp_path / "jobs" / a)  # already gone: clearing still marks it
        limits = pruner.Limits(min_keep_minutes=10)
        assert await pruner.clear(store, limits) == []  # just completed: protected
        removals = await pruner.clear(store, limits, force=True)
        assert ids(removals) == [a]
        assert await store.cache_rows() == []
    finally:
        await db.close()


@pytest.mark.parametrize("with_context", [True, False])
def test_json_log_lines_carry_job_and_request_ids(with_context: bool) -> None:
    from stemcast.logging_setup import request_id_var

    job_id = "0b4f5c1e-1111-4222-8333-944455556666"
    record = logging.LogRecord("stemcast.jobs.scheduler", logging.INFO, __file__, 1,
                               "job %s completed in %.1f s", (job_id, 1.5), None)
    token = request_id_var.set("req-1")
    try:
        if with_context:
            record.msg, record.args = "separation finished", ()
            with job_context(job_id):
                ContextFilter().filter(record)
        else:
            ContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["job_id"] == job_id and data["request_id"] == "req-1"
    assert data["level"] == "info" and data["logger"] == "stemcast.jobs.scheduler"
    assert data["time"].endswith("Z")
