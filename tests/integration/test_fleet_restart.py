"""An API server with a worker of its own (`serve --queue --workers 1`) stopped while that
worker runs a job, beside one `stemcast worker` on a real redis-server.

What a user expects: nothing lost, nothing run twice. The job in the server's own node is
handed back to the fleet (SIGTERM) or left to expire with its heartbeat (kill -9); the
`stemcast worker` finishes it once; the restarted API server (same data folder, same
Redis) answers the same audio with those stems. Tiny random-weight Demucs.

The order does not hang on speed: the remote worker is paused (SIGSTOP) while the job is
handed out, so only the server's own node can take it, and resumed once it has (the job's
first `separating` progress: a node runs it, and w0 cannot). The server is stopped at
once; a job that still ends before the stop is accepted (and checked as such).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_MODEL
from tests.integration.test_fleet import HEARTBEAT_TTL_S, Fleet, _ask, _done_records, _redis
from tests.integration.test_fleet_more import STREAMS, Inbox, _all_ready, _connect, _until
from tests.integration.test_resilience import _wait
from tests.integration.test_streaming import wav_data
from tests.support.audio_fixtures import write_clips
from tests.support.fleet import RedisProcess, WorkerProcess, redis_server_binary
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

redis_server_binary()  # skipped here (a failure under CI) without redis-server

# A minute of audio: seconds of tiny Demucs, so the stop comes mid-job on any machine.
SECONDS = {"sigterm": 60.0, "sigkill": 60.0}


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory,
           tiny_model_repo: Path) -> Iterator[Fleet]:
    """Redis and the one `stemcast worker` (w0) that outlives the API servers."""
    folder = tmp_path_factory.mktemp("fleet-restart")
    clips = write_clips(folder / "music", SECONDS, seed=600)
    broker = RedisProcess(folder / "redis").start()
    worker = WorkerProcess(broker.url, ["--model", TINY_MODEL, "--model-repo",
                                        str(tiny_model_repo), "--device", "cpu",
                                        "--heartbeat-ttl-s", HEARTBEAT_TTL_S],
                           folder / "w0.log", "w0").start()
    state = Fleet(broker, _api_server(folder, broker, tiny_model_repo), [worker], clips,
                  folder)
    try:
        yield state
    finally:
        worker.stop(timeout=10)
        state.server.stop()
        broker.kill()


def _api_server(folder: Path, broker: RedisProcess, repo: Path) -> ServerProcess:
    return ServerProcess(folder / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(repo), "--queue", broker.url,
        "--workers", "1", "--allow-path-prefix", str(folder / "music")])


def _pending(fleet: Fleet) -> list[dict[str, Any]]:
    broker = _redis(fleet)
    return [item for stream in STREAMS for item in broker.xpending_range(
        f"stemcast:jobs:{stream}", "workers", "-", "+", 10)]


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_a_stopped_servers_job_is_finished_once_by_the_fleet(
        remote: Fleet, tiny_model_repo: Path, how: str) -> None:
    w0 = remote.workers[0]
    assert w0.process is not None and w0.process.poll() is None, w0.log()
    remote.server = _api_server(remote.folder, remote.redis, tiny_model_repo)
    remote.server.start(wait_model=False)
    remote.wait_workers(2)  # its own node and w0
    clip = remote.clips[how]
    os.kill(w0.process.pid, signal.SIGSTOP)  # only the server's own node takes the job
    try:
        async with _connect(remote) as client:
            inbox = Inbox(client)
            await _ask(client, clip, how)
            job = await inbox.job_id(how)
            # Its first `separating` progress, sent as a node starts it: the server's own
            # (w0 is paused). /health's fleet list refreshes on a period, which a short job
            # on a quiet machine can finish within, so it is not waited for.
            await inbox.until(how, lambda m: m.get("stage") == "separating")
    finally:
        os.kill(w0.process.pid, signal.SIGCONT)
    assert w0.log_path.read_text().count(f"job {job} started (") == 0, w0.log()
    server = remote.server.process
    assert server is not None
    if how == "sigterm":
        server.send_signal(signal.SIGTERM)
        await _until(lambda: server.poll() is not None, 120, "the API server to exit")
        # uvicorn ends by raising the signal again once shut down: -15 is a clean stop.
        assert server.returncode in (0, -signal.SIGTERM), remote.server.log()
        assert "Application shutdown complete" in remote.server.log()
    else:
        remote.server.kill()
    # Not lost: finished already (its node was faster than the stop), or its entry waits
    # in Redis for w0.
    finished_first = bool(_done_records(remote, job))
    assert finished_first or _pending(remote), remote.logs()
    # The remaining worker finishes it (a killed server's node: after its heartbeat TTL).
    _wait(lambda: _done_records(remote, job), 240, "w0 to finish the job:\n" + remote.logs())
    expired = how == "sigkill"
    if expired:  # the server comes back after the job's events and owner key expired
        _redis(remote).delete(f"stemcast:events:{job}", f"stemcast:owner:{job}")
    remote.server = _api_server(remote.folder, remote.redis, tiny_model_repo)
    remote.server.start(wait_model=False)
    async with _connect(remote) as client:
        await _ask(client, clip, "again")
        messages = await Inbox(client).ready({"again"})
    _all_ready(messages)
    ready = messages["again"][-1]
    assert ready["jobId"] == job, ready  # the same job, not a new separation
    assert sorted(ready["stems"]) == ["bass", "drums", "other", "vocals"]
    for path in ready["stems"].values():
        assert len(wav_data(path)) == int(SECONDS[how] * 44100) * 2 * 2, path
    # Run to the end once: by w0, when the server's own node was stopped mid-job; not
    # again for the restarted server (from the events, or from stems.json once expired).
    assert len(_done_records(remote, job)) == (0 if expired else 1)
    runs = w0.log_path.read_text().count(f"job {job} started (")
    assert runs == (0 if finished_first else 1), w0.log()
    assert f"job {job} started (" not in remote.server.log()  # the restarted server's node
    _wait(lambda: not _pending(remote), 60, "every entry acknowledged")
    remote.server.stop()
