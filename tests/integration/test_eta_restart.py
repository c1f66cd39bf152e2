"""The ETA's learned timings survive a restart: a real server, stopped and started again on
the same data directory, estimates its first job from the jobs before the restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_MODEL
from tests.integration.test_ws_flow import run_until_done
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


def _server(data_dir: Path, repo: Path, clips: Path) -> ServerProcess:
    return ServerProcess(data_dir, args=["--model", TINY_MODEL, "--model-repo", str(repo),
                                         "--allow-path-prefix", str(clips)])


async def _separate(server: ServerProcess, clip: Path, request_id: str) -> list[dict[str, Any]]:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(clip), "stems": True,
                           "requestId": request_id})
        messages = await run_until_done(client, request_id, timeout=240)
    assert messages[-1]["type"] == "stemsReady", messages[-1]
    assert messages[-1]["cached"] is False
    return messages


def _before_separation(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's progress messages sent before separation had moved at all (not the
    first "decoding" one, sent while the server reads the file, before there is a job)."""
    out = []
    for message in messages:
        if message["type"] != "progress" or message.get("jobId") is None:
            continue
        if message["stage"] == "separating" and message["progress"] > 0.05:
            break
        out.append(message)
    return out


async def test_the_first_job_after_a_restart_is_estimated(tmp_path: Path,
                                                          tiny_model_repo: Path) -> None:
    clips = []
    for seed in (21, 22, 23):
        clip = tmp_path / "clips" / f"clip{seed}.wav"
        clip.parent.mkdir(exist_ok=True)
        write_audio(clip, make_music_like_signal(12.0, seed=seed), 44100)
        clips.append(clip)
    data_dir = tmp_path / "data"
    server = _server(data_dir, tiny_model_repo, clips[0].parent).start()
    try:
        first = await _separate(server, clips[0], "first")
        # A fresh server knows nothing of the model's speed until separation moves.
        assert all(m.get("etaSeconds") is None for m in _before_separation(first))
        await _separate(server, clips[1], "second")
        learned = server.health()["queue"]["realtimeFactors"]
    finally:
        server.stop()
    with sqlite3.connect(data_dir / "stemcast.sqlite3") as db:
        rows = db.execute("SELECT model, length_bucket, stages FROM eta_timings").fetchall()
    assert [(model, bucket) for model, bucket, _ in rows] == [(TINY_MODEL, 1)] * 2
    assert all('"separating"' in stages and '"writing"' in stages for _, _, stages in rows)

    restarted = _server(data_dir, tiny_model_repo, clips[0].parent).start()
    try:
        assert restarted.health()["queue"]["realtimeFactors"] == learned
        after = await _separate(restarted, clips[2], "after")
    finally:
        restarted.stop()
    early = _before_separation(after)
    # From its first word the job has an estimate (the model's timings from before the
    # restart), with a range: two jobs learned are not yet enough to be sure.
    assert early and all(m.get("etaSeconds") is not None for m in early), early
    assert all(m.get("etaRange") is not None for m in early), early
    for message in early:
        low, high = message["etaRange"]
        assert low <= message["etaSeconds"] <= high
