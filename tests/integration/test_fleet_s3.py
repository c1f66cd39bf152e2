"""The fleet with stems in an S3-compatible store: moto's S3 server on loopback (real
HTTP, real boto3 on both sides), a real redis-server, one `serve --queue --storage` and
`stemcast worker --storage` processes on the dsp engine.

The API server and the workers share no folder: the worker fetches the input from the
bucket and works in its own scratch folder; the API server's data folder is filled only
from the bucket.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from stemcast_protocol import FrameFormat
from tests.integration.test_fleet import _ask, _done_records, _until_ready
from tests.integration.test_library import separate, upload
from tests.integration.test_resilience import _wait
from tests.integration.test_streaming import collect, joined_chunks, wav_data
from tests.support.audio_fixtures import make_music_like_signal, write_audio, write_clips
from tests.support.client import SpecCheckedClient
from tests.support.fleet import RedisProcess, WorkerProcess, redis_server_binary
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.integration

redis_server_binary()  # skipped here (a failure under CI) without redis-server
boto3 = pytest.importorskip("boto3", reason="the s3 extra (pip install 'stemcast[s3]')")
moto_server = pytest.importorskip("moto.server", reason="moto[server] (the test extra)")

BUCKET = "stems"
PREFIX = "fleet"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Fleet:
    redis: RedisProcess
    server: ServerProcess
    workers: list[WorkerProcess]
    endpoint: str
    folder: Path
    clips: dict[str, Path]

    @property
    def storage(self) -> list[str]:
        return ["--storage", f"s3://{BUCKET}/{PREFIX}", "--storage-endpoint", self.endpoint]

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, **_client_credentials())

    def keys(self, prefix: str) -> list[str]:
        reply = self.s3().list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{prefix}")
        return sorted(item["Key"] for item in reply.get("Contents", []))

    def object(self, key: str) -> bytes:
        data: bytes = self.s3().get_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")["Body"].read()
        return data

    def add_worker(self, name: str) -> WorkerProcess:
        worker = WorkerProcess(self.redis.url, [
            "--model", "dsp", "--device", "cpu", "--heartbeat-ttl-s", "2", *self.storage,
            "--scratch-dir", str(self.folder / f"scratch-{name}")],
            self.folder / f"{name}.log", name).start()
        self.workers.append(worker)
        return worker

    def wait_workers(self, count: int, timeout: float = 120) -> None:
        def ready() -> bool:
            workers = self.server.health()["queue"]["workers"]
            return sum(1 for w in workers if w["alive"] and w["state"] == "ready") >= count
        _wait(ready, timeout, f"{count} ready workers:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.log()}" for w in self.workers) + \
            f"\n--- server\n{self.server.log()}"


def _client_credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
            "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Fleet]:
    folder = tmp_path_factory.mktemp("fleet-s3")
    music = folder / "music"
    clips = write_clips(music, {"http": 6.0, "stream": 8.0, "long": 40.0}, seed=400)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    s3.start()
    endpoint = f"http://127.0.0.1:{s3._port}"
    broker = RedisProcess(folder / "redis").start()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)  # the standard AWS variables, for both processes
        boto3.client("s3", endpoint_url=endpoint, **_client_credentials()).create_bucket(
            Bucket=BUCKET)
        state = S3Fleet(broker, ServerProcess(folder / "data", env=CREDENTIALS, args=[
            "--model", "dsp", "--queue", broker.url, "--allow-path-prefix", str(music),
            "--storage", f"s3://{BUCKET}/{PREFIX}", "--storage-endpoint", endpoint]),
            [], endpoint, folder, clips)
        try:
            state.server.start(wait_model=False)
            state.add_worker("s0")
            state.wait_workers(1)
            yield state
        finally:
            for worker in state.workers:
                worker.stop(timeout=10)
            state.server.stop()
            broker.kill()
            s3.stop()


def _job_keys(fleet: S3Fleet, job_id: str) -> list[str]:
    return fleet.keys(f"jobs/{job_id}/")


async def test_stems_over_http_equal_the_stems_in_the_bucket(s3fleet: S3Fleet) -> None:
    async with SpecCheckedClient.connect(s3fleet.server.ws_url) as client:
        await _ask(client, s3fleet.clips["http"], "http")
        ready = (await _until_ready(client, {"http"}, timeout=120))["http"][-1]
    assert ready["type"] == "stemsReady", (ready, s3fleet.logs())
    job = ready["jobId"]
    keys = _job_keys(s3fleet, job)
    for stem in ready["stems"]:
        served = httpx.get(f"{s3fleet.server.http_url}/api/stems/{job}/{stem}.wav", timeout=30)
        assert served.status_code == 200, served.text
        assert served.content == s3fleet.object(f"jobs/{job}/stems/{stem}.wav")
    assert f"{PREFIX}/jobs/{job}/stems.json" in keys
    # Once the WAVs are down, the regions and the input are no longer kept.
    _wait(lambda: not s3fleet.keys(f"jobs/{job}/regions/") and not s3fleet.keys(
        f"inputs/{job}/"), 30, "regions and input deleted")
    # The worker's own folder held the files, not the API server's: no shared folder.
    assert not list((s3fleet.folder / "scratch-s0").rglob("*.wav"))
    # The API server's folder is a cache of the bucket: lost, it is read back, not
    # separated again.
    shutil.rmtree(Path(ready["stems"]["bass"]).parent.parent)
    async with SpecCheckedClient.connect(s3fleet.server.ws_url) as client:
        await _ask(client, s3fleet.clips["http"], "again")
        again = (await _until_ready(client, {"again"}, timeout=60))["again"][-1]
    assert again["type"] == "stemsReady" and again["cached"] is True, again
    assert again["jobId"] == job
    for stem, path in again["stems"].items():
        assert Path(path).read_bytes() == s3fleet.object(f"jobs/{job}/stems/{stem}.wav")


async def test_binary_streaming_from_the_store_equals_the_files(s3fleet: S3Fleet) -> None:
    async with SpecCheckedClient.connect(s3fleet.server.ws_url, fmt=FrameFormat.MSGPACK) \
            as client:
        await client.send({"command": "hello", "delivery": "binary"})
        assert (await client.receive())["type"] == "hello"
        await _ask(client, s3fleet.clips["stream"], "live")
        messages = await collect(client, "live", timeout=120)
    ready = messages[-1]
    assert ready["type"] == "stemsReady" and ready["cached"] is False, ready
    chunks = [m for m in messages if m["type"] == "stemChunk"]
    assert chunks and messages.index(chunks[-1]) < len(messages) - 1  # before the end
    joined = joined_chunks(messages)
    assert set(joined) == set(ready["stems"])
    for stem, path in ready["stems"].items():
        assert joined[stem] == wav_data(path)
        assert Path(path).read_bytes() == s3fleet.object(
            f"jobs/{ready['jobId']}/stems/{stem}.wav")
        assert len(joined[stem]) == 8 * 44100 * 2 * 2


async def test_deleting_a_track_removes_its_objects(s3fleet: S3Fleet) -> None:
    song = write_audio(s3fleet.folder / "Doomed.wav", make_music_like_signal(3.0, seed=77),
                       44100)
    track = upload(s3fleet.server, song).json()
    ready = await separate(s3fleet.server, track["trackId"])
    assert ready["type"] == "stemsReady", (ready, s3fleet.logs())
    assert _job_keys(s3fleet, ready["jobId"])
    gone = httpx.delete(f"{s3fleet.server.http_url}/api/tracks/{track['trackId']}",
                        timeout=30)
    assert gone.status_code == 200 and gone.json()["stemsRemoved"] == [ready["jobId"]]
    assert _job_keys(s3fleet, ready["jobId"]) == []
    assert not Path(ready["stems"]["bass"]).exists()


async def test_a_killed_worker_job_is_finished_by_another_complete_in_the_store(
        s3fleet: S3Fleet) -> None:
    s3fleet.add_worker("s1")
    s3fleet.wait_workers(2)
    async with SpecCheckedClient.connect(s3fleet.server.ws_url) as client:
        await _ask(client, s3fleet.clips["long"], "long")
        busy = _wait(lambda: [w for w in s3fleet.server.health()["queue"]["workers"]
                              if w["jobs"]], 60, "a worker to take the job")
        # Mid-job: its first regions are in the bucket.
        _wait(lambda: s3fleet.keys(f"jobs/{busy[0]['jobs'][0]}/regions/"), 60,
              "a region in the bucket")
        os.kill(int(busy[0]["pid"]), signal.SIGKILL)
        received = (await _until_ready(client, {"long"}, timeout=180))["long"]
    ready = received[-1]
    assert ready["type"] == "stemsReady", (ready, s3fleet.logs())
    assert not [m for m in received if m["type"] in ("stemsFailed", "error")]
    assert len(_done_records(cast(Any, s3fleet), ready["jobId"])) == 1
    for stem, path in ready["stems"].items():
        data = s3fleet.object(f"jobs/{ready['jobId']}/stems/{stem}.wav")
        assert Path(path).read_bytes() == data
        assert len(wav_data(path)) == 40 * 44100 * 2 * 2  # complete
    s3fleet.workers = [w for w in s3fleet.workers if w.name != busy[0]["name"]]


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_missing_bucket_dead_endpoint_or_no_credentials_is_said_at_start(
        s3fleet: S3Fleet, command: str, tmp_path: Path) -> None:
    def start(storage: str, endpoint: str,
              credentials: dict[str, str] = CREDENTIALS) -> subprocess.CompletedProcess[str]:
        extra = ["--data-dir", str(tmp_path / "data"), "--port", str(free_port())] \
            if command == "serve" else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return subprocess.run(
            [sys.executable, "-m", "stemcast.cli", command, "--queue", s3fleet.redis.url,
             "--model", "dsp", "--storage", storage, "--storage-endpoint", endpoint, *extra],
            capture_output=True, text=True, timeout=120, env={**env, **credentials})

    missing = start("s3://no-such-bucket/x", s3fleet.endpoint)
    assert missing.returncode == 2, missing.stderr
    assert "bucket 'no-such-bucket' does not exist" in missing.stderr
    assert "aws s3 mb s3://no-such-bucket" in missing.stderr
    dead = start(f"s3://{BUCKET}/x", f"http://127.0.0.1:{free_port()}")
    assert dead.returncode == 2, dead.stderr
    assert "cannot reach the store" in dead.stderr and "--storage-endpoint" in dead.stderr
    nobody = start(f"s3://{BUCKET}/x", s3fleet.endpoint, {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"})
    assert nobody.returncode == 2, nobody.stderr
    assert "no credentials" in nobody.stderr and "AWS_ACCESS_KEY_ID" in nobody.stderr


def test_refused_credentials_are_said_at_start(s3fleet: S3Fleet, tmp_path: Path) -> None:
    # A second moto server that checks signatures: it knows no key, so it refuses ours.
    port = free_port()
    strict = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _answers(port), 60, "moto's server to listen")
        refused = subprocess.run(
            [sys.executable, "-m", "stemcast.cli", "worker", "--queue", s3fleet.redis.url,
             "--model", "dsp", "--storage", f"s3://{BUCKET}/x", "--storage-endpoint",
             f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=120, env={**os.environ, **CREDENTIALS})
    finally:
        strict.terminate()
        strict.wait(10)
    assert refused.returncode == 2, refused.stderr
    assert "refused the credentials" in refused.stderr
    assert "AWS_ACCESS_KEY_ID" in refused.stderr


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except httpx.HTTPError:
        return False


async def test_an_offline_cache_clear_deletes_the_jobs_objects_in_the_store(
        s3fleet: S3Fleet) -> None:
    """`stemcast cache clear --storage`: a stopped server's stems leave the bucket too; a
    clear that is not told about the store its server used refuses, naming the flags."""
    clip = write_audio(s3fleet.folder / "music" / "cleared.wav",
                       make_music_like_signal(3.0, seed=99), 44100)
    data = s3fleet.folder / "clear-data"
    server = ServerProcess(data, env=CREDENTIALS, args=[
        "--model", "dsp", "--queue", s3fleet.redis.url, "--allow-path-prefix",
        str(clip.parent), *s3fleet.storage])
    try:
        server.start(wait_model=False)
        async with SpecCheckedClient.connect(server.ws_url) as client:
            await _ask(client, clip, "cleared")
            ready = (await _until_ready(client, {"cleared"}, timeout=120))["cleared"][-1]
    finally:
        server.stop()
    assert ready["type"] == "stemsReady", (ready, server.log(), s3fleet.logs())
    job, folder = ready["jobId"], Path(ready["stems"]["bass"]).parent.parent
    assert f"{PREFIX}/jobs/{job}/stems/bass.wav" in _job_keys(s3fleet, job)

    def clear(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stemcast.cli", "cache", "clear", "--force",
             "--data-dir", str(data), *flags], capture_output=True, text=True, timeout=120,
            env={**os.environ, **CREDENTIALS})

    unaware = clear()
    assert unaware.returncode == 2, unaware.stderr
    assert " ".join(s3fleet.storage) in unaware.stderr and "--local-only" in unaware.stderr
    missing = clear("--storage", "s3://no-such-bucket/x", "--storage-endpoint",
                    s3fleet.endpoint)
    assert missing.returncode == 2 and "aws s3 mb" in missing.stderr, missing.stderr
    dead = clear("--storage", f"s3://{BUCKET}/{PREFIX}", "--storage-endpoint",
                 f"http://127.0.0.1:{free_port()}")
    assert dead.returncode == 2 and "cannot reach the store" in dead.stderr, dead.stderr
    assert _job_keys(s3fleet, job) and folder.is_dir()  # the refusals removed nothing
    cleared = clear(*s3fleet.storage)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.split("\t")[:2] == ["removed", job]
    assert _job_keys(s3fleet, job) == [] and not folder.exists()


async def test_the_api_servers_own_workers_go_through_the_store(s3fleet: S3Fleet) -> None:
    """`serve --workers 1 --storage`: its node writes to the bucket like a remote one."""
    for worker in s3fleet.workers:  # the module's last test: only the server's own node
        worker.stop(timeout=30)
    s3fleet.workers = []
    clip = write_audio(s3fleet.folder / "music" / "own.wav",
                       make_music_like_signal(4.0, seed=88), 44100)
    own = ServerProcess(s3fleet.folder / "own-data", env=CREDENTIALS, args=[
        "--model", "dsp", "--queue", s3fleet.redis.url, "--workers", "1",
        "--allow-path-prefix", str(clip.parent), *s3fleet.storage])
    try:
        own.start(wait_model=False)
        _wait(lambda: any(w["alive"] and w["state"] == "ready" and "local" in w["name"]
                          for w in own.health()["queue"]["workers"]), 120,
              f"the server's own worker:\n{own.log()}")
        async with SpecCheckedClient.connect(own.ws_url) as client:
            await _ask(client, clip, "own")
            ready = (await _until_ready(client, {"own"}, timeout=120))["own"][-1]
    finally:
        own.stop()
    assert ready["type"] == "stemsReady", (ready, own.log())
    for stem, path in ready["stems"].items():
        assert Path(path).read_bytes() == s3fleet.object(
            f"jobs/{ready['jobId']}/stems/{stem}.wav")
