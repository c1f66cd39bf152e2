"""The bearer token, and callbacks that outlive a server restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import TINY_MODEL
from tests.support.callback_receiver import CallbackReceiver
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-for-tests"


async def test_token_guards_http_and_websocket(tmp_path: Path, tiny_model_repo: Path) -> None:
    server = ServerProcess(tmp_path / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo), "--token", TOKEN]).start()
    try:
        base = server.http_url
        assert httpx.get(f"{base}/health").status_code == 200  # healthchecks stay open
        assert httpx.get(f"{base}/").status_code == 200  # the page asks for the token itself
        refused = httpx.get(f"{base}/jobs/x")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
        assert "--token" in refused.json()["error"]["message"]
        assert httpx.post(f"{base}/api/tracks", json={"path": "/x"}).status_code == 401
        wrong = httpx.get(f"{base}/queue", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/jobs/x", headers=auth).status_code == 404
        assert httpx.get(f"{base}/queue?token={TOKEN}").status_code == 200

        with pytest.raises(InvalidStatus):
            async with connect(server.ws_url):
                pass
        async with SpecCheckedClient.connect(f"{server.ws_url}?token={TOKEN}") as client:
            await client.send({"command": "ping", "requestId": 1})
            assert (await client.receive())["type"] == "pong"
        async with SpecCheckedClient.connect(server.ws_url, additional_headers=auth) as client:
            await client.send({"command": "ping", "requestId": 2})
            assert (await client.receive())["type"] == "pong"
    finally:
        server.stop()


def test_pending_callbacks_survive_a_restart(tmp_path: Path, tiny_model_repo: Path,
                                             music_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/callback"  # nothing listens there yet: the app is down
    args = ["--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
            "--allow-path-prefix", str(music_dir), "--callback-retry-delay", "30"]
    server = ServerProcess(tmp_path / "data", args=args).start()
    try:
        response = httpx.post(f"{server.http_url}/jobs", json={
            "file_path": str(music_dir / "third.wav"), "track_hash": "survivor",
            "callback_url": url, "stem_delivery_mode": "path"})
        assert response.status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            callbacks = httpx.get(f"{server.http_url}/jobs/survivor").json()["callbacks"]
            if callbacks and callbacks[0]["attempts"] >= 1:
                break
            time.sleep(0.1)
        # The stored error does not tell what the target did (no port scanning by callbacks).
        assert callbacks[0]["state"] == "pending" and "no connection" in callbacks[0]["last_error"]
        # A crash (kill -9): no shutdown code runs, so only what is in the database counts.
        server.kill()
    finally:
        server.stop()
    with CallbackReceiver(port=port) as receiver:
        restarted = ServerProcess(tmp_path / "data", args=[*args[:-1], "0.1"])
        restarted.start()
        try:
            # Due at once after the restart, not 30 s after the last failure.
            receiver.wait_for("job_completed", timeout=15)
            assert receiver.stages() == ["stems", "job_completed"]
            assert receiver.received[0].body["job_id"] == "survivor"
        finally:
            restarted.stop()
