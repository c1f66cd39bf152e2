"""Cancel that stops the work (PROTOCOL.md 3.4), against a real server: the last follower's
cancel stops the separation job; a job that another client follows goes on; keepJob only
stops following."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tiny_server: ServerProcess) -> ServerProcess:
    return tiny_server


def add(server: ServerProcess, folder: Path, name: str, seconds: float, seed: int) -> str:
    path = write_audio(folder / f"{name}.wav", make_music_like_signal(seconds, seed=seed),
                       44100)
    with path.open("rb") as handle:
        reply = httpx.post(f"{server.http_url}/api/tracks", timeout=60,
                           files={"file": (path.name, handle, "audio/wav")})
    return str(reply.json()["trackId"])


def queue(server: ServerProcess) -> list[dict[str, Any]]:
    return list(httpx.get(f"{server.http_url}/queue", timeout=30).json()["jobs"])


async def follow(client: SpecCheckedClient, track_id: str, request_id: str) -> str:
    await client.send({"command": "getTrackInfo", "trackId": track_id, "stems": True,
                       "requestId": request_id})
    progress = await client.until(lambda m: m["type"] == "progress"
                                  and m.get("jobId") is not None, timeout=120)
    return str(progress[-1]["jobId"])


async def test_the_last_followers_cancel_stops_the_job(server: ServerProcess,
                                                       tmp_path: Path) -> None:
    track_id = add(server, tmp_path, "Abandoned", 60.0, 81)
    async with SpecCheckedClient.connect(server.ws_url) as client:
        job_id = await follow(client, track_id, "mine")
        assert job_id in {job["jobId"] for job in queue(server)}
        await client.send({"command": "cancel", "requestId": "mine"})
        reply = (await client.until(lambda m: m["type"] == "cancelled", timeout=30))[-1]
    assert reply == {"type": "cancelled", "success": True, "requestId": "mine",
                     "jobCancelled": True}
    assert job_id not in {job["jobId"] for job in queue(server)}
    # Nothing runs on the track any more: it can be deleted.
    gone = httpx.delete(f"{server.http_url}/api/tracks/{track_id}", timeout=30)
    assert gone.status_code == 200, gone.text


async def test_a_job_another_client_follows_goes_on(server: ServerProcess,
                                                    tmp_path: Path) -> None:
    track_id = add(server, tmp_path, "Shared", 5.0, 82)
    async with SpecCheckedClient.connect(server.ws_url) as leaver, \
            SpecCheckedClient.connect(server.ws_url) as stayer:
        job_id = await follow(leaver, track_id, "a")
        assert await follow(stayer, track_id, "b") == job_id
        await leaver.send({"command": "cancel", "requestId": "a"})
        reply = (await leaver.until(lambda m: m["type"] == "cancelled", timeout=30))[-1]
        assert reply["jobCancelled"] is False
        done = (await stayer.until(lambda m: m["type"] in ("stemsReady", "stemsFailed"),
                                   timeout=180))[-1]
    assert done["type"] == "stemsReady" and done["jobId"] == job_id, done


async def test_keep_job_only_stops_following(server: ServerProcess, tmp_path: Path) -> None:
    track_id = add(server, tmp_path, "Kept", 5.0, 83)
    async with SpecCheckedClient.connect(server.ws_url) as client:
        job_id = await follow(client, track_id, "k")
        await client.send({"command": "cancel", "requestId": "k", "keepJob": True})
        reply = (await client.until(lambda m: m["type"] == "cancelled", timeout=30))[-1]
    assert reply["jobCancelled"] is False
    for _ in range(600):  # the job finishes for nobody; its stems land in the cache
        rows = httpx.get(f"{server.http_url}/api/tracks", params={"q": "kept"}).json()
        states = [s["state"] for s in rows["tracks"][0]["separations"]
                  if s["jobId"] == job_id]
        if states == ["completed"]:
            break
        await asyncio.sleep(0.5)
    assert states == ["completed"]


async def test_keep_job_must_be_a_boolean(server: ServerProcess) -> None:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "cancel", "requestId": "x", "keepJob": "yes"})
        reply = (await client.until(lambda m: m["type"] == "error", timeout=30))[-1]
    assert reply["error"]["code"] == "INVALID_FIELD" and "keepJob" in reply["error"]["message"]
