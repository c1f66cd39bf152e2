"""The engine's flow against a real server: getTrackInfo -> progress -> stemsReady."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from stemcast.audio import decode, resample, to_channels
from stemcast.audio.wav_writer import float_to_pcm16
from stemcast.separation.demucs_engine import DemucsEngine
from stemcast_protocol import FrameFormat
from tests.conftest import TINY_MODEL
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

STEMS = {"bass", "drums", "other", "vocals"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path,
           music_dir: Path) -> Any:
    data_dir = tmp_path_factory.mktemp("server") / "data"
    proc = ServerProcess(
        data_dir,
        args=["--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
              "--library", str(music_dir)],
    ).start()
    assert proc.health()["model"]["state"] == "ready", proc.log()
    yield proc
    proc.stop()


async def run_until_done(client: SpecCheckedClient, request_id: str,
                         timeout: float = 60) -> list[dict[str, Any]]:
    """Messages for one request up to its stemsReady/stemsFailed, with arrival times."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await client.receive(timeout=deadline - time.monotonic())
        if message.get("requestId") != request_id:
            continue
        message["_t"] = time.monotonic()
        messages.append(message)
        if message["type"] in ("stemsReady", "stemsFailed"):
            return messages
    raise AssertionError(f"no stemsReady within {timeout} s: {messages}")


async def test_full_flow_msgpack(server: ServerProcess, music_dir: Path,
                                 tiny_model_repo: Path) -> None:
    song = music_dir / "song.wav"
    async with SpecCheckedClient.connect(server.ws_url, fmt=FrameFormat.MSGPACK) as client:
        sent = time.monotonic()
        await client.send({"command": "getTrackInfo", "filePath": str(song), "stems": True,
                           "requestId": "r1"})
        messages = await run_until_done(client, "r1")
    info = messages[0]
    assert info["type"] == "trackInfo" and info["success"] is True
    assert info["requestId"] == "r1" and info["filePath"] == str(song.resolve())
    # Analysis runs in the background (the library scan may have done it already):
    # nulls while pending, else the figures; either way the clip's 120 bpm once done.
    analysis = httpx.get(f"{server.http_url}/api/tracks/{info['trackId']}/analysis?wait=1",
                         timeout=90).json()
    assert analysis["state"] == "done" and abs(analysis["bpm"] - 120) <= 1, analysis
    if info["analysis"] == "pending":
        assert info["bpm"] is None and info["key"] is None and info["mode"] is None
    else:
        assert info["analysis"] == "done" and info["bpm"] == analysis["bpm"], info
    assert abs(info["durationSeconds"] - 6.0) < 0.01
    assert info["stemsCached"] is False
    # The reply does not wait on separation: it comes before any job progress.
    assert info["_t"] - sent < 2.0

    progress = [m for m in messages if m["type"] == "progress"]
    # Before a job exists the server reads the file to identify its content: a
    # `decoding` message with jobId null. Job messages follow in stage order.
    assert progress[0]["stage"] == "decoding" and progress[0]["jobId"] is None
    stages = [m["stage"] for m in progress[1:]]
    assert all(m["jobId"] == messages[-1]["jobId"] for m in progress[1:])
    assert "separating" in stages and "writing" in stages
    order = ["queued", "decoding", "separating", "writing", "complete"]
    assert [order.index(s) for s in stages] == sorted(order.index(s) for s in stages)
    values = [m["progress"] for m in progress[1:]]
    assert values == sorted(values) and all(0 <= v <= 1 for v in values)
    times = [m["_t"] for m in messages]
    assert max(b - a for a, b in itertools.pairwise(times)) < 2.0

    ready = messages[-1]
    assert ready["type"] == "stemsReady" and ready["success"] is True
    assert ready["trackId"] == info["trackId"] and ready["cached"] is False
    assert set(ready["stems"]) == STEMS
    source = decode(song)
    # The same model in the precision the server runs (bf16 where the CPU has it).
    precision = server.health()["model"]["precision"]
    engine = DemucsEngine.load(TINY_MODEL, tiny_model_repo, device="cpu", precision=precision)
    prepared = to_channels(resample(source, engine.info.sample_rate), engine.info.channels)
    expected = engine.separate(prepared.samples)
    for name, path in ready["stems"].items():
        assert Path(path).is_absolute()
        data, rate = sf.read(path, dtype="int16", always_2d=True)
        assert rate == 44100 and data.shape == (source.frames, 2)
        assert sf.info(path).subtype == "PCM_16"
        # Stems are the tiny model's output, quantised to 16 bit.
        want = float_to_pcm16(expected[name])
        assert np.max(np.abs(data.astype(np.int32) - want.astype(np.int32))) <= 2
    stems_json = json.loads((Path(ready["stems"]["bass"]).parent.parent / "stems.json").read_text())
    assert stems_json["stems"] == ready["stems"]
    assert not list(Path(ready["stems"]["bass"]).parent.glob("*.partial"))


