"""The fleet's object store path, worker side to API server side, through a folder store
(the S3 store is tested against moto's server in tests/integration/test_fleet_s3.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stemcast.config import Settings
from stemcast.fleet.server_files import ServerFiles
from stemcast.fleet.worker_files import WorkerFiles
from stemcast.separation.worker_messages import (
    ModelDescription,
    SeparateTask,
    TaskChunk,
    TaskDone,
    WorkerReady,
)
from stemcast.storage import job_objects
from stemcast.storage.store import FolderStore, StoreError, open_store

READY = WorkerReady("dsp", "dsp", (ModelDescription("dsp", ("bass", "other"), 44100, 2, "cpu",
                                                     "fp32", 10.0, "dsp"),), pid=1)


def test_folder_store_puts_lists_gets_and_deletes(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "bucket")
    (tmp_path / "bucket").mkdir()
    store.check()
    store.put_bytes("jobs/a/stems/bass.wav", b"bass")
    store.put_bytes("jobs/a/stems.json", b"{}")
    store.put_bytes("jobs/ab/x", b"other job")
    assert store.keys("jobs/a/") == ["jobs/a/stems.json", "jobs/a/stems/bass.wav"]
    store.get_file("jobs/a/stems/bass.wav", tmp_path / "down" / "bass.wav")
    assert (tmp_path / "down" / "bass.wav").read_bytes() == b"bass"
    assert store.delete_prefix("jobs/a/") == 2
    assert store.keys("jobs/") == ["jobs/ab/x"]
    with pytest.raises(StoreError, match="outside"):
        store.put_bytes("../escape", b"")
    with pytest.raises(StoreError, match="no object"):
        store.get_bytes("jobs/a/stems.json")


def test_bad_storage_urls_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="s3://BUCKET/PREFIX"):
        open_store("gs://bucket/x")
    with pytest.raises(StoreError, match="not a folder; create it"):
        open_store(f"file://{tmp_path}/missing").check()


async def test_regions_and_finished_files_reach_the_api_servers_folder(tmp_path: Path) -> None:
    (tmp_path / "bucket").mkdir()
    store = FolderStore(tmp_path / "bucket")
    music = tmp_path / "song.wav"
    music.write_bytes(b"RIFF-input")
    server_dir = tmp_path / "api" / "jobs" / "j1"
    task = SeparateTask("j1", str(music), str(server_dir))
    server, worker = ServerFiles(store), WorkerFiles(store, tmp_path / "scratch")

    await server.put_input(task)
    local = await worker.localize(task)
    assert Path(local.input_path).read_bytes() == b"RIFF-input"
    stems = Path(local.output_dir) / "stems"
    stems.mkdir(parents=True)
    frames = [bytes(range(i, i + 4)) * 10 for i in (0, 40)]  # 10 stereo 16-bit frames each
    for name in ("bass", "other"):
        (stems / f"{name}.s16.partial").write_bytes(frames[0] + frames[1])
    # The second region first: each lands at its own offset, as a rerun would write it.
    for start in (10, 0):
        chunk = TaskChunk("j1", start, 10)
        assert await worker.outgoing(chunk, task, READY) == chunk
        await server.pull("j1", chunk, [str(server_dir)])
    assert (server_dir / "stems" / "bass.s16.partial").read_bytes() == frames[0] + frames[1]

    for name in ("bass", "other"):
        (stems / f"{name}.s16.partial").rename(stems / f"{name}.wav")
    (Path(local.output_dir) / "stems.json").write_text(json.dumps(
        {"stems": {"bass": str(stems / "bass.wav"), "other": str(stems / "other.wav")}}))
    done = await worker.outgoing(TaskDone("j1", {"bass": str(stems / "bass.wav")}, 1.0, 1.0,
                                          44100), task, READY)
    assert isinstance(done, TaskDone)
    assert done.stems == {"bass": str(server_dir / "stems" / "bass.wav")}
    await server.pull("j1", done, [str(server_dir)])
    assert (server_dir / "stems" / "bass.wav").read_bytes() == frames[0] + frames[1]
    assert not list(server_dir.glob("stems/*.partial"))
    listed = json.loads((server_dir / "stems.json").read_text())["stems"]
    assert listed["other"] == str(server_dir / "stems" / "other.wav")

    await server.ended("j1", task)
    await worker.forget(task)
    assert store.keys("inputs/") == [] and store.keys("jobs/j1/regions/") == []
    assert not (tmp_path / "scratch" / "jobs" / "j1").exists()
    assert not await job_objects.restore_job_folder(str(server_dir))  # no store set
    job_objects.use_store(store)
    try:
        shutil.rmtree(server_dir)  # the API server's disk lost its copy: read back
        assert await job_objects.restore_job_folder(str(server_dir))
        assert (server_dir / "stems" / "bass.wav").read_bytes() == frames[0] + frames[1]
        await job_objects.remove_job_folder(str(server_dir))
        assert not await job_objects.restore_job_folder(str(server_dir))
    finally:
        job_objects.use_store(None)
    assert store.keys("jobs/") == [] and not server_dir.exists()


def test_storage_without_a_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="needs --queue"):
        Settings(storage_url="s3://stems/fleet").validate()
    Settings(storage_url="s3://stems/fleet", queue_url="redis://127.0.0.1:6379/0").validate()
