"""Operations: cache limits on a real server and data dir, /metrics, `stemcast cache`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

MIN_KEEP_S = 3.0


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 if absent)."""
    want = sorted(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        series, _, rest = key.partition("{")
        got = sorted(rest.rstrip("}").split(",")) if rest else []
        if series == name and got == want:
            return float(value)
    return 0.0


def submit_and_wait(server: ServerProcess, job_id: str, path: Path) -> dict[str, str]:
    response = httpx.post(f"{server.http_url}/jobs", json={
        "file_path": str(path), "track_hash": job_id, "options": {"stems": True},
        "stem_delivery_mode": "path"}, timeout=30)
    assert response.status_code == 200, response.text
    wait_for(lambda: httpx.get(f"{server.http_url}/jobs/{job_id}").json()["status"]
             in ("completed", "failed"), 90, f"job {job_id}")
    stems = httpx.get(f"{server.http_url}/jobs/{job_id}/stems", timeout=30)
    assert stems.status_code == 200, stems.text
    paths: dict[str, str] = stems.json()["data"]["stems"]
    return paths


def test_size_limit_lease_metrics_and_separating_again(tmp_path: Path,
                                                       tiny_model_repo: Path) -> None:
    (tmp_path / "music").mkdir()
    clip = write_audio(tmp_path / "music" / "long.wav", make_music_like_signal(10.0, seed=7),
                       44100)
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(clip.parent), "--cache-max-gb", "0.00001",
        "--min-keep-minutes", str(MIN_KEEP_S / 60), "--prune-interval-s", "0.3",
        "--log-json",
    ]).start()
    try:
        paths = submit_and_wait(server, "op-a", clip)
        job_dir = Path(next(iter(paths.values()))).parent.parent
        assert job_dir.parent == data_dir / "jobs"

        # /metrics after one job: its counters are there.
        scrape = httpx.get(f"{server.http_url}/metrics")
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
        text = scrape.text
        assert metric(text, "stemcast_cache_requests_total", result="miss") == 1
        assert metric(text, "stemcast_cache_requests_total", result="hit") == 0
        assert metric(text, "stemcast_jobs_started_total", priority="normal") == 1
        assert metric(text, "stemcast_jobs_finished_total", state="completed",
                      priority="normal") == 1
        assert metric(text, "stemcast_queue_wait_seconds_count", priority="normal") == 1
        assert metric(text, "stemcast_separation_seconds_count") == 1
        assert metric(text, "stemcast_separation_seconds_sum") > 0
        assert metric(text, "stemcast_realtime_factor_count") == 1
        assert metric(text, "stemcast_jobs", state="completed", priority="normal") == 1
        assert metric(text, "stemcast_worker_restarts_total") == 0
        assert metric(text, "stemcast_callback_attempts_total") == 0
        assert metric(text, "stemcast_connected_clients") == 0
        assert metric(text, "stemcast_model_ready") == 1

        # A download held open keeps the folder past --min-keep-minutes, though the
        # cache is far over --cache-max-gb.
        with httpx.stream("GET", f"{server.http_url}/jobs/op-a/stems.zip",
                          timeout=30) as download:
            assert download.status_code == 200
            chunks = download.iter_bytes()
            next(chunks)
            assert metric(httpx.get(f"{server.http_url}/metrics").text,
                          "stemcast_cache_open_downloads") == 1
            time.sleep(MIN_KEEP_S + 2.0)
            assert job_dir.is_dir() and all(Path(p).is_file() for p in paths.values())
            size = sum(len(chunk) for chunk in chunks)  # finish the download
            assert size > 1_000_000
        # Without a reader, and once min-keep has passed, the pruner removes it.
        wait_for(lambda: not job_dir.exists(), MIN_KEEP_S + 10, "the job folder to go")
        gone = httpx.get(f"{server.http_url}/jobs/op-a/stems")
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "STEMS_REMOVED"
        text = httpx.get(f"{server.http_url}/metrics").text
        assert metric(text, "stemcast_cache_removed_total", reason="size") == 1
        assert metric(text, "stemcast_cache_removed_bytes_total") > 1_000_000
        assert metric(text, "stemcast_jobs", state="failed", priority="normal") == 1

        # The same audio again separates anew instead of pointing at missing files.
        again = submit_and_wait(server, "op-a-again", clip)
        assert all(Path(p).is_file() for p in again.values())
        assert Path(next(iter(again.values()))).parent.parent != job_dir
        text = httpx.get(f"{server.http_url}/metrics").text
        assert metric(text, "stemcast_cache_requests_total", result="miss") == 2
        assert metric(text, "stemcast_jobs_finished_total", state="completed",
                      priority="normal") == 2
    finally:
        server.stop()
    # --log-json: every line is one JSON object; the job's lines carry its id.
    lines = [json.loads(line) for line in server.log().splitlines()
             if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    job_lines = [e for e in lines if e["message"].startswith("job ")]
    assert job_lines and all("job_id" in e for e in job_lines)
    assert any("request_id" in e for e in lines)


def test_cache_command_line(tmp_path: Path) -> None:
    from stemcast.db.database import open_database
    from stemcast.jobs.models import SeparationOptions
    from stemcast.jobs.store import JobStore
    from stemcast_protocol import Priority

    data_dir = tmp_path / "data"

    async def populate() -> list[str]:
        db = await open_database(data_dir / "stemcast.sqlite3")
        store = JobStore(db)
        made = []
        for i, used in enumerate(["2000-01-01T00:00:00.000Z", "2001-01-01T00:00:00.000Z",
                                  None]):
            job = await store.create(key=f"k{i}", pcm_hash=f"h{i}", track_id=None,
                                     input_path="/in.wav", model="tiny",
                                     options=SeparationOptions(), priority=Priority.LOW,
                                     output_root=str(data_dir / "jobs"), duration_seconds=1.0)
            stem = Path(job.output_dir) / "stems" / "vocals.wav"
            stem.parent.mkdir(parents=True)
            stem.write_bytes(b"\0" * 2000)
            await store.mark_completed(job.id, {"vocals": str(stem)}, 1.0, 1.0)
            if used:
                await db.execute("UPDATE jobs SET last_used_at = ? WHERE id = ?",
                                 (used, job.id))
            made.append(job.id)
        await db.close()
        return made

    old, older_used, fresh = asyncio.run(populate())

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stemcast.cli", "cache", *args,
                               "--data-dir", str(data_dir)], capture_output=True, text=True,
                              timeout=60, check=False)

    listing = cli("ls", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [r["jobId"] for r in rows] == [old, older_used, fresh]
    assert all(r["sizeBytes"] == 2000 for r in rows)
    assert cli("prune").returncode == 2  # no limits given
    pruned = cli("prune", "--retention-hours", "24")
    assert pruned.returncode == 0, pruned.stderr
    assert {line.split("\t")[1] for line in pruned.stdout.splitlines()} == {old, older_used}
    assert not (data_dir / "jobs" / old).exists() and (data_dir / "jobs" / fresh).exists()
    cleared = cli("clear")  # the fresh one was used within --min-keep-minutes
    assert cleared.returncode == 0 and cleared.stdout == ""
    cleared = cli("clear", "--force")
    assert cleared.stdout.split("\t")[1] == fresh
    assert cli("ls", "--json").stdout == ""


def test_disk_full_while_writing_stems_fails_the_job_cleanly(tmp_path: Path,
                                                             tiny_model_repo: Path) -> None:
    """A real full disk can't be made here (no tmpfs mounts), so the server runs under
    RLIMIT_FSIZE: its stem writes fail with EFBIG (Python ignores SIGXFSZ), which the
    worker treats like ENOSPC."""
    import resource

    (tmp_path / "music").mkdir()
    clip = write_audio(tmp_path / "music" / "big.wav", make_music_like_signal(12.0, seed=9),
                       44100)
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(clip.parent)])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = 1_500_000
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        server.start(wait_model=False)  # the child (and its workers) inherit the limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    try:
        server.wait_ready(wait_model=True, timeout=60)
        response = httpx.post(f"{server.http_url}/jobs", json={
            "file_path": str(clip), "track_hash": "full", "options": {"stems": True}},
            timeout=30)
        assert response.status_code == 200, response.text
        status = wait_for(lambda: (s := httpx.get(f"{server.http_url}/jobs/full").json())
                          ["status"] in ("completed", "failed") and s, 90, "the job to end")
        assert status["status"] == "failed", status
        assert status["error_code"] == "DISK_FULL", status
        assert "no space left" in status["error"]
        # The partial files are gone and nothing in the cache points at them.
        assert list((data_dir / "jobs").iterdir()) == []
        assert httpx.get(f"{server.http_url}/health").json()["status"] == "ok"
    finally:
        server.stop()
