"""Priorities on a busy server: high jumps the queue, a later high request lifts a job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sched")
    # Long enough that no job ends before the test has looked at the queue.
    seconds = {"a": 30.0, "b": 30.0, "c": 20.0, "d": 10.0}
    return {name: write_audio(folder / f"{name}.wav",
                              make_music_like_signal(seconds[name], seed=seed), 44100)
            for seed, name in enumerate("abcd", start=21)}


def _queue(server: ServerProcess) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = httpx.get(f"{server.http_url}/queue").json()["jobs"]
    return jobs


async def test_priority_order_lift_and_cancel(tmp_path: Path, tiny_model_repo: Path,
                                              clips: dict[str, Path]) -> None:
    server = ServerProcess(tmp_path / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(clips["a"].parent)]).start()
    try:
        async with SpecCheckedClient.connect(server.ws_url) as dj, \
                SpecCheckedClient.connect(server.ws_url) as other:
            hello = (await dj.send({"command": "hello", "client": "test"}),
                     await dj.receive())[1]
            assert hello["type"] == "hello" and hello["modelStatus"] == "ready"
            assert hello["sources"] == ["drums", "bass", "other", "vocals"]

            async def ask(client: SpecCheckedClient, name: str, priority: str) -> None:
                await client.send({"command": "getTrackInfo", "filePath": str(clips[name]),
                                   "stems": True, "requestId": name, "priority": priority})

            await ask(dj, "a", "low")
            deadline = time.monotonic() + 30
            while not (_queue(server) and _queue(server)[0]["state"] == "running"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            await ask(dj, "b", "normal")
            await ask(dj, "d", "low")
            await ask(dj, "c", "high")

            def states() -> list[tuple[str, str]]:
                return sorted((j["priority"], j["state"]) for j in _queue(server))

            # b (normal) and c (high) are more urgent than a: the worker takes them at once
            # and switches to the most urgent at its next segment boundary; d (low) waits.
            want = [("high", "running"), ("low", "queued"), ("low", "running"),
                    ("normal", "running")]
            deadline = time.monotonic() + 30
            while states() != want:
                assert time.monotonic() < deadline, states()
                time.sleep(0.05)

            # A user loads track d now: its queued job is lifted to high. The worker holds
            # three jobs already, so d starts when the first one ends.
            await ask(other, "d", "high")
            reply = await other.receive()
            assert reply["type"] == "trackInfo"
            d_job = next(j["jobId"] for j in _queue(server) if j["state"] == "queued")
            progress = await other.until(lambda m: m.get("jobId") == d_job, timeout=10)
            assert progress[-1]["queuePosition"] == 1
            assert ("high", "queued") in states()

            # The other client stops following d; the dj still gets it.
            await other.send({"command": "cancel", "requestId": "d"})
            cancelled = await other.until(lambda m: m["type"] == "cancelled", timeout=10)
            assert cancelled[-1]["requestId"] == "d"

            finished: list[str] = []
            while len(finished) < 4:
                message = await dj.receive(timeout=120)
                if message["type"] == "stemsReady":
                    finished.append(message["requestId"])
            # Most urgent first: c (high), then d (lifted to high), then b, then a.
            assert finished == ["c", "d", "b", "a"]
            await other.send({"command": "ping"})
            after = await other.until(lambda m: m["type"] == "pong", timeout=10)
            assert not [m for m in after if m.get("requestId") == "d"]
    finally:
        server.stop()
