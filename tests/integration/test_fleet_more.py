"""The fleet, mixed: an API server that runs a worker of its own (`serve --queue --workers
1`) beside one `stemcast worker`, on one real redis-server.

Both consume the same Redis streams; the server hands up to six jobs to the queue at once
(`--fleet-workers 6`), so jobs also wait *in Redis*, where priority lifts and a draining
worker have to be right. Shares test_fleet.py's helpers; tiny random-weight Demucs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stemcast.fleet.wire import decode
from stemcast.separation.worker_messages import WorkerReady
from tests.conftest import TINY_MODEL
from tests.integration.test_fleet import (
    HEARTBEAT_TTL_S,
    Fleet,
    _ask,
    _done_records,
    _redis,
)
from tests.integration.test_resilience import _wait
from tests.support.audio_fixtures import write_clips
from tests.support.client import SpecCheckedClient
from tests.support.fleet import RedisProcess, WorkerProcess, redis_server_binary
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

redis_server_binary()  # skipped here (a failure under CI) without redis-server

STREAMS = ("high", "normal", "low")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("mixed")
    music = folder / "music"
    spec = {"both1": 12.0, "both2": 12.0, "drain1": 30.0, "drain2": 30.0, "drain3": 4.0,
            "blocker": 300.0, "low": 4.0, "normal1": 4.0, "normal2": 4.0}
    clips = write_clips(music, spec, seed=500)
    broker = RedisProcess(folder / "redis").start()
    server = ServerProcess(folder / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo), "--queue", broker.url,
        "--workers", "1", "--fleet-workers", "6", "--allow-path-prefix", str(music)])
    state = Fleet(broker, server, [], clips, folder)
    try:
        server.start(wait_model=False)
        worker = WorkerProcess(broker.url, ["--model", TINY_MODEL, "--model-repo",
                                            str(tiny_model_repo), "--device", "cpu",
                                            "--heartbeat-ttl-s", HEARTBEAT_TTL_S],
                               folder / "w0.log", "w0", new_session=True).start()
        state.workers.append(worker)
        state.wait_workers(2)
        yield state
    finally:
        for worker in state.workers:
            worker.stop(timeout=10)
        server.stop()
        broker.kill()


async def _until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """_wait for tests holding WebSockets: the event loop keeps answering their pings."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # In a thread: /health answers slowly on a loaded machine, and a blocked loop
        # would not answer the server's pings.
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _local(fleet: Fleet) -> dict[str, Any]:
    """The server's own node (HOST-PID-local0)."""
    nodes = [w for w in fleet.fleet() if w["alive"] and w["name"].endswith("-local0")]
    assert len(nodes) == 1, fleet.fleet()
    return nodes[0]


def _both_busy(fleet: Fleet, jobs: set[str]) -> dict[str, str] | None:
    """Which of `jobs` each of the two workers runs, once both run one (one snapshot; a
    worker's hash may still name its previous job for a heartbeat)."""
    busy = {w["name"]: w["jobs"][0] for w in fleet.fleet()
            if w["alive"] and w["jobs"] and w["jobs"][0] in jobs}
    return busy if len(busy) == 2 else None


def _started(fleet: Fleet, job_id: str) -> tuple[int, ...]:
    """When a worker took the job: the id (a Redis timestamp) of its first event."""
    first = _redis(fleet).xrange(f"stemcast:events:{job_id}", count=1)[0][0]
    return tuple(int(part) for part in first.decode().split("-"))


def _lengths(fleet: Fleet) -> dict[str, int]:
    client = _redis(fleet)
    return {name: int(client.xlen(f"stemcast:jobs:{name}")) for name in STREAMS}


def _connect(fleet: Fleet) -> Any:
    # An unbounded receive queue: these tests read a client's messages only between other
    # waits, and with websockets' default (16) it stops reading the socket, so the
    # server's keepalive pings go unanswered and it closes the connection (1011).
    return SpecCheckedClient.connect(fleet.server.ws_url, max_queue=None)


