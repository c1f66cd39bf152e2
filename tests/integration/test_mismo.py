"""stemcast as a drop-in for the Mismo system (seed 000, seed 004).

Played from the field lists of the real Mismo app server (DrorT/mismo.dj_node_server:
pythonClient.service.js, analysisCallback.service.js, analysis.routes.js,
waveform.service.js, audioServerClient.service.js): a real HTTP receiver takes the
callbacks the app would, and a real WebSocket server on loopback stands in for the
Mismo audio engine, which stemcast dials (`serve --engine-url`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.callback_receiver import CallbackReceiver
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

STEMS = ("bass", "drums", "other", "vocals")
# What the app's validators require (analysisCallback.service.js, waveform.service.js).
APP_CHARACTERISTICS = {"danceability", "valence", "arousal", "energy", "loudness",
                       "acousticness", "instrumentalness"}
APP_MIX_WAVEFORM = {"zoom_level", "samples_per_pixel", "num_pixels", "low_freq_amplitude",
                    "low_freq_intensity", "mid_freq_amplitude", "mid_freq_intensity",
                    "high_freq_amplitude", "high_freq_intensity"}
# pythonClient.service.js sends every option, true or false.
APP_OPTIONS = {"basic_features": True, "characteristics": True, "genre": False,
               "stems": True, "segments": False, "transitions": False}


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mismo-music")
    rng = np.random.default_rng(7)
    rain = (rng.standard_normal((2, 8 * 44100)) * 0.1).astype(np.float32)
    return {
        "song": write_audio(folder / "song.wav", make_music_like_signal(6.0, seed=71), 44100),
        "other": write_audio(folder / "other.wav", make_music_like_signal(5.0, seed=72),
                             44100),
        "engine": write_audio(folder / "engine.wav", make_music_like_signal(5.0, seed=73),
                              44100),
        "rain": write_audio(folder / "rain.wav", rain, 44100),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path,
           music: dict[str, Path]) -> Any:
    proc = ServerProcess(tmp_path_factory.mktemp("mismo") / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(music["song"].parent), "--callback-retry-delay", "0.2",
    ]).start()
    yield proc
    proc.stop()


def submit(server: ServerProcess, receiver: CallbackReceiver, path: Path, job: str,
           options: dict[str, Any], mode: str = "path") -> None:
    """As pythonClient.service.js _requestAnalysisLocal does."""
    response = httpx.post(f"{server.http_url}/jobs", json={
        "file_path": str(path), "track_hash": job, "options": options,
        "callback_url": receiver.url, "stem_delivery_mode": mode}, timeout=30)
    assert response.status_code == 200, response.text


def test_an_app_server_registers_tracks_by_its_own_ids(server: ServerProcess,
                                                       music: dict[str, Path]) -> None:
    app_id = str(uuid.uuid4())
    url = f"{server.http_url}/api/tracks"
    first = httpx.post(url, json={"path": str(music["other"]), "trackId": app_id})
    assert first.status_code == 201, first.text
    assert first.json()["trackId"] == app_id and first.json()["externalId"] == app_id
    again = httpx.post(url, json={"path": str(music["other"]), "trackId": app_id})
    assert again.status_code == 201 and again.json()["trackId"] == app_id
    assert httpx.get(f"{url}/{app_id}").json()["filePath"] == str(music["other"])
    clash = httpx.post(url, json={"path": str(music["other"]), "trackId": "another-id"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "TRACK_ID_CONFLICT"
    assert app_id in clash.json()["error"]["message"]
    taken = httpx.post(url, json={"path": str(music["rain"]), "trackId": app_id})
    assert taken.status_code == 409 and str(music["other"]) in taken.json()["error"]["message"]
    bad = httpx.post(url, json={"path": str(music["rain"]), "trackId": "no spaces/please"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_FIELD"
    # A file the server knew under its own id takes the app's id; GET by it resolves.
    known = httpx.post(url, json={"path": str(music["rain"])}).json()["trackId"]
    adopted = httpx.post(url, json={"path": str(music["rain"]), "trackId": "app-rain-1"})
    assert adopted.status_code == 201 and adopted.json()["trackId"] == "app-rain-1"
    assert httpx.get(f"{url}/{known}").status_code == 404
    assert httpx.get(f"{url}/app-rain-1").json()["filePath"] == str(music["rain"])


def test_full_analysis_as_the_app_asks_for_it(server: ServerProcess,
                                              music: dict[str, Path]) -> None:
    with CallbackReceiver() as receiver:
        submit(server, receiver, music["song"], "mismo-full", APP_OPTIONS)
        done = receiver.wait_for("job_completed", timeout=180)
    assert receiver.stages() == ["basic_features", "characteristics", "stems",
                                 "job_completed"]
    assert done.body["data"]["stages_completed"] == ["basic_features", "characteristics",
                                                     "stems"]
    features = receiver.received[0].body["data"]
    # The app calls a track analysed only when bpm > 0, and lays its grid from these.
    assert features["bpm"] > 0 and features["tempo"] == features["bpm"]
    assert 0 <= features["bpm_confidence"] <= 1
    assert features["key"] in {str(k) for k in range(12)}
    assert isinstance(features["firstBeatOffset"], float)
    if features["beats"]:
        assert features["firstBeatOffset"] == features["beats"][0]
    assert features["firstPhraseBeatNo"] in (1, 2, 3, 4)
    assert 0 <= features["audibleStartTime"] < features["audibleEndTime"] <= 6.01
    assert [w["zoom_level"] for w in features["waveforms"]] == [0, 1, 2]
    for entry in features["waveforms"]:
        assert set(entry) >= APP_MIX_WAVEFORM
        assert len(entry["mid_freq_intensity"]) == entry["num_pixels"] > 0
    traits = receiver.received[1].body["data"]
    assert set(traits) >= APP_CHARACTERISTICS
    for name in ("danceability", "arousal", "energy"):
        assert 0 <= traits[name] <= 1, traits
    assert traits["loudness"] == features["loudness_lufs"]
    assert traits["spectral_centroid"] > 0 and 0 < traits["zero_crossing_rate"] < 1
    assert traits["valence"] is None and "valence" in traits["unavailable"]
    stems = receiver.received[2].body["data"]
    assert stems["delivery_mode"] == "path" and set(stems["stems"]) == set(STEMS)
    assert [w["zoom_level"] for w in stems["waveforms"]] == [0, 1]
    for entry in stems["waveforms"]:
        for stem in STEMS:
            assert len(entry[f"{stem}_amplitude"]) == entry["num_pixels"]
        assert entry["samples_per_pixel"] * entry["num_pixels"] >= 6.0 * 44100 * 0.99
    assert {w["zoom_level"] for w in stems["peaks"]} == {1, 2}
    # GET /jobs/{id}/stems streams the same data from the same files.
    job_id = done.body["job_id"]
    polled = httpx.get(f"{server.http_url}/jobs/{job_id}/stems", timeout=30).json()["data"]
    assert polled["waveforms"] == stems["waveforms"] and polled["peaks"] == stems["peaks"]
    # The outbox keeps references to the waveform files, not their content (an hour's
    # band waveforms are 23 MB of JSON): the bodies above were made from the files.
    with sqlite3.connect(f"file:{server.data_dir / 'stemcast.sqlite3'}?mode=ro",
                         uri=True) as db:
        rows = dict(db.execute("SELECT stage, data FROM callbacks WHERE api_job_id = ?",
                               (job_id,)).fetchall())
    assert json.loads(rows["basic_features"])["waveforms"].keys() == {"$stemcast.json_file"}
    stored = json.loads(rows["stems"])
    assert stored["peaks"].keys() == stored["waveforms"].keys() == {"$stemcast.json_file"}


def test_a_beatless_track_still_gets_a_bpm(server: ServerProcess,
                                           music: dict[str, Path]) -> None:
    with CallbackReceiver() as receiver:
        submit(server, receiver, music["rain"], "mismo-rain",
               {**APP_OPTIONS, "stems": False})
        receiver.wait_for("job_completed", timeout=120)
    assert receiver.stages() == ["basic_features", "characteristics", "job_completed"]
    features = receiver.received[0].body["data"]
    assert features["bpm"] > 0 and features["bpm_tracked"] is None
    assert features["bpm_measured"] is False and features["bpm_confidence"] < 0.2
    assert features["firstBeatOffset"] == features["audibleStartTime"]
    assert receiver.received[1].body["data"]["danceability"] == 0.0


def test_a_failed_job_says_why_in_a_string(server: ServerProcess,
                                           music: dict[str, Path]) -> None:
    with CallbackReceiver() as receiver:
        submit(server, receiver, music["song"], "mismo-fail",
               {"stems": True, "model": "no-such-model"})
        failed = receiver.wait_for("job_failed", timeout=60)
    data = failed.body["data"]
    assert isinstance(data["error"], str) and "no-such-model" in data["error"]
    assert data["error_code"] and failed.body["error"]["code"] == data["error_code"]
    status = httpx.get(f"{server.http_url}/jobs/mismo-fail").json()
    assert status["status"] == "failed" and status["error"] == data["error"]
    assert status["error_code"] == data["error_code"]


def test_poll_mode_urls_are_absolute(server: ServerProcess, music: dict[str, Path]) -> None:
    with CallbackReceiver() as receiver:
        submit(server, receiver, music["other"], "mismo-poll", {"stems": True}, mode="poll")
        stems = receiver.wait_for("stems", timeout=120).body["data"]
    assert all(url.startswith(f"{server.http_url}/jobs/mismo-poll/stems/")
               for url in stems["stems"].values()), stems["stems"]
    assert stems["zip"] == f"{server.http_url}/jobs/mismo-poll/stems.zip"
    audio = httpx.get(stems["stems"]["drums"], timeout=30)
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    polled = httpx.get(f"{server.http_url}/jobs/mismo-poll/stems", timeout=30).json()
    assert polled["data"]["stems"] == stems["stems"]


# ---- the engine link -------------------------------------------------------------------


class FakeEngine:
    """The Mismo audio engine's side of the link: a WebSocket server that waits for the
    app server to dial in."""

    def __init__(self) -> None:
        self.links: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(self, connection: ServerConnection) -> None:
        await self.links.put(connection)
        await connection.wait_closed()


async def receive_json(link: ServerConnection, timeout: float = 60) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(link.recv(), timeout))
    return message


async def until(link: ServerConnection, done: Any, timeout: float = 180) -> list[dict[str, Any]]:
    """Messages up to and including the first for which done(message) is true."""
    deadline = time.monotonic() + timeout
    messages: list[dict[str, Any]] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not done within {timeout} s: {messages}")
        messages.append(await receive_json(link, left))
        if done(messages[-1]):
            return messages


async def test_an_engine_that_is_a_server_gets_track_info_and_stems(
        tmp_path: Path, tiny_model_repo: Path, music: dict[str, Path]) -> None:
    engine = FakeEngine()
    async with serve(engine.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        proc = ServerProcess(tmp_path / "data", args=[
            "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
            "--allow-path-prefix", str(music["engine"].parent),
            "--engine-url", f"ws://127.0.0.1:{port}"])
        await asyncio.to_thread(proc.start)
        try:
            await _engine_session(engine, proc, music)
        finally:
            await asyncio.to_thread(proc.stop)


async def _engine_session(engine: FakeEngine, proc: ServerProcess,
                          music: dict[str, Path]) -> None:
    link = await asyncio.wait_for(engine.links.get(), 60)
    assert await receive_json(link) == {"type": "appServerIdentify"}
    # The app's UUID for the track, given with `stemcast add --id` while the server runs.
    app_id = str(uuid.uuid4())
    added = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "stemcast.cli", "add", str(music["engine"]), "--id", app_id,
        "--data-dir", str(proc.data_dir)], capture_output=True, text=True, timeout=60)
    assert added.returncode == 0 and added.stdout.startswith(app_id), added.stderr
    # What the engine sends besides requests: none of it is answered.
    await link.send(json.dumps({"success": True,
                                "message": "App server registered successfully"}))
    await link.send(json.dumps({"type": "welcome", "version": "1.0"}))
    await link.send(json.dumps({"event": "deckStateUpdate", "deck": "A", "playing": False}))
    await link.send(json.dumps({"command": "deck.setCue", "deck": "A", "index": 0,
                                "position": 1.5}))
    await link.send(json.dumps({"command": "getTrackInfo", "trackId": app_id,
                                "stems": True, "requestId": "r1", "deck": "A"}))
    messages = await until(link, lambda m: m.get("type") == "stemsReady")
    info = messages[0]  # the first answer: nothing before it was answered
    assert info["success"] is True and info["requestId"] == "r1"
    assert info["trackId"] == app_id and info["filePath"] == str(music["engine"])
    assert isinstance(info["bpm"], int | float)  # a number, never null, for the engine
    assert isinstance(info["firstBeatOffset"], int | float)
    assert info["firstPhraseBeatNo"] in (1, 2, 3, 4) and info["hotCues"] == []
    ready = messages[-1]
    assert ready["success"] is True and ready["requestId"] == "r1"
    assert ready["trackId"] == app_id and set(ready["stems"]) == set(STEMS)
    assert all(Path(p).is_file() for p in ready["stems"].values())
    analysed = [m for m in messages if m.get("type") == "trackAnalysis"]
    if not analysed:  # it may come after the stems
        analysed = (await until(link, lambda m: m.get("type") == "trackAnalysis"))[-1:]
    assert analysed[0]["bpm"] > 0 and analysed[0]["trackId"] == app_id
    assert analysed[0]["firstBeatOffset"] >= 0

    # Errors as the app's sendError shapes them: a string, the track, the code beside.
    await link.send(json.dumps({"command": "getTrackInfo", "trackId": "not-a-track",
                                "requestId": "r2"}))
    error = (await until(link, lambda m: m.get("success") is False))[-1]
    assert error["trackId"] == "not-a-track" and error["requestId"] == "r2"
    assert isinstance(error["error"], str) and "not-a-track" in error["error"]
    assert error["errorCode"] == "TRACK_NOT_FOUND"

    # The engine restarts: stemcast dials again and identifies itself again.
    await link.close()
    again = await asyncio.wait_for(engine.links.get(), 60)
    assert await receive_json(again) == {"type": "appServerIdentify"}
    await again.send(json.dumps({"command": "getTrackInfo", "trackId": app_id,
                                 "requestId": "r3"}))
    info = (await until(again, lambda m: m.get("requestId") == "r3"))[-1]
    assert info["success"] is True and info["bpm"] > 0 and info["trackId"] == app_id


async def test_json_clients_without_hello_get_seed_errors_on_ws(
        server: ServerProcess) -> None:
    from websockets.asyncio.client import connect

    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"event": "trackLoaded", "deck": "B", "success": True}))
        await ws.send(json.dumps({"command": "getTrackInfo", "trackId": "missing-1",
                                  "requestId": 5}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert reply["success"] is False and reply["requestId"] == 5
        assert reply["trackId"] == "missing-1" and reply["errorCode"] == "TRACK_NOT_FOUND"
        assert isinstance(reply["error"], str)
        # After hello the client speaks stemcast's own protocol: error objects.
        await ws.send(json.dumps({"command": "hello", "protocolVersion": 1}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "hello"
        await ws.send(json.dumps({"command": "getTrackInfo", "trackId": "missing-2"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert reply["error"]["code"] == "TRACK_NOT_FOUND"
