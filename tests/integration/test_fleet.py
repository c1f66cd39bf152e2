"""The fleet: one API server, three `stemcast worker` processes and a real redis-server.

Everything on loopback and one data folder (the shared storage of a real deployment).
Workers run the tiny random-weight Demucs model; clips are short, except where a job must
still be running when something is done to it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from stemcast.fleet.redis_queue import RedisQueue
from stemcast.fleet.wire import decode, encode
from stemcast.separation.worker_messages import SeparateTask, TaskDone
from stemcast_protocol import FrameFormat
from tests.conftest import TINY_MODEL
from tests.integration.test_jobs_api import wait_status
from tests.integration.test_resilience import _wait
from tests.integration.test_streaming import collect, joined_chunks, wav_data
from tests.support.audio_fixtures import make_music_like_signal, write_audio, write_clips
from tests.support.client import SpecCheckedClient
from tests.support.expected import assert_same_stems, uninterrupted_stems
from tests.support.fleet import RedisProcess, WorkerProcess, redis_server_binary
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

redis_server_binary()  # skipped here (a failure under CI) without redis-server

HEARTBEAT_TTL_S = "3"


@dataclass
class Fleet:
    redis: RedisProcess
    server: ServerProcess
    workers: list[WorkerProcess]
    clips: dict[str, Path]
    folder: Path

    def add_worker(self, name: str, repo: Path) -> WorkerProcess:
        worker = WorkerProcess(self.redis.url, ["--model", TINY_MODEL, "--model-repo", str(repo),
                                                "--device", "cpu", "--heartbeat-ttl-s",
                                                HEARTBEAT_TTL_S],
                               self.folder / f"{name}.log", name).start()
        self.workers.append(worker)
        return worker

    def fleet(self) -> list[dict[str, Any]]:
        workers: list[dict[str, Any]] = self.server.health()["queue"]["workers"]
        return workers

    def wait_workers(self, count: int, timeout: float = 240) -> None:
        _wait(lambda: sum(1 for w in self.fleet() if w["alive"] and w["state"] == "ready")
              >= count, timeout, f"{count} ready workers:\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.log()}" for w in self.workers) + \
            f"\n--- server\n{self.server.log()}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, tiny_model_repo: Path) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    music = folder / "music"
    spec = {"short1": 4.0, "short2": 4.0, "short3": 4.0, "short4": 4.0, "short5": 4.0,
            "short6": 4.0, "stream": 8.0, "long1": 30.0, "long2": 30.0}
    clips = write_clips(music, spec, seed=200)
    broker = RedisProcess(folder / "redis").start()
    server = ServerProcess(folder / "data", args=[
        "--model", TINY_MODEL, "--queue", broker.url, "--allow-path-prefix", str(music)])
    state = Fleet(broker, server, [], clips, folder)
    try:
        # The server has no model of its own: it is ready once a worker says what it holds.
        server.start(wait_model=False)
        for index in range(3):
            state.add_worker(f"w{index}", tiny_model_repo)
        state.wait_workers(3)
        yield state
    finally:
        for worker in state.workers:
            worker.stop(timeout=10)
        server.stop()
        broker.kill()


def _redis(fleet: Fleet) -> redis.Redis:
    return redis.Redis.from_url(fleet.redis.url)


async def _ask(client: SpecCheckedClient, path: Path, request_id: str,
               priority: str = "normal") -> None:
    await client.send({"command": "getTrackInfo", "filePath": str(path), "stems": True,
                       "requestId": request_id, "priority": priority})


async def _until_ready(client: SpecCheckedClient, ids: set[str],
                       timeout: float = 180) -> dict[str, list[dict[str, Any]]]:
    """Every message of each request, up to its stemsReady/stemsFailed."""
    messages: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    open_ids = set(ids)
    deadline = time.monotonic() + timeout
    while open_ids:
        message = await client.receive(timeout=deadline - time.monotonic())
        request = message.get("requestId")
        if request in messages:
            messages[request].append(message)
            if message["type"] in ("stemsReady", "stemsFailed"):
                open_ids.discard(request)
    return messages


def _done_records(fleet: Fleet, job_id: str) -> list[TaskDone]:
    entries = _redis(fleet).xrange(f"stemcast:events:{job_id}")
    messages = [decode(fields[b"m"]) for _id, fields in entries]
    return [m for m in messages if isinstance(m, TaskDone)]


# ---- the queue itself, against the real Redis ---------------------------------------------


async def test_queue_reads_high_then_normal_then_low(fleet: Fleet) -> None:
    queue = RedisQueue(fleet.redis.url, prefix="order-test:")
    try:
        await queue.ensure_groups()
        for job, rank in (("l1", 2), ("n1", 1), ("l2", 2), ("h1", 0), ("n2", 1)):
            await queue.submit(encode(SeparateTask(job, "in", "out", priority_rank=rank)), rank)
        order = []
        while (entry := await queue.next_entry("reader")) is not None:
            order.append(decode(entry.task).job_id)
            await queue.ack(entry)
        assert order == ["h1", "n1", "n2", "l1", "l2"]
        # Acknowledged entries are trimmed: the streams keep only live work.
        assert [await queue.redis.xlen(queue.stream(r)) for r in range(3)] == [0, 0, 0]
    finally:
        await queue.close()


# ---- through the API server and the workers -----------------------------------------------


def test_health_queue_and_metrics_show_the_fleet(fleet: Fleet) -> None:
    health = fleet.server.health()
    assert health["model"]["state"] == "ready" and health["model"]["name"] == TINY_MODEL
    workers = health["queue"]["workers"]
    assert sorted(w["name"] for w in workers if w["alive"]) == ["w0", "w1", "w2"]
    for worker in workers:
        assert worker["device"] == "cpu" and worker["model"] == TINY_MODEL
        assert worker["heartbeatAgeS"] < 30 and worker["pid"] > 0
    listing = httpx.get(f"{fleet.server.http_url}/queue").json()
    assert {w["name"] for w in listing["workers"]} >= {"w0", "w1", "w2"}
    metrics = httpx.get(f"{fleet.server.http_url}/metrics").text
    assert 'stemcast_fleet_workers{state="ready"} 3.0' in metrics
    assert 'stemcast_fleet_heartbeat_age_seconds{device="cpu",model="tiny",worker="w0"}' \
        in metrics


async def test_binary_streaming_from_a_remote_worker_equals_the_files(fleet: Fleet) -> None:
    async with SpecCheckedClient.connect(fleet.server.ws_url, fmt=FrameFormat.MSGPACK) as client:
        await client.send({"command": "hello", "delivery": "binary"})
        assert (await client.receive())["type"] == "hello"
        await _ask(client, fleet.clips["stream"], "live")
        messages = await collect(client, "live", timeout=180)
    ready = messages[-1]
    assert ready["type"] == "stemsReady" and ready["cached"] is False, ready
    chunks = [m for m in messages if m["type"] == "stemChunk"]
    assert chunks and messages.index(chunks[-1]) < len(messages) - 1
    joined = joined_chunks(messages)
    assert set(joined) == set(ready["stems"])
    for stem, path in ready["stems"].items():
        assert joined[stem] == wav_data(path)
        assert len(joined[stem]) == 8 * 44100 * 2 * 2


async def test_priorities_across_workers(fleet: Fleet) -> None:
    async with SpecCheckedClient.connect(fleet.server.ws_url) as client:
        # Three low jobs fill the three workers...
        for name in ("short1", "short2", "short3"):
            await _ask(client, fleet.clips[name], name, "low")
        _wait(lambda: sum(1 for w in fleet.fleet() if w["jobs"]) == 3, 60,
              "every worker busy:\n" + fleet.logs())
        # ...then a low, a normal and a high job wait; they start most urgent first.
        for name, priority in (("short4", "low"), ("short5", "normal"), ("short6", "high")):
            await _ask(client, fleet.clips[name], name, priority)
        messages = await _until_ready(client, {f"short{i}" for i in range(1, 7)})
    for request, received in messages.items():
        assert received[-1]["type"] == "stemsReady", (request, received[-1])

    def started(request: str) -> tuple[int, ...]:
        # When a worker took the job: the id (a Redis timestamp) of its first event.
        job_id = messages[request][-1]["jobId"]
        first = _redis(fleet).xrange(f"stemcast:events:{job_id}", count=1)[0][0]
        return tuple(int(part) for part in first.decode().split("-"))

    assert started("short6") < started("short5") < started("short4")


async def test_same_audio_from_two_clients_is_one_job(fleet: Fleet) -> None:
    copy = fleet.clips["short1"].parent / "copy-of-short2.wav"
    shutil.copyfile(fleet.clips["short2"], copy)  # same audio, another file: one cache key
    fresh = fleet.clips["short1"].parent / "fresh.wav"
    write_audio(fresh, make_music_like_signal(4.0, seed=300), 44100)
    async with SpecCheckedClient.connect(fleet.server.ws_url) as first, \
            SpecCheckedClient.connect(fleet.server.ws_url) as second:
        # Both ask at once for the same new file.
        await asyncio.gather(_ask(first, fresh, "a"), _ask(second, fresh, "b"))
        got = await asyncio.gather(_until_ready(first, {"a"}), _until_ready(second, {"b"}))
    ready_a, ready_b = got[0]["a"][-1], got[1]["b"][-1]
    assert ready_a["type"] == ready_b["type"] == "stemsReady", (ready_a, ready_b)
    assert ready_a["jobId"] == ready_b["jobId"]
    assert len(_done_records(fleet, ready_a["jobId"])) == 1  # separated once in the fleet
    async with SpecCheckedClient.connect(fleet.server.ws_url) as client:
        await _ask(client, copy, "copy")
        ready = (await _until_ready(client, {"copy"}))["copy"][-1]
    assert ready["type"] == "stemsReady" and ready["cached"] is True


async def test_killed_worker_job_is_finished_once_by_another(fleet: Fleet,
                                                           tiny_model_repo: Path) -> None:
    async with SpecCheckedClient.connect(fleet.server.ws_url) as client:
        await _ask(client, fleet.clips["long1"], "long")
        busy = _wait(lambda: [w for w in fleet.fleet() if w["jobs"] and w["alive"]], 60,
                     "a worker to take the job")
        victim = busy[0]
        # Mid-separation: its first regions are already announced.
        await client.until(lambda m: m.get("requestId") == "long"
                           and m.get("stage") == "separating", timeout=60)
        os.kill(int(victim["pid"]), signal.SIGKILL)
        received = (await _until_ready(client, {"long"}, timeout=240))["long"]
    ready = received[-1]
    assert ready["type"] == "stemsReady", ready
    assert not [m for m in received if m["type"] in ("stemsFailed", "error")]
    assert_same_stems(ready["stems"], uninterrupted_stems(
        TINY_MODEL, tiny_model_repo, fleet.clips["long1"],
        fleet.server.health()["model"]["precision"]))
    assert len(_done_records(fleet, ready["jobId"])) == 1
    dead = [w for w in fleet.fleet() if w["name"] == victim["name"]]
    assert not dead or dead[0]["alive"] is False
    fleet.workers = [w for w in fleet.workers if w.name != victim["name"]]
    fleet.add_worker(f"{victim['name']}-again", tiny_model_repo)
    fleet.wait_workers(3)


async def test_redis_restart_mid_queue_loses_nothing(fleet: Fleet) -> None:
    names = ["short1", "short2", "short3", "short4", "short5"]
    for name in names:  # new audio: a fresh job each (the earlier ones are cached)
        write_audio(fleet.folder / "music" / f"again-{name}.wav",
                    make_music_like_signal(4.0, seed=400 + names.index(name)), 44100)
    async with SpecCheckedClient.connect(fleet.server.ws_url) as client:
        for name in names:
            await _ask(client, fleet.folder / "music" / f"again-{name}.wav", name)
        _wait(lambda: sum(1 for w in fleet.fleet() if w["jobs"]) >= 2, 60, "jobs running")
        fleet.redis.kill()  # kill -9: only what AOF has on disk survives
        time.sleep(0.5)
        fleet.redis.start()
        messages = await _until_ready(client, set(names), timeout=240)
    for name, received in messages.items():
        assert received[-1]["type"] == "stemsReady", (name, received[-1], fleet.logs())
    assert httpx.get(f"{fleet.server.http_url}/queue").json()["jobs"] == []


def test_cancel_reaches_the_worker_in_another_process(fleet: Fleet) -> None:
    body = {"file_path": str(fleet.clips["long2"]), "track_hash": "fleet-cancel"}
    assert httpx.post(f"{fleet.server.http_url}/jobs", json=body, timeout=30).status_code < 300
    job_id = wait_status(fleet.server, "fleet-cancel", {"processing"})["separation_job_id"]
    # Running on a worker of the fleet, not only queued on the server.
    _wait(lambda: any(job_id in w["jobs"] for w in fleet.fleet()), 60,
          "a worker to take the job")
    deleted = httpx.delete(f"{fleet.server.http_url}/jobs/fleet-cancel", timeout=30)
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
    # The worker drops it at its next segment boundary, removes its files, and is free.
    _wait(lambda: all(job_id not in w["jobs"] for w in fleet.fleet()), 30,
          "the worker to drop the cancelled job")
    _wait(lambda: not (fleet.server.data_dir / "jobs" / job_id).exists(), 30,
          "the cancelled job's files to go")
    assert not _done_records(fleet, job_id)
    fleet.wait_workers(3, timeout=60)
