"""The ETA of a fleet learns the device of the node that ran each job, not the API server's.

A real redis-server, an API server started with `--device auto` (its own ETA key) and one
`stemcast worker --device cpu`, whose heartbeat reports the device it resolved (`cpu`):
the timings the server keeps in SQLite are filed under that device, and the next job is
estimated from them before its separation moves.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import TINY_MODEL
from tests.integration.test_eta_restart import _before_separation, _separate
from tests.integration.test_resilience import _wait
from tests.support.audio_fixtures import write_clips
from tests.support.fleet import RedisProcess, WorkerProcess, redis_server_binary
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

redis_server_binary()  # skipped here (a failure under CI) without redis-server


async def test_timings_are_filed_under_the_nodes_device(tmp_path: Path,
                                                        tiny_model_repo: Path) -> None:
    music = tmp_path / "music"
    clips = write_clips(music, {"first": 12.0, "second": 12.0}, seed=31)
    broker = RedisProcess(tmp_path / "redis").start()
    server = ServerProcess(tmp_path / "data", args=[
        "--model", TINY_MODEL, "--queue", broker.url, "--device", "auto",
        "--allow-path-prefix", str(music)])
    worker = WorkerProcess(broker.url, ["--model", TINY_MODEL, "--model-repo",
                                        str(tiny_model_repo), "--device", "cpu",
                                        "--heartbeat-ttl-s", "3"],
                           tmp_path / "node.log", "node-a")
    try:
        server.start(wait_model=False)
        worker.start()
        nodes = _wait(lambda: [w for w in server.health()["queue"]["workers"]
                               if w["alive"] and w["state"] == "ready"], 240,
                      f"a ready worker:\n{worker.log()}\n{server.log()}")
        node_device = nodes[0]["device"]
        assert node_device == "cpu"  # resolved and reported by the node, not the server's
        first = await _separate(server, clips["first"], "first")
        # Nothing learned on any device yet: no figure until separation moves.
        assert all(m.get("etaSeconds") is None for m in _before_separation(first))
        second = await _separate(server, clips["second"], "second")
    finally:
        worker.stop(timeout=10)
        server.stop()
        broker.kill()
    with sqlite3.connect(tmp_path / "data" / "stemcast.sqlite3") as db:
        rows = db.execute("SELECT model, device FROM eta_timings ORDER BY id").fetchall()
    # Both jobs under the node's device; the server's own `auto` learned nothing.
    assert rows == [(TINY_MODEL, node_device)] * 2, rows
    # The second job is estimated from the node device's history from its first word:
    # while it waits (the likeliest device among live nodes) and once the node runs it.
    early = _before_separation(second)
    assert early and all(m.get("etaSeconds") is not None for m in early), early
