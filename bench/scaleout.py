"""The fleet: tracks per minute with 1, 2, 3 `stemcast worker`s; the Redis hop's latency.

Starts a real redis-server, one `stemcast serve --queue` and N workers, and separates a
batch of distinct tracks at once, timing first request -> last stemsReady. Then time to
first audio (getTrackInfo -> first stemChunk, idle server) without Redis (local worker)
and through the fleet (one worker): the difference is what the Redis hop adds. Each
model in turn: the dsp engine (weightless, so the figure is the fleet's own cost, not a
model's) and the tiny random-weight Demucs the tests build (a real Demucs forward pass
in a worker, at a fraction of htdemucs's cost).

    python bench/scaleout.py [--tracks 6] [--seconds 20] [--runs 3] [--models dsp,tiny]
                             [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median, music_clip, table
from latency import first_audio

from stemcast_protocol import StemcastClient
from tests.support.fleet import RedisProcess, WorkerProcess
from tests.support.server import ServerProcess

MODELS = ("dsp", "tiny")


def model_args(model: str, root: Path) -> list[str]:
    """`--model` (and `--model-repo` for tiny, built here as the tests build it)."""
    if model != "tiny":
        return ["--model", model]
    from stemcast.separation.random_model import build_htdemucs, save_to_repo

    repo = root / "models"
    if not (repo / "tiny.yaml").exists():
        save_to_repo(build_htdemucs("tiny", seed=0), repo, "tiny")
    return ["--model", "tiny", "--model-repo", str(repo)]


def start_fleet(work: Path, workers: int, model: list[str], extra: tuple[str, ...] = ()
                ) -> tuple[RedisProcess, ServerProcess, list[WorkerProcess]]:
    """`extra`: flags for the server and every worker alike (bench/s3_hop.py's --storage)."""
    broker = RedisProcess(work / "redis").start()
    server = ServerProcess(work / "data", args=[*model, "--queue", broker.url,
                                                "--allow-path-prefix", str(work.parent), *extra])
    server.start(wait_model=False)
    nodes = [WorkerProcess(broker.url, [*model, "--device", "cpu", *extra],
                           work / f"w{i}.log", f"w{i}").start() for i in range(workers)]
    deadline = time.monotonic() + 300
    while sum(1 for w in server.health()["queue"]["workers"] if w["state"] == "ready") < workers:
        if time.monotonic() > deadline:
            raise TimeoutError("workers not ready")
        time.sleep(0.2)
    return broker, server, nodes


def stop_fleet(broker: RedisProcess, server: ServerProcess, nodes: list[WorkerProcess]) -> None:
    for node in nodes:
        node.stop()
    server.stop()
    broker.kill()


async def batch(server: ServerProcess, clips: list[Path]) -> float:
    """Seconds from the first request to the last stemsReady, all asked at once."""
    async with StemcastClient.connect(server.ws_url) as client:
        started = time.perf_counter()
        for index, clip in enumerate(clips):
            await client.send({"command": "getTrackInfo", "filePath": str(clip),
                               "stems": True, "requestId": f"t{index}"})
        open_ids = {f"t{i}" for i in range(len(clips))}
        while open_ids:
            message = await client.receive(timeout=900)
            if message["type"] in ("stemsReady", "stemsFailed"):
                assert message["type"] == "stemsReady", message
                open_ids.discard(message["requestId"])
        return time.perf_counter() - started


def scale(root: Path, model: str, tracks: int, seconds: float) -> list[list[str]]:
    music = root / "music"
    rows = []
    for workers in (1, 2, 3):
        # Fresh audio per fleet size, so no result comes from the cache.
        clips = [music_clip(music / f"{model}-w{workers}-t{i}.wav", seconds,
                            seed=100 * workers + i) for i in range(tracks)]
        fleet = start_fleet(root / f"fleet-{model}-{workers}", workers,
                            model_args(model, root))
        try:
            elapsed = asyncio.run(batch(fleet[1], clips))
        finally:
            stop_fleet(*fleet)
        rows.append([model, str(workers), f"{tracks * 60 / elapsed:.1f}", f"{elapsed:.1f}"])
    return rows


def hop(root: Path, model: str, seconds: float, runs: int) -> list[list[str]]:
    """Time to first audio: local worker (no Redis), then the fleet with one worker."""
    music = root / "music"
    args = model_args(model, root)
    local = ServerProcess(root / f"local-{model}", args=[*args, "--allow-path-prefix",
                                                         str(music)]).start()
    try:
        local_runs = [asyncio.run(first_audio(local, music_clip(
            music / f"{model}-local-{r}.wav", seconds, seed=900 + r), f"l{r}"))[0]
            for r in range(runs)]
    finally:
        local.stop()
    fleet = start_fleet(root / f"fleet-{model}-latency", 1, args)
    try:
        fleet_runs = [asyncio.run(first_audio(fleet[1], music_clip(
            music / f"{model}-remote-{r}.wav", seconds, seed=950 + r), f"r{r}"))[0]
            for r in range(runs)]
    finally:
        stop_fleet(*fleet)
    local_ms, fleet_ms = median(local_runs) * 1000, median(fleet_runs) * 1000
    return [[model, f"{local_ms:.0f}", f"{fleet_ms:.0f}", f"{fleet_ms - local_ms:.0f}"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated: dsp, tiny")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"--models: {', '.join(sorted(unknown))} unknown; use dsp, tiny")
    root = args.work or Path(tempfile.mkdtemp(prefix="stemcast-scaleout-"))
    (root / "music").mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    rows = [row for model in models for row in scale(root, model, args.tracks, args.seconds)]
    latency = [row for model in models for row in hop(root, model, args.seconds, args.runs)]
    print(f"machine: {machine()}; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end; {args.tracks} tracks of "
          f"{args.seconds:.0f} s\n")
    print(table(["model", "workers", "tracks/min", "batch s"], rows))
    print(f"\ntime to first audio, median of {args.runs} runs (ms)\n")
    print(table(["model", "local worker (no Redis)", "fleet, 1 worker (Redis)",
                 "added by the Redis hop"], latency))


if __name__ == "__main__":
    main()
