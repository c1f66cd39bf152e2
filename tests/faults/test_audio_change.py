"""Stems always belong to their audio: a file rewritten while its job waits (even at the
same size with its mtime put back) is never separated under the old audio's key.

The DSP engine's stems sum to its input exactly, so the stems say which audio they came
from: their sum correlates ~1 with that audio and ~0 with the other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from stemcast_protocol import StemcastClient
from tests.faults.helpers import queue, until_all_done, wait_for
from tests.integration.test_ws_flow import run_until_done
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


def _stems_sum(ready: dict[str, Any]) -> np.ndarray:
    total: np.ndarray | None = None
    for path in ready["stems"].values():
        data, _rate = sf.read(path, dtype="float64", always_2d=True)
        total = data if total is None else total + data
    assert total is not None
    return total.T


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    frames = min(a.shape[1], b.shape[1])
    return float(np.corrcoef(a[:, :frames].ravel(), b[:, :frames].ravel())[0, 1])


def _first_job_id(messages: list[dict[str, Any]]) -> str:
    return next(m["jobId"] for m in messages if m.get("jobId"))


def _final(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in reversed(messages) if m["type"] in ("stemsReady", "stemsFailed"))


async def _job_of(client: StemcastClient, request_id: str) -> str:
    """Wait for the request's first progress that names its job (hashed and queued)."""
    while True:
        message = await client.receive(timeout=60)
        if message.get("requestId") == request_id and message.get("jobId"):
            assert message["type"] == "progress", message
            return str(message["jobId"])


@pytest.mark.parametrize("rewrite", ["same size, mtime restored", "re-exported"])
async def test_a_file_changed_while_its_job_waits(tmp_path: Path, rewrite: str) -> None:
    audio_a = make_music_like_signal(6.0, seed=21)
    audio_b = make_music_like_signal(6.0 if rewrite.startswith("same") else 5.0, seed=22)
    track = write_audio(tmp_path / "track.wav", audio_a, 44100)
    copy_a = write_audio(tmp_path / "copy_a.wav", audio_a, 44100)
    # Four minutes: never done before the rewrite below, however fast the machine (it is
    # cancelled then, so its length costs nothing).
    blocker = write_audio(tmp_path / "blocker.wav", make_music_like_signal(240.0, seed=23),
                          44100)
    server = ServerProcess(tmp_path / "data", args=[
        "--model", "dsp", "--max-concurrent-jobs", "1",
        "--allow-path-prefix", str(tmp_path)]).start()
    try:
        async with StemcastClient.connect(server.ws_url) as client:
            # The only worker separates a long track, so the next jobs wait in the queue.
            await client.send({"command": "getTrackInfo", "filePath": str(blocker),
                               "stems": True, "requestId": "blocker"})
            wait_for(lambda: any(j["state"] == "running" for j in queue(server)), 60,
                     "the blocker to run")
            await client.send({"command": "getTrackInfo", "filePath": str(track),
                               "stems": True, "priority": "low", "requestId": "track"})
            old_job = await _job_of(client, "track")
            # An unchanged copy of the same audio joins the same job.
            await client.send({"command": "getTrackInfo", "filePath": str(copy_a),
                               "stems": True, "priority": "low", "requestId": "copy"})
            assert await _job_of(client, "copy") == old_job
            assert any(j["jobId"] == old_job and j["state"] == "queued" for j in queue(server))

            before = os.stat(track)
            if rewrite.startswith("same"):
                new_bytes = write_audio(tmp_path / "b.wav", audio_b, 44100).read_bytes()
                assert len(new_bytes) == before.st_size
                with open(track, "r+b") as handle:  # in place: same inode, same size
                    handle.write(new_bytes)
                os.utime(track, ns=(before.st_atime_ns, before.st_mtime_ns))
                assert os.stat(track).st_mtime_ns == before.st_mtime_ns
            else:
                write_audio(track, audio_b, 44100)

            assert any(j["jobId"] == old_job and j["state"] == "queued" for j in queue(server))
            await client.send({"command": "cancel", "requestId": "blocker"})  # frees the worker
            done = await until_all_done(client, {"track", "copy"}, timeout=240)
            track_messages, copy_messages = done["track"], done["copy"]

        # The final message, not the last: a trackAnalysis may come after stemsReady.
        track_ready, copy_ready = _final(track_messages), _final(copy_messages)
        assert track_ready["type"] == "stemsReady", track_ready
        assert copy_ready["type"] == "stemsReady", copy_ready
        # Each request got the stems of its own file's audio, from a job of its own.
        assert track_ready["jobId"] != old_job and copy_ready["jobId"] != old_job
        assert track_ready["jobId"] != copy_ready["jobId"]
        assert _correlation(_stems_sum(track_ready), audio_b) > 0.999
        assert abs(_correlation(_stems_sum(track_ready), audio_a)) < 0.2
        assert _correlation(_stems_sum(copy_ready), audio_a) > 0.999

        # The cache now answers each audio with its own stems.
        async with StemcastClient.connect(server.ws_url) as client:
            for name, audio, job in (("copy_a.wav", audio_a, copy_ready["jobId"]),
                                     ("track.wav", audio_b, track_ready["jobId"])):
                await client.send({"command": "getTrackInfo", "filePath": str(tmp_path / name),
                                   "stems": True, "requestId": name})
                again = (await run_until_done(client, name, timeout=60))[-1]
                assert again["type"] == "stemsReady" and again["cached"] is True, again
                assert again["jobId"] == job
                assert _correlation(_stems_sum(again), audio) > 0.999
            # The refused job never completed: nothing is filed under the old key from it.
            assert _first_job_id(track_messages) == old_job
    finally:
        server.stop()
