"""The seed-compatible HTTP job API, played by a test app server with a real receiver."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf
from websockets.asyncio.client import connect

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.callback_receiver import CallbackReceiver
from tests.support.protocol_spec import check_against_spec
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

STEMS = {"bass", "drums", "other", "vocals"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("api-music")
    spec = {"a": 5.0, "b": 5.0, "c": 5.0, "d": 5.0, "e": 5.0, "long": 30.0, "huge": 70.0}
    return {name: write_audio(folder / f"{name}.wav",
                              make_music_like_signal(seconds, seed=40 + i), 44100)
            for i, (name, seconds) in enumerate(spec.items())}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path,
           clips: dict[str, Path]) -> Any:
    proc = ServerProcess(tmp_path_factory.mktemp("api") / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(clips["a"].parent), "--callback-retry-delay", "0.2",
        "--callback-timeout", "1", "--max-upload-mb", "1", "--max-duration-s", "60",
    ]).start()
    yield proc
    proc.stop()


def post_job(server: ServerProcess, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.http_url}/jobs", json=body, timeout=30)


def job_status(server: ServerProcess, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{server.http_url}/jobs/{job_id}").json()
    return data


def wait_status(server: ServerProcess, job_id: str, statuses: set[str],
                timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(server, job_id)
        if status["status"] in statuses:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}: {status}")


def test_path_mode_with_callbacks(server: ServerProcess, clips: dict[str, Path]) -> None:
    with CallbackReceiver() as receiver:
        response = post_job(server, file_path=str(clips["a"]), track_hash="hash-a",
                            options={"stems": True, "basic_features": True,
                                     "characteristics": False},
                            callback_url=receiver.url, stem_delivery_mode="path")
        assert response.status_code == 200, response.text
        reply = response.json()
        assert reply["job_id"] == "hash-a" and reply["status"] == "queued"
        assert reply["track_hash"] == "hash-a" and reply["callback_url"] == receiver.url
        assert reply["stem_delivery_mode"] == "path" and reply["created_at"].endswith("Z")
        done = receiver.wait_for("job_completed")
    assert receiver.stages() == ["basic_features", "stems", "job_completed"]
    features, stems = receiver.received[0], receiver.received[1]
    # The basic_features stage waits for the track's analysis: real figures, seed spelling.
    analysed = features.body["data"]
    assert features.body["status"] == "completed" and analysed["analysis"] == "done"
    # The clip's noise bursts come every 0.5 s: 120 bpm.
    assert isinstance(analysed["bpm"], float) and abs(analysed["bpm"] - 120) <= 1, analysed
    assert analysed["key"] in {str(k) for k in range(12)} and analysed["mode"] in {"0", "1"}
    body = stems.body
    assert body["job_id"] == "hash-a" and body["status"] == "completed"
    assert body["timestamp"].endswith("Z")
    assert stems.headers["X-Mismo-Job-ID"] == "hash-a"
    assert stems.headers["X-Mismo-Stage"] == "stems"
    data = body["data"]
    assert data["delivery_mode"] == "path" and data["model"] == TINY_MODEL
    assert data["format"] == "wav" and data["processing_time"] > 0
    assert set(data["stems"]) == STEMS
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in data["stems"].values())
    assert done.body["data"]["stages_completed"] == ["basic_features", "stems"]
    status = job_status(server, "hash-a")
    assert status["status"] == "completed" and status["progress"] == 1
    assert status["stages_completed"] == ["basic_features", "stems"]
    assert [c["state"] for c in status["callbacks"]] == ["delivered"] * 3


def test_multipart_upload_in_callback_mode(server: ServerProcess,
                                           clips: dict[str, Path]) -> None:
    with CallbackReceiver() as receiver:
        with clips["b"].open("rb") as handle:
            response = httpx.post(f"{server.http_url}/jobs", files={
                "file": ("track.wav", handle, "audio/wav")}, data={
                "track_hash": "hash-b", "options": json.dumps({"stems": True}),
                "callback_url": receiver.url, "stem_delivery_mode": "callback"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["job_id"] == "hash-b"
        stems = receiver.wait_for("stems")
    data = stems.body["data"]
    assert data["delivery_mode"] == "callback" and data["encoding"] == "base64"
    for name, encoded in data["stems"].items():
        wav = base64.b64decode(encoded)
        audio, rate = sf.read(io.BytesIO(wav))
        assert rate == 44100 and audio.shape == (5 * 44100, 2)
        served = httpx.get(f"{server.http_url}/jobs/hash-b/stems/{name}")
        assert served.status_code == 200 and served.content == wav


def test_poll_mode_and_zip(server: ServerProcess, clips: dict[str, Path]) -> None:
    response = post_job(server, file_path=str(clips["c"]), stem_delivery_mode="poll")
    job_id = response.json()["job_id"]
    assert response.json()["track_hash"] is None  # no hash given: the job id is generated
    # Asked at once, the 5 s clip cannot be separated yet: 202, with the job's status.
    first = httpx.get(f"{server.http_url}/jobs/{job_id}/stems")
    assert first.status_code == 202, first.text
    wait_status(server, job_id, {"completed"})
    ready = httpx.get(f"{server.http_url}/jobs/{job_id}/stems")
    assert ready.status_code == 200
    data = ready.json()["data"]
    assert data["delivery_mode"] == "poll" and set(data["stems"]) == STEMS
    # Absolute URLs, from the URL the job was posted to: a remote app server can use them.
    assert all(url.startswith(f"{server.http_url}/jobs/") for url in data["stems"].values())
    files = {name: httpx.get(url).content for name, url in data["stems"].items()}
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(data["zip"]).content))
    assert sorted(archive.namelist()) == sorted(f"{n}.wav" for n in STEMS)
    for name, content in files.items():
        assert archive.read(f"{name}.wav") == content and content[:4] == b"RIFF"
    missing = httpx.get(f"{server.http_url}/jobs/{job_id}/stems/piano")
    assert missing.status_code == 404 and "drums" in missing.json()["error"]["message"]


def test_callback_that_fails_twice_lands_on_the_third_attempt(
        server: ServerProcess, clips: dict[str, Path]) -> None:
    with CallbackReceiver(fail_first=2) as receiver:
        post_job(server, file_path=str(clips["d"]), track_hash="hash-d",
                 callback_url=receiver.url, stem_delivery_mode="path")
        receiver.wait_for("job_completed")
    assert receiver.attempts == 4  # stems: 500, 500, 200; then job_completed: 200
    stems = job_status(server, "hash-d")["callbacks"][0]
    assert stems["stage"] == "stems" and stems["state"] == "delivered"
    assert stems["attempts"] == 3


def test_callback_that_never_answers_leaves_stems_pollable(
        server: ServerProcess, clips: dict[str, Path]) -> None:
    with CallbackReceiver(hang=True) as receiver:
        post_job(server, file_path=str(clips["e"]), track_hash="hash-e",
                 callback_url=receiver.url, stem_delivery_mode="path")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            callbacks = job_status(server, "hash-e")["callbacks"]
            if callbacks and callbacks[0]["state"] == "failed":
                break
            time.sleep(0.2)
    # The stored error reads alike for every failure (no port scanning by callbacks).
    assert callbacks[0]["attempts"] == 4 and "no answer" in callbacks[0]["last_error"]
    # The stems callback was tried 1 + 3 times; job_completed is tried on its own after.
    assert receiver.attempts >= 4
    stems = httpx.get(f"{server.http_url}/jobs/hash-e/stems")
    assert stems.status_code == 200 and set(stems.json()["data"]["stems"]) == STEMS


async def test_http_job_and_websocket_request_share_one_job(
        server: ServerProcess, clips: dict[str, Path]) -> None:
    response = post_job(server, file_path=str(clips["long"]), track_hash="hash-long",
                        stem_delivery_mode="poll")
    assert response.status_code == 200
    # The JSON dialect of seed 000, in text frames, from a plain WebSocket client.
    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"command": "getTrackInfo", "filePath": str(clips["long"]),
                                  "stems": True, "requestId": "seed-000"}))
        messages = []
        deadline = time.monotonic() + 120
        while True:
            frame = await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01))
            assert isinstance(frame, str)  # a JSON client only ever sees JSON
            message = json.loads(frame)
            check_against_spec(message)
            messages.append(message)
            if message["type"] in ("stemsReady", "stemsFailed"):
                break
    info = messages[0]
    assert info["success"] is True and info["filePath"] == str(clips["long"].resolve())
    assert {"bpm", "key", "mode", "trackId"} <= set(info)
    ready = messages[-1]
    assert ready["type"] == "stemsReady" and ready["requestId"] == "seed-000"
    status = wait_status(server, "hash-long", {"completed"})
    assert status["separation_job_id"] == ready["jobId"]


def test_cancel_a_running_job_removes_its_files(server: ServerProcess,
                                                clips: dict[str, Path], tmp_path: Path) -> None:
    clip = tmp_path / "cancel.wav"
    write_audio(clip, make_music_like_signal(30.0, seed=99), 44100)
    clip = clips["a"].parent / "cancel-me.wav"
    write_audio(clip, make_music_like_signal(30.0, seed=99), 44100)
    with CallbackReceiver() as receiver:
        post_job(server, file_path=str(clip), track_hash="hash-cancel",
                 callback_url=receiver.url)
        running = wait_status(server, "hash-cancel", {"processing"})
        # "Not ready" is one status on both APIs: 409 NOT_READY.
        for path in ("/jobs/hash-cancel/stems.zip",
                     f"/api/stems/{running['separation_job_id']}/bass"):
            early = httpx.get(f"{server.http_url}{path}")
            assert early.status_code == 409 and early.json()["error"]["code"] == "NOT_READY"
        deleted = httpx.delete(f"{server.http_url}/jobs/hash-cancel")
        assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
        failed = receiver.wait_for("job_failed")
    assert failed.body["status"] == "failed"
    # Seed 000's app server stores data.error as text: a string, the code beside it.
    assert failed.body["data"]["error_code"] == "CANCELLED"
    assert isinstance(failed.body["data"]["error"], str) and failed.body["data"]["error"]
    assert failed.body["error"]["code"] == "CANCELLED"
    assert receiver.stages() == ["stems", "job_failed"]
    status = job_status(server, "hash-cancel")
    assert status["status"] == "cancelled"
    assert httpx.get(f"{server.http_url}/queue").json()["jobs"] == []
    job_dir = server.data_dir / "jobs" / status["separation_job_id"]
    assert not job_dir.exists()
    never = httpx.get(f"{server.http_url}/api/stems/{status['separation_job_id']}/bass")
    assert never.status_code == 409 and never.json()["error"]["code"] == "NO_STEMS"
    # The worker was stopped and restarted; the server goes on working.
    again = post_job(server, file_path=str(clips["a"]), track_hash="hash-after-cancel")
    assert again.status_code == 200
    wait_status(server, "hash-after-cancel", {"completed"})


@pytest.mark.parametrize(("kwargs", "status", "code", "words"), [
    ({"json": {"file_path": "/etc/hosts"}}, 403, "PATH_NOT_ALLOWED", "--allow-path-prefix"),
    ({"json": {"track_hash": "x"}}, 422, "MISSING_FIELD", "file_path"),
    ({"json": {"file_path": "A", "stem_delivery_mode": "carrier-pigeon"}}, 422,
     "INVALID_FIELD", "stem_delivery_mode"),
    ({"json": {"file_path": "A", "callback_url": "ftp://x/y"}}, 422, "INVALID_FIELD",
     "callback_url"),
    ({"json": {"file_path": "A", "options": {"stems": "yes"}}}, 422, "INVALID_FIELD",
     "options.stems"),
    ({"json": {"file_path": "A", "options": {"stems": False}}}, 422, "INVALID_FIELD",
     "asks for nothing"),
    ({"json": {"file_path": "A", "track_hash": "../../etc"}}, 422, "INVALID_FIELD",
     "track_hash"),
    ({"json": {"file_path": "HUGE"}}, 422, "TRACK_TOO_LONG", "--max-duration-s"),
    ({"content": b"file_path=x", "headers": {"content-type": "text/plain"}}, 415,
     "UNSUPPORTED_MEDIA_TYPE", "multipart/form-data"),
    ({"content": b"{oops", "headers": {"content-type": "application/json"}}, 400, "BAD_JSON",
     "not valid JSON"),
    ({"files": {"file": ("a.wav", b"RIFF")}, "data": {"options": "{bad"}}, 400, "BAD_JSON",
     "'options'"),
    ({"files": {"file": ("big.wav", b"\0" * (2 << 20))}}, 413, "UPLOAD_TOO_LARGE",
     "--max-upload-mb"),
    ({"files": {"file": ("text.wav", b"hello, not audio" * 100)}}, 422, "NOT_AUDIO",
     "not an audio file"),
])
def test_bad_submissions(server: ServerProcess, clips: dict[str, Path], kwargs: dict[str, Any],
                         status: int, code: str, words: str) -> None:
    if "json" in kwargs and kwargs["json"].get("file_path") in ("A", "HUGE"):
        kwargs = {**kwargs, "json": {**kwargs["json"], "file_path": str(
            clips["huge" if kwargs["json"]["file_path"] == "HUGE" else "a"])}}
    response = httpx.post(f"{server.http_url}/jobs", timeout=30, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"]


def test_unknown_job_and_stats(server: ServerProcess) -> None:
    missing = httpx.get(f"{server.http_url}/jobs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "JOB_NOT_FOUND"
    stats = httpx.get(f"{server.http_url}/stats").json()
    assert stats["jobs"].get("completed", 0) >= 1 and "callbacks" in stats
    assert httpx.get(f"{server.http_url}/health").json()["status"] == "ok"
