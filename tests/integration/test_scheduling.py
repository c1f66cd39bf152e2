"""Priorities on a busy server: high jumps the queue, a later high request lifts a job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from stemcast_protocol import StemcastClient
from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sched")
    return {name: write_audio(folder / f"{name}.wav",
                              make_music_like_signal(20.0 if name == "a" else 6.0, seed=seed),
                              44100)
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
        async with StemcastClient.connect(server.ws_url) as dj, \
                StemcastClient.connect(server.ws_url) as other:
            hello = (await dj.send({"command": "hello", "client": "test"}),
                     await dj.receive())[1]
            assert hello["type"] == "hello" and hello["modelStatus"] == "ready"
            assert hello["sources"] == ["drums", "bass", "other", "vocals"]

            async def ask(client: StemcastClient, name: str, priority: str) -> None:
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
            deadline = time.monotonic() + 30
            while len(_queue(server)) < 4:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            jobs = _queue(server)
            by_priority = [(j["priority"], j["queuePosition"]) for j in jobs]
            assert by_priority == [("low", 0), ("high", 1), ("normal", 2), ("low", 3)]

            # A user loads track d now: its queued job is lifted to high. Within a priority
            # jobs keep their arrival order, and d arrived before c.
            await ask(other, "d", "high")
            reply = await other.receive()
            assert reply["type"] == "trackInfo"
            jobs = _queue(server)
            assert [j["priority"] for j in jobs] == ["low", "high", "high", "normal"]
            d_job = jobs[1]["jobId"]
            progress = await other.until(lambda m: m.get("jobId") == d_job, timeout=10)
            assert progress[-1]["queuePosition"] == 1

            # The other client stops following d; the dj still gets it.
            await other.send({"command": "cancel", "requestId": "d"})
            cancelled = await other.until(lambda m: m["type"] == "cancelled", timeout=10)
            assert cancelled[-1]["requestId"] == "d"

            finished: list[str] = []
            while len(finished) < 4:
                message = await dj.receive(timeout=120)
                if message["type"] == "stemsReady":
                    finished.append(message["requestId"])
            assert finished == ["a", "d", "c", "b"]
            await other.send({"command": "ping"})
            after = await other.until(lambda m: m["type"] == "pong", timeout=10)
            assert not [m for m in after if m.get("requestId") == "d"]
    finally:
        server.stop()
