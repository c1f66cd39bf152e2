"""No orphan processes: every child of the server (separation worker, CPU-pool processes,
multiprocessing's resource tracker) is gone within seconds of the server's death, by
kill -9 or SIGTERM, so a restarted server finds its memory (and GPU) free."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stemcast_protocol import StemcastClient
from tests.conftest import TINY_MODEL
from tests.faults.helpers import alive, descendants, queue, wait_for
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration

CHILDREN_GONE_S = 10.0


def _children_once_started(server: ServerProcess) -> dict[int, str]:
    """The worker, both CPU-pool processes and the resource tracker, once all are up."""
    assert server.process is not None

    def all_started() -> dict[int, str]:
        children = descendants(server.process.pid)  # type: ignore[union-attr]
        commands = " ".join(children.values())
        enough = len(children) >= 4 and "resource_tracker" in commands
        return children if enough else {}

    return wait_for(all_started, 60, "the worker, the CPU pools and the resource tracker")


@pytest.mark.parametrize("how", ["kill -9 mid-job", "SIGTERM"])
async def test_every_child_dies_with_the_server(tmp_path: Path, tiny_model_repo: Path,
                                                how: str) -> None:
    clip = write_audio(tmp_path / "long.wav", make_music_like_signal(40.0, seed=5), 44100)
    server = ServerProcess(tmp_path / "data", args=[
        "--model", TINY_MODEL, "--model-repo", str(tiny_model_repo),
        "--allow-path-prefix", str(tmp_path)]).start()
    try:
        children = _children_once_started(server)
        if how.startswith("kill"):
            async with StemcastClient.connect(server.ws_url) as client:
                await client.send({"command": "getTrackInfo", "filePath": str(clip),
                                   "stems": True, "requestId": "busy"})
                wait_for(lambda: any(j["stage"] == "separating" for j in queue(server)), 60,
                         "the worker to be separating")
                children = {**children, **descendants(server.process.pid)}  # type: ignore[union-attr]
                server.kill()
        else:
            server.stop(signal.SIGTERM)
            assert server.process is not None and server.process.returncode is not None
    finally:
        server.kill()
    wait_for(lambda: not [pid for pid in children if alive(pid)], CHILDREN_GONE_S,
             f"the server's children to exit after {how}: "
             + ", ".join(f"{pid} {cmd[:80]}" for pid, cmd in children.items() if alive(pid)))
