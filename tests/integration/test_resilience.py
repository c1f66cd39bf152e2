"""Nothing is lost: a server restart mid-queue, worker crashes, a server without weights."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_MODEL
from tests.integration.test_ws_flow import run_until_done
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.expected import assert_same_stems, uninterrupted_stems
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Clips long enough (30 s, several seconds of tiny-model compute) to catch mid-job."""
    folder = tmp_path_factory.mktemp("long")
    paths = []
    for seed in (11, 12, 13):
        path = folder / f"long{seed}.wav"
        write_audio(path, make_music_like_signal(30.0, seed=seed), 44100)
        paths.append(path)
    return paths


def _server(data_dir: Path, repo: Path, clips: list[Path], **env: str) -> ServerProcess:
    return ServerProcess(data_dir, args=["--model", TINY_MODEL, "--model-repo", str(repo),
                                         "--allow-path-prefix", str(clips[0].parent)], env=env)


def _queue(server: ServerProcess) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = httpx.get(f"{server.http_url}/queue").json()["jobs"]
    return jobs


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_restart_mid_queue_loses_nothing(tmp_path: Path, tiny_model_repo: Path,
                                               long_clips: list[Path]) -> None:
    data_dir = tmp_path / "data"
    server = _server(data_dir, tiny_model_repo, long_clips).start()
    try:
        async with SpecCheckedClient.connect(server.ws_url) as client:
            for index, clip in enumerate(long_clips[:2]):
                await client.send({"command": "getTrackInfo", "filePath": str(clip),
                                   "stems": True, "requestId": f"job{index}"})
            _wait(lambda: len(_queue(server)) == 2 and _queue(server)[0]["state"] == "running",
                  30, "one running and one queued job")
        # A power cut: no shutdown code runs at all.
        server.kill()
    finally:
        server.stop()
    restarted = _server(data_dir, tiny_model_repo, long_clips)
    restarted.port = server.port
    restarted.start()
    try:
        # Both jobs come back from the database without any client asking again...
        jobs = _queue(restarted)
        assert len(jobs) == 2, jobs
        # ...and finish; a client that asks again is told the stems are there.
        _wait(lambda: not _queue(restarted), 120, "the queue to drain after the restart")
        async with SpecCheckedClient.connect(restarted.ws_url) as client:
            for index, clip in enumerate(long_clips[:2]):
                await client.send({"command": "getTrackInfo", "filePath": str(clip),
                                   "stems": True, "requestId": f"again{index}"})
                ready = (await run_until_done(client, f"again{index}", timeout=30))[-1]
                assert ready["type"] == "stemsReady" and ready["cached"] is True, ready
                # The job cut off mid-separation (and the one that had not started) end
                # with the very stems of a run that was never interrupted.
                assert_same_stems(ready["stems"], uninterrupted_stems(
                    TINY_MODEL, tiny_model_repo, clip,
                    restarted.health()["model"]["precision"]))
    finally:
        restarted.stop()


def _worker_pid(server: ServerProcess) -> int:
    workers = server.health()["queue"]["workers"]
    return int(workers[0]["pid"])


async def test_worker_crash_is_retried_once_then_fails(tmp_path: Path, tiny_model_repo: Path,
                                                       long_clips: list[Path]) -> None:
    server = _server(tmp_path / "data", tiny_model_repo, long_clips).start()
    try:
        async with SpecCheckedClient.connect(server.ws_url) as client:
            # One crash: the job is retried and completes.
            await client.send({"command": "getTrackInfo", "filePath": str(long_clips[0]),
                               "stems": True, "requestId": "once"})
            _wait(lambda: any(j["stage"] == "separating" for j in _queue(server)), 30,
                  "separation to start")
            os.kill(_worker_pid(server), signal.SIGKILL)
            messages = await run_until_done(client, "once", timeout=120)
            assert messages[-1]["type"] == "stemsReady", messages[-1]
            assert_same_stems(messages[-1]["stems"], uninterrupted_stems(
                TINY_MODEL, tiny_model_repo, long_clips[0],
                server.health()["model"]["precision"]))
            assert server.health()["queue"]["workerRestarts"] == 1

            # Two crashes on the same job: it fails with a clear error, and the server lives.
            await client.send({"command": "getTrackInfo", "filePath": str(long_clips[1]),
                               "stems": True, "requestId": "twice"})
            for _ in range(2):
                _wait(lambda: any(j["stage"] == "separating" for j in _queue(server)), 60,
                      "separation to start")
                _wait(lambda: server.health()["model"]["state"] == "ready", 30, "worker")
                os.kill(_worker_pid(server), signal.SIGKILL)
                _wait(lambda: not any(j["stage"] == "separating" for j in _queue(server)),
                      30, "the crash to be noticed")
            messages = await run_until_done(client, "twice", timeout=60)
            failed = messages[-1]
            assert failed["type"] == "stemsFailed" and failed["success"] is False
            assert failed["error"]["code"] == "WORKER_CRASHED"
            assert "crashed 2 times" in failed["error"]["message"]
            assert server.health()["status"] == "ok"
    finally:
        server.stop()


@pytest.mark.parametrize("repo_arg", ["none", "missing-folder"])
async def test_no_weights_is_said_clearly_and_fast(tmp_path: Path, long_clips: list[Path],
                                                   repo_arg: str) -> None:
    args = ["--model", "htdemucs", "--allow-path-prefix", str(long_clips[0].parent)]
    if repo_arg == "missing-folder":
        args += ["--model-repo", str(tmp_path / "nowhere")]
    server = ServerProcess(tmp_path / "data", args=args,
                           env={"HF_HOME": str(tmp_path / "hf")})
    started = time.monotonic()
    server.start(timeout=60)
    try:
        health = server.health()
        assert health["status"] == "ok"
        assert health["ready"] is False and health["model"]["state"] == "unavailable"
        assert "--model-repo" in health["model"]["error"]
        async with SpecCheckedClient.connect(server.ws_url) as client:
            await client.send({"command": "getTrackInfo", "filePath": str(long_clips[2]),
                               "stems": True, "requestId": "nomodel"})
            messages = await run_until_done(client, "nomodel", timeout=30)
        assert messages[0]["type"] == "trackInfo"
        failed = messages[-1]
        assert failed["type"] == "stemsFailed"
        assert failed["error"]["code"] == "MODEL_UNAVAILABLE"
        assert "htdemucs" in failed["error"]["message"]
        assert "--model-repo" in failed["error"]["message"]
        # Within seconds, not after ~23 s of download retries.
        assert time.monotonic() - started < 40
    finally:
        server.stop()
    assert "NO MODEL" in server.log()