class Inbox:
    """A client's messages kept by request: waiting for one request's message never
    drops another's (the client's own `until` consumes what it skips)."""

    def __init__(self, client: SpecCheckedClient) -> None:
        self.client = client
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def until(self, request: str, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = next((m for m in self.messages[request] if predicate(m)), None)
            if found is not None:
                return found
            message = await self.client.receive(timeout=deadline - time.monotonic())
            if message.get("requestId") is not None:
                self.messages[message["requestId"]].append(message)

    async def job_id(self, request: str) -> str:
        job_id: str = (await self.until(request, lambda m: bool(m.get("jobId"))))["jobId"]
        return job_id

    async def ready(self, requests: set[str],
                    timeout: float = 240) -> dict[str, list[dict[str, Any]]]:
        for request in sorted(requests):
            await self.until(request, lambda m: m["type"] in ("stemsReady", "stemsFailed"),
                             timeout)
        return {request: self.messages[request] for request in requests}


def _all_ready(messages: dict[str, list[dict[str, Any]]]) -> None:
    for request, received in messages.items():
        assert received[-1]["type"] == "stemsReady", (request, received[-1])
        assert not [m for m in received if m["type"] in ("stemsFailed", "error")], request


async def test_server_workers_and_remote_workers_share_the_queue(mixed: Fleet) -> None:
    assert mixed.server.process is not None
    local = _local(mixed)
    # The server's own worker is a node of the fleet like any other, in the server process.
    assert local["pid"] == mixed.server.process.pid
    assert local["device"] == "cpu" and local["model"] == TINY_MODEL
    names = {local["name"], "w0"}
    listing = httpx.get(f"{mixed.server.http_url}/queue").json()
    assert {w["name"] for w in listing["workers"]} >= names
    async with _connect(mixed) as client:
        await _ask(client, mixed.clips["both1"], "both1")
        await _ask(client, mixed.clips["both2"], "both2")
        # One job each: a node takes one job at a time, from the same stream.
        inbox = Inbox(client)
        ids = {await inbox.job_id(r) for r in ("both1", "both2")}
        busy = await _until(lambda: _both_busy(mixed, ids), 120,
                            "both workers busy:\n" + mixed.logs())
        messages = await inbox.ready({"both1", "both2"})
    _all_ready(messages)
    assert set(busy) == names
    assert f"job {busy[local['name']]} started" in mixed.server.log()
    assert f"job {busy['w0']} started" in mixed.workers[0].log()


async def test_sigterm_drains_a_worker_mid_job(mixed: Fleet) -> None:
    worker = next(w for w in mixed.workers if w.name == "w0")
    assert worker.process is not None and worker.process.poll() is None
    child = decode(_redis(mixed).hget("stemcast:worker:w0", "ready"))
    assert isinstance(child, WorkerReady)
    async with _connect(mixed) as client:
        await _ask(client, mixed.clips["drain1"], "drain1")
        await _ask(client, mixed.clips["drain2"], "drain2")
        inbox = Inbox(client)
        ids = {await inbox.job_id(r): r for r in ("drain1", "drain2")}
        busy = await _until(lambda: _both_busy(mixed, set(ids)), 120,
                            "both workers busy:\n" + mixed.logs())
        on_w0 = ids[busy["w0"]]
        # A third job waits in Redis for whichever worker is free first.
        await _ask(client, mixed.clips["drain3"], "drain3")
        await inbox.until(on_w0, lambda m: m.get("stage") == "separating")
        # To its whole process group, as Ctrl-C or systemd's stop would: the separation
        # process must not die of it.
        os.killpg(worker.process.pid, signal.SIGTERM)
        process = worker.process
        await _until(lambda: process.poll() is not None, 240, "w0 to drain and exit")
        assert process.returncode == 0, worker.log()
        messages = await inbox.ready({"drain1", "drain2", "drain3"})
    _all_ready(messages)
    third = messages["drain3"][-1]["jobId"]
    assert f"job {third} started" not in worker.log()  # it took no new job
    assert "drained and left the fleet" in worker.log()
    assert len(_done_records(mixed, busy["w0"])) == 1  # finished by w0, not run again
    # It left: no consumer in the group, nothing pending, no heartbeat, not in /health.
    broker = _redis(mixed)
    for stream in STREAMS:
        key = f"stemcast:jobs:{stream}"
        assert "w0" not in [c["name"] for c in broker.xinfo_consumers(key, "workers")]
        assert broker.xpending(key, "workers")["pending"] == 0
    assert not broker.exists("stemcast:hb:w0")
    # /health reads the fleet on its own refresh: the worker goes from it at the next one.
    _wait(lambda: "w0" not in [w["name"] for w in mixed.fleet()], 30, "w0 gone from /health")
    _wait(lambda: not _alive(child.pid), 15, "w0's separation process to end")
    mixed.workers.remove(worker)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_lifted_job_waiting_in_redis_runs_before_waiting_normal_jobs(
        mixed: Fleet) -> None:
    for worker in list(mixed.workers):  # one consumer: the order it takes jobs is the queue's
        worker.stop(timeout=240)
        mixed.workers.remove(worker)
    _wait(lambda: [w["name"] for w in mixed.fleet() if w["alive"]] == [_local(mixed)["name"]],
          60, "only the server's own worker left")
    async with _connect(mixed) as client, \
            _connect(mixed) as other:
        inbox = Inbox(client)
        await _ask(client, mixed.clips["blocker"], "blocker")
        blocker = await inbox.job_id("blocker")
        await _until(lambda: _local(mixed)["jobs"] == [blocker], 120, "the blocker running")
        # One at a time: requests are prepared (decoded, hashed) concurrently, so two sent
        # back to back may reach Redis in either order.
        for name, priority, waiting in (("low", "low", {"normal": 1, "low": 1}),
                                        ("normal1", "normal", {"normal": 2, "low": 1}),
                                        ("normal2", "normal", {"normal": 3, "low": 1})):
            await _ask(client, mixed.clips[name], name, priority)
            await _until(lambda w=waiting: {k: _lengths(mixed)[k] for k in w} == w, 60,
                         f"{name} waiting in Redis: {_lengths(mixed)}")
        # All three handed to the fleet: waiting in Redis, not in the server's queue.
        await _until(lambda: _lengths(mixed) == {"high": 0, "normal": 3, "low": 1}, 60,
              f"three jobs waiting in Redis: {_lengths(mixed)}")
        # Another client wants the low job's audio now: its job is lifted to high.
        await _ask(other, mixed.clips["low"], "lifted", "high")
        await _until(lambda: _lengths(mixed)["high"] == 1, 60, "the lifted entry in jobs:high")
        if _local(mixed)["jobs"] != [blocker]:
            pytest.fail("the blocker ended before the lift: the order below would prove "
                        "nothing; make the blocker clip longer")
        # The blocker only holds the one consumer while the queue is set up (five minutes of
        # audio: never done by now, however slow the machine); cancelling it frees the worker.
        await client.send({"command": "cancel", "requestId": "blocker"})
        cancelled = await inbox.until("blocker", lambda m: m["type"] == "cancelled")
        assert cancelled["jobCancelled"] is True, cancelled
        messages = await inbox.ready({"low", "normal1", "normal2"})
        lifted = (await Inbox(other).ready({"lifted"}))["lifted"]
    _all_ready({**messages, "lifted": lifted})
    low = messages["low"][-1]["jobId"]
    assert lifted[-1]["jobId"] == low
    started = {name: _started(mixed, messages[name][-1]["jobId"])
               for name in ("low", "normal1", "normal2")}
    assert started["low"] < started["normal1"] < started["normal2"], started
    assert len(_done_records(mixed, low)) == 1  # its old entry in jobs:low was dropped
    _wait(lambda: _lengths(mixed) == {"high": 0, "normal": 0, "low": 0}, 30,
          f"every entry acknowledged and trimmed: {_lengths(mixed)}")
