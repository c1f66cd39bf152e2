"""A full disk is DISK_FULL, in the one JSON error shape, on every door (upload, path,
POST /jobs, a new WebSocket track) and in analysis and separation, with nothing
half-written; once space is free again the same requests succeed.

The disk is a real one: a small tmpfs, filled to its last block. Mounting needs root;
without it these drills are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stemcast_protocol import StemcastClient
from tests.faults.helpers import until_all_done, wait_for
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                             str(folder)], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip()}); "
                    "the disk-full drills need root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Write until the filesystem refuses another byte."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:  # unbuffered: close writes nothing
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _assert_disk_full(response: httpx.Response) -> None:
    assert response.status_code == 507, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "DISK_FULL", body
    assert "disk is full" in body["error"]["message"] and "Free" in body["error"]["message"]


async def test_every_door_says_disk_full_and_keeps_nothing_half_written(
        tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    song = write_audio(music / "song.wav", make_music_like_signal(4.0, seed=41), 44100)
    other = write_audio(music / "other.wav", make_music_like_signal(4.0, seed=42), 44100)
    with small_disk(tmp_path / "disk", "16m") as disk:
        data_dir = disk / "data"
        server = ServerProcess(data_dir, args=["--model", "dsp", "--allow-path-prefix",
                                               str(music)],
                               log_path=tmp_path / "server.log").start()
        try:
            # Every write from now on must grow a file: SQLite's log starts empty.
            with sqlite3.connect(data_dir / "stemcast.sqlite3") as conn:
                busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
            filler = fill(disk)
            uploads_before = _files(data_dir / "uploads")

            with httpx.Client(base_url=server.http_url, timeout=60) as http:
                audio = song.read_bytes()
                _assert_disk_full(http.post("/api/tracks",
                                            files={"file": ("song.wav", audio, "audio/wav")}))
                _assert_disk_full(http.post("/api/tracks", json={"path": str(song)}))
                _assert_disk_full(http.post("/jobs", json={"file_path": str(other)}))
                _assert_disk_full(http.post("/jobs", files={"file": ("s.wav", audio)}))
            async with StemcastClient.connect(server.ws_url) as client:
                await client.send({"command": "getTrackInfo", "filePath": str(song),
                                   "stems": True, "requestId": "new-track"})
                reply = await client.receive(timeout=60)
                assert reply["type"] == "error" and reply["requestId"] == "new-track", reply
                assert reply["error"]["code"] == "DISK_FULL", reply
            # Nothing half-written: no upload (or part of one) stayed.
            assert _files(data_dir / "uploads") == uploads_before

            # Space again: the same requests go through.
            filler.unlink()
            with httpx.Client(base_url=server.http_url, timeout=60) as http:
                added = http.post("/api/tracks", files={"file": ("song.wav", audio)})
                assert added.status_code == 201, added.text
                assert http.post("/jobs", json={"file_path": str(other)}).status_code == 200
            assert server.health()["status"] == "ok"
        finally:
            server.stop()


async def test_analysis_and_separation_on_a_full_disk(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    song = write_audio(music / "song.wav", make_music_like_signal(4.0, seed=43), 44100)
    data_dir = tmp_path / "data"
    with small_disk(data_dir / "analysis", "1m") as analysis_dir, \
            small_disk(data_dir / "jobs", "1m") as jobs_dir:
        fill(analysis_dir)
        fill(jobs_dir)
        server = ServerProcess(data_dir, args=["--model", "dsp", "--allow-path-prefix",
                                               str(music)]).start()
        try:
            added = httpx.post(f"{server.http_url}/api/tracks", json={"path": str(song)},
                               timeout=60)
            assert added.status_code == 201, added.text
            track_id = added.json()["trackId"]

            def analysis() -> dict[str, Any] | None:
                body: dict[str, Any] = httpx.get(
                    f"{server.http_url}/api/tracks/{track_id}/analysis", timeout=30).json()
                return body if body["state"] != "pending" else None

            result = wait_for(analysis, 120, "the analysis to end")
            assert result["state"] == "failed", result
            assert result["error"].startswith("DISK_FULL: the server's disk is full"), result

            async with StemcastClient.connect(server.ws_url) as client:
                await client.send({"command": "getTrackInfo", "trackId": track_id,
                                   "stems": True, "requestId": "stems"})
                failed = (await until_all_done(client, {"stems"}, timeout=120))["stems"][-1]
            assert failed["type"] == "stemsFailed", failed
            assert failed["error"]["code"] == "DISK_FULL", failed
            # Nothing half-written in either place: only the fillers are there.
            assert [p.name for p in _files(analysis_dir)] == ["filler"]
            assert [p.name for p in _files(jobs_dir)] == ["filler"]
        finally:
            server.stop()
