"""`stemcast cache clear|prune` and the store a data folder's server used (a folder store:
the S3 one, on moto's server, is in tests/integration/test_fleet_s3.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from stemcast.cli import main
from stemcast.db.database import open_database
from stemcast.jobs.models import SeparationOptions
from stemcast.jobs.store import JobStore
from stemcast.storage.job_objects import use_store
from stemcast.storage.store_record import record_store, recorded_store
from stemcast_protocol import Priority


@pytest.fixture(autouse=True)
def no_store_left() -> Iterator[None]:
    yield
    use_store(None)  # main() runs in this process: the module-level store goes with it


def _finished_job(data_dir: Path, bucket: Path, name: str) -> tuple[Path, Path]:
    """A completed job: its folder, and its stem's object in the folder store."""
    async def make() -> str:
        db = await open_database(data_dir / "stemcast.sqlite3")
        store = JobStore(db)
        job = await store.create(key=name, pcm_hash=name, track_id=None, input_path="/in.wav",
                                 model="tiny", options=SeparationOptions(),
                                 priority=Priority.LOW, output_root=str(data_dir / "jobs"),
                                 duration_seconds=1.0)
        stem = Path(job.output_dir) / "stems" / "vocals.wav"
        stem.parent.mkdir(parents=True)
        stem.write_bytes(b"\0" * 100)
        await store.mark_completed(job.id, {"vocals": str(stem)}, 1.0, 1.0)
        await db.close()
        return job.id

    job_id = asyncio.run(make())
    stored = bucket / "jobs" / job_id / "stems" / "vocals.wav"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"\0" * 100)
    return data_dir / "jobs" / job_id, stored


def test_clear_follows_the_store_its_server_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, bucket = tmp_path / "data", tmp_path / "bucket"
    folder, stored = _finished_job(data, bucket, "a")
    url = f"file://{bucket}"
    record_store(data, url, None)
    record = recorded_store(data)
    assert record is not None and record.url == url and record.endpoint is None
    clear = ["cache", "clear", "--force", "--data-dir", str(data)]

    assert main(clear) == 2  # not told about the store: refuses, removes nothing
    said = capsys.readouterr().err
    assert f"--storage {url}" in said and "--local-only" in said
    assert main(["cache", "prune", "--retention-hours", "0", "--data-dir", str(data)]) == 2
    assert main([*clear, "--local-only", "--storage", url]) == 2
    assert main([*clear, "--storage", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert folder.is_dir() and stored.is_file()

    assert main([*clear, "--storage", url]) == 0
    assert not folder.exists() and not stored.exists()

    kept_folder, kept = _finished_job(data, bucket, "b")
    assert main([*clear, "--local-only"]) == 0  # the local files only, on purpose
    assert not kept_folder.exists() and kept.is_file()


def test_a_data_folder_without_a_store_clears_as_before(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder, stored = _finished_job(data, tmp_path / "elsewhere", "c")
    assert main(["cache", "clear", "--force", "--data-dir", str(data)]) == 0
    assert not folder.exists()
    assert stored.is_file()  # no store named, none recorded: nothing else touched
