"""A database write-locked by another process never leaves a job that no one will finish.

Short locks are waited out (SQLite's busy timeout); longer ones make requests answer
BUSY with a retry hint (HTTP 503 + Retry-After, a WebSocket error frame), and a job whose
completion cannot be written is failed in memory, re-queued from the database once the
lock is gone, and finished: its clients, and a client that asked meanwhile, get stemsReady.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from stemcast_protocol import StemcastClient
from tests.faults.helpers import LockHolder, until_all_done
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

BUSY_TIMEOUT_S = 1.0


def _add(server: ServerProcess, path: Path) -> httpx.Response:
    return httpx.post(f"{server.http_url}/api/tracks", json={"path": str(path)}, timeout=60)


async def _next_for(client: StemcastClient, request_id: str) -> dict[str, Any]:
    while True:
        message = await client.receive(timeout=60)
        if message.get("requestId") == request_id:
            return message


async def test_a_locked_database_is_waited_out_answered_busy_and_recovered(
        tmp_path: Path) -> None:
    clips = {name: write_audio(tmp_path / f"{name}.wav",
                               make_music_like_signal(seconds, seed=seed), 44100)
             for name, seconds, seed in (("short-lock", 3, 31), ("during-lock", 3, 32),
                                         ("ws-during-lock", 3, 33), ("job", 40, 34))}
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, args=[
        "--model", "dsp", "--db-busy-timeout-s", str(BUSY_TIMEOUT_S),
        "--allow-path-prefix", str(tmp_path)]).start()
    db_path = data_dir / "stemcast.sqlite3"
    try:
        # A lock shorter than the busy timeout is simply waited out.
        with LockHolder(db_path, max_seconds=BUSY_TIMEOUT_S / 3):
            response = _add(server, clips["short-lock"])
        assert response.status_code == 201, response.text

        async with StemcastClient.connect(server.ws_url) as client:
            await client.send({"command": "getTrackInfo", "filePath": str(clips["job"]),
                               "stems": True, "requestId": "job"})
            seen: list[dict[str, Any]] = []
            while not any(m.get("stage") == "separating" for m in seen):
                seen.append(await _next_for(client, "job"))
                assert seen[-1]["type"] != "stemsReady", "the job ended before the lock"

            with LockHolder(db_path) as lock:
                # Writes that outlast the retries answer BUSY, with a hint when to retry.
                response = _add(server, clips["during-lock"])
                assert response.status_code == 503, response.text
                error = response.json()["error"]
                assert error["code"] == "BUSY" and error["retryAfterSeconds"] > 0
                assert "locked" in error["message"] and "retry" in error["message"]
                assert int(response.headers["Retry-After"]) == error["retryAfterSeconds"]

                await client.send({"command": "getTrackInfo", "requestId": "ws-busy",
                                   "filePath": str(clips["ws-during-lock"])})
                reply = await _next_for(client, "ws-busy")
                assert reply["type"] == "error", reply
                assert reply["error"]["code"] == "BUSY", reply
                assert reply["error"]["retryAfterSeconds"] > 0

                # The job's completion cannot be written: it goes back to queued (failed in
                # memory), not stuck at "writing" forever.
                while True:
                    message = await _next_for(client, "job")
                    assert message["type"] == "progress", message
                    seen.append(message)
                    if message["stage"] == "queued":
                        break
                assert any(m.get("stage") in ("separating", "writing") for m in seen)
                # Another client asking for the same audio meanwhile joins that job.
                await client.send({"command": "getTrackInfo", "filePath": str(clips["job"]),
                                   "stems": True, "requestId": "joiner"})
                lock.release()

            done = await until_all_done(client, {"job", "joiner"}, timeout=240)
        ready, joined = done["job"][-1], done["joiner"][-1]
        assert ready["type"] == "stemsReady", ready
        assert joined["type"] == "stemsReady", joined
        assert joined["jobId"] == ready["jobId"]
        assert all(Path(p).is_file() for p in ready["stems"].values())

        # Once the lock is gone, the refused requests succeed when sent again.
        assert _add(server, clips["during-lock"]).status_code == 201
        jobs = httpx.get(f"{server.http_url}/queue", timeout=30).json()["jobs"]
        assert jobs == [], jobs
    finally:
        server.stop()
