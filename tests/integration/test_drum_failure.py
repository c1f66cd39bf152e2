"""A failed drum transcription is the same on both front doors: the stems stay delivered.

The server runs a tiny random-weight Demucs model that makes no drum stem (bass, other,
vocals, piano), so a request with `drums: true` gets its stems and then a transcription
error (INVALID_FIELD: the model makes no drum stem) on the WebSocket and on the job API.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from stemcast.separation.random_model import build_htdemucs, save_to_repo
from stemcast_protocol import FrameFormat
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.callback_receiver import CallbackReceiver
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

NO_DRUMS = ("bass", "other", "vocals", "piano")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("drumless-music")
    return write_audio(folder / "song.wav", make_music_like_signal(5.0, seed=21), 44100)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Any:
    repo = tmp_path_factory.mktemp("drumless-repo")
    save_to_repo(build_htdemucs("tiny", NO_DRUMS, seed=6), repo, "drumless")
    proc = ServerProcess(tmp_path_factory.mktemp("drumless") / "data", args=[
        "--model", "drumless", "--model-repo", str(repo),
        "--allow-path-prefix", str(clip.parent), "--callback-retry-delay", "0.2",
    ]).start()
    yield proc
    proc.stop()


async def test_websocket_sends_the_stems_then_drums_failed(server: ServerProcess,
                                                           clip: Path) -> None:
    kinds: list[str] = []
    async with SpecCheckedClient.connect(server.ws_url, fmt=FrameFormat.JSON) as client:
        # hello first: stemcast's own shapes, not seed 000's dialect (PROTOCOL.md 1.1)
        await client.send({"command": "hello", "protocolVersion": 1})
        await client.send({"command": "getTrackInfo", "filePath": str(clip), "stems": True,
                           "drums": True, "requestId": "ws"})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            message = await client.receive(timeout=deadline - time.monotonic())
            kinds.append(message["type"])
            if message["type"] == "stemsReady":
                assert set(message["stems"]) == set(NO_DRUMS)
            if message["type"] in ("drumsFailed", "drumsReady", "stemsFailed", "error"):
                break
    assert kinds[-1] == "drumsFailed" and "stemsReady" in kinds, kinds
    assert message["error"]["code"] == "INVALID_FIELD"
    assert "drum stem" in message["error"]["message"]


def test_job_api_completes_with_a_failed_drums_stage(server: ServerProcess,
                                                     clip: Path) -> None:
    with CallbackReceiver() as receiver:
        response = httpx.post(f"{server.http_url}/jobs", timeout=30, json={
            "file_path": str(clip), "track_hash": "drumless-1",
            "options": {"stems": True, "drums": True}, "callback_url": receiver.url})
        assert response.status_code == 200, response.text
        receiver.wait_for("job_completed", timeout=90)
    assert receiver.stages() == ["stems", "drums", "job_completed"]
    stems, drums, done = receiver.received
    assert stems.body["status"] == "completed"
    assert set(stems.body["data"]["stems"]) == set(NO_DRUMS)
    assert drums.body["status"] == "failed"
    assert drums.body["error"]["code"] == "INVALID_FIELD"  # as drumsFailed says it
    assert done.body["data"]["stages_completed"] == ["stems"]
    status = httpx.get(f"{server.http_url}/jobs/drumless-1").json()
    assert status["status"] == "completed" and status["stages_completed"] == ["stems"]
    assert status["error_code"] == "INVALID_FIELD" and "drum stem" in status["error"]
    # The stems stay pollable: the job completed.
    polled = httpx.get(f"{server.http_url}/jobs/drumless-1/stems", timeout=30)
    assert polled.status_code == 200 and set(polled.json()["data"]["stems"]) == set(NO_DRUMS)
