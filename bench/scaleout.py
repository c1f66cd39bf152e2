"""The fleet: tracks per minute with 1, 2, 3 `stemcast worker`s; the Redis hop's latency.

Starts a real redis-server, one `stemcast serve --queue` and N workers on the dsp engine
(weightless, so the figure is the fleet's own cost, not a model's), and separates a batch
of distinct tracks at once, timing first request -> last stemsReady. Then time to first
audio (getTrackInfo -> first stemChunk, idle server) without Redis (local worker) and
through the fleet (one worker): the difference is what the Redis hop adds.

    python bench/scaleout.py [--tracks 6] [--seconds 20] [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
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

MODEL = "dsp"


def start_fleet(work: Path, workers: int, extra: tuple[str, ...] = ()
                ) -> tuple[RedisProcess, ServerProcess, list[WorkerProcess]]:
    """`extra`: flags for the server and every worker alike (bench/s3_hop.py's --storage)."""
    broker = RedisProcess(work / "redis").start()
    server = ServerProcess(work / "data", args=["--model", MODEL, "--queue", broker.url,
                                                "--allow-path-prefix", str(work.parent),
                                                *extra])
    server.start(wait_model=False)
    nodes = [WorkerProcess(broker.url, ["--model", MODEL, "--device", "cpu", *extra],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    root = args.work or Path(tempfile.mkdtemp(prefix="stemcast-scaleout-"))
    music = root / "music"
    music.mkdir(parents=True, exist_ok=True)
    rows = []
    for workers in (1, 2, 3):
        # Fresh audio per fleet size, so no result comes from the cache.
        clips = [music_clip(music / f"w{workers}-t{i}.wav", args.seconds, seed=100 * workers + i)
                 for i in range(args.tracks)]
        fleet = start_fleet(root / f"fleet{workers}", workers)
        try:
            elapsed = asyncio.run(batch(fleet[1], clips))
        finally:
            stop_fleet(*fleet)
        rows.append([str(workers), f"{args.tracks * 60 / elapsed:.1f}", f"{elapsed:.1f}"])
    print(f"machine: {machine()}; {args.tracks} tracks of "
          f"{args.seconds:.0f} s on {MODEL}\n")
    print(table(["workers", "tracks/min", "batch s"], rows))

    latency = []
    local = ServerProcess(root / "local-data", args=["--model", MODEL, "--allow-path-prefix",
                                                     str(music)]).start()
    try:
        local_runs = [asyncio.run(first_audio(local, music_clip(
            music / f"local-{r}.wav", args.seconds, seed=900 + r), f"l{r}"))[0]
            for r in range(args.runs)]
    finally:
        local.stop()
    fleet = start_fleet(root / "fleet-latency", 1)
    try:
        fleet_runs = [asyncio.run(first_audio(fleet[1], music_clip(
            music / f"remote-{r}.wav", args.seconds, seed=950 + r), f"r{r}"))[0]
            for r in range(args.runs)]
    finally:
        stop_fleet(*fleet)
    latency.append(["local worker (no Redis)", f"{median(local_runs) * 1000:.0f}"])
    latency.append(["fleet, 1 worker (Redis)", f"{median(fleet_runs) * 1000:.0f}"])
    latency.append(["added by the Redis hop",
                    f"{(median(fleet_runs) - median(local_runs)) * 1000:.0f}"])
    print("\ntime to first audio, median of", args.runs, "runs (ms)\n")
    print(table(["path", "first audio ms"], latency))


if __name__ == "__main__":
    main()