async def test_same_pcm_in_another_container_is_cached(server: ServerProcess,
                                                       music_dir: Path) -> None:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(music_dir / "song.wav"),
                           "stems": True, "requestId": "warm"})
        first = (await run_until_done(client, "warm"))[-1]
        await client.send({"command": "getTrackInfo", "filePath": str(music_dir / "song.flac"),
                           "stems": True, "requestId": "flac"})
        messages = await run_until_done(client, "flac", timeout=20)
    ready = messages[-1]
    assert ready["type"] == "stemsReady" and ready["cached"] is True
    assert ready["stems"] == first["stems"]
    assert not [m for m in messages if m.get("stage") == "separating"]


async def test_two_clients_share_one_job(server: ServerProcess, music_dir: Path) -> None:
    path = str(music_dir / "other.wav")
    async with SpecCheckedClient.connect(server.ws_url) as a, \
            SpecCheckedClient.connect(server.ws_url, fmt=FrameFormat.JSON) as b:
        await a.send({"command": "getTrackInfo", "filePath": path, "stems": True,
                      "requestId": "a"})
        await b.send({"command": "getTrackInfo", "filePath": path, "stems": True,
                      "requestId": "b"})
        got_a, got_b = await asyncio.gather(run_until_done(a, "a"), run_until_done(b, "b"))
    ready_a, ready_b = got_a[-1], got_b[-1]
    assert ready_a["type"] == ready_b["type"] == "stemsReady"
    assert ready_a["jobId"] == ready_b["jobId"]
    assert ready_a["stems"] == ready_b["stems"]
    # Both watched the same job move: each saw it separating.
    assert any(m.get("stage") == "separating" for m in got_a)
    assert any(m.get("stage") == "separating" for m in got_b)


async def test_track_registered_over_http_and_asked_by_id_in_json(
        server: ServerProcess, music_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.post("/api/tracks", json={"path": str(music_dir / "third.wav")})
        assert response.status_code == 201, response.text
        track_id = response.json()["trackId"]
        again = await http.post("/api/tracks", json={"path": str(music_dir / "third.wav")})
        assert again.json()["trackId"] == track_id  # ids are stable per file
    async with SpecCheckedClient.connect(server.ws_url, fmt=FrameFormat.JSON) as client:
        # Exactly what a seed-000 engine sends, as a JSON text frame.
        await client.send({"command": "getTrackInfo", "trackId": track_id, "stems": True,
                           "requestId": "optional-request-id"})
        messages = await run_until_done(client, "optional-request-id")
    assert messages[0]["type"] == "trackInfo" and messages[0]["trackId"] == track_id
    assert messages[-1]["type"] == "stemsReady"
    assert client.last_frame_was_text


async def test_upload_then_stems(server: ServerProcess, music_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        with (music_dir / "song.mp3").open("rb") as handle:
            response = await http.post("/api/tracks",
                                       files={"file": ("My Song.mp3", handle, "audio/mpeg")})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["title"] == "My Song" and body["durationSeconds"] > 5.5
        bad = await http.post("/api/tracks", files={"file": ("x.mp3", b"not audio at all")})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "NOT_AUDIO"
        wrong = await http.post("/api/tracks", content=b"hi",
                                headers={"content-type": "text/plain"})
        assert wrong.status_code == 415
        listing = (await http.get("/api/tracks")).json()["tracks"]
    assert body["trackId"] in {t["trackId"] for t in listing}
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "trackId": body["trackId"], "stems": True,
                           "requestId": 7})
        messages = await run_until_done(client, 7)  # type: ignore[arg-type]
    assert messages[-1]["type"] == "stemsReady" and messages[-1]["requestId"] == 7


def test_library_scan_registers_audio_only(server: ServerProcess, music_dir: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = httpx.get(f"{server.http_url}/api/tracks").json()["tracks"]
        # One row per audio (song.wav/.flac/.mp3 may share one): every track of each row.
        ids = {track_id for row in rows for track_id in row["trackIds"]}
        paths = {Path(httpx.get(f"{server.http_url}/api/tracks/{i}").json()["filePath"]).name
                 for i in ids}
        if {"song.wav", "song.flac", "song.mp3", "other.wav", "third.wav"} <= paths:
            break
        time.sleep(0.2)
    assert {"song.wav", "song.flac", "song.mp3", "other.wav", "third.wav"} <= paths
    assert not paths & {"notes.txt", "empty.wav", "truncated.mp3"}


async def test_cli_add_registers_for_the_server(server: ServerProcess, music_dir: Path,
                                                tmp_path: Path) -> None:
    clip = tmp_path / "cli.flac"
    clip.write_bytes((music_dir / "song.flac").read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "stemcast.cli", "add", str(clip), "--data-dir",
         str(server.data_dir)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    track_id = result.stdout.split("\t")[0]
    async with SpecCheckedClient.connect(server.ws_url) as client:
        reply = await client.get_track_info(track_id=track_id, request_id="cli")
    assert reply["type"] == "trackInfo" and reply["filePath"] == str(clip.resolve())


BAD_INPUTS: list[tuple[Any, str]] = [
    (b"\xc1\xc1 not msgpack", "BAD_FRAME"),
    ("{not json", "BAD_FRAME"),
    ({"command": "explode"}, "UNKNOWN_COMMAND"),
    ({"trackId": "x"}, "MISSING_FIELD"),
    ({"command": "getTrackInfo", "stems": True}, "MISSING_FIELD"),
    ({"command": "getTrackInfo", "trackId": 5}, "INVALID_FIELD"),
    ({"command": "getTrackInfo", "trackId": "x", "stems": "yes"}, "INVALID_FIELD"),
    ({"command": "getTrackInfo", "trackId": "00000000-0000-0000-0000-000000000000"},
     "TRACK_NOT_FOUND"),
    ({"command": "getTrackInfo", "filePath": "/etc/passwd"}, "PATH_NOT_ALLOWED"),
    ({"command": "getTrackInfo", "filePath": "relative/song.wav"}, "INVALID_FIELD"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_INPUTS)
async def test_bad_input_is_answered_and_the_connection_stays(
        server: ServerProcess, frame: Any, code: str) -> None:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        if isinstance(frame, dict):
            frame = {**frame, "requestId": "bad"}
            await client.send(frame)
        else:
            await client.send_raw(frame)
        reply = await client.receive(timeout=10)
        assert reply["type"] == "error" and reply["success"] is False, reply
        if isinstance(frame, str):
            # A text frame from a client that sent no hello: seed 000's dialect.
            assert reply["errorCode"] == code and len(reply["error"]) > 20, reply
            assert reply["trackId"] == ""
        else:
            assert reply["error"]["code"] == code, reply
            assert len(reply["error"]["message"]) > 20
        if isinstance(frame, dict) and code != "BAD_FRAME":
            assert reply["requestId"] == "bad"
        await client.send({"command": "ping", "requestId": "still-there"})
        assert (await client.receive(timeout=10))["type"] == "pong"


@pytest.mark.parametrize(("name", "code"), [
    ("notes.txt", "NOT_AUDIO"), ("empty.wav", "EMPTY_AUDIO"), ("truncated.mp3", "NOT_AUDIO"),
    ("missing.wav", "FILE_NOT_FOUND"),
])
async def test_files_that_are_not_audio(server: ServerProcess, music_dir: Path, name: str,
                                        code: str) -> None:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        reply = await client.get_track_info(file_path=str(music_dir / name), stems=True,
                                            request_id=name)
        assert reply["type"] == "error" and reply["error"]["code"] == code, reply
        assert name in reply["error"]["message"]


def test_health_reports_model_and_queue(server: ServerProcess) -> None:
    health = server.health()
    assert health["status"] == "ok" and health["ready"] is True
    assert health["model"]["name"] == TINY_MODEL
    assert set(health["model"]["sources"]) == STEMS
    assert health["device"] == "cpu"
    assert health["queue"]["maxConcurrentJobs"] == 1
    assert httpx.get(f"{server.http_url}/").status_code == 200
