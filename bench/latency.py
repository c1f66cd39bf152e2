"""Time to first audio over the WebSocket, idle and busy; realtime factor; worker memory.

Starts a real `stemcast serve` with the htdemucs architecture (random weights) and asks
for stems with binary delivery, timing getTrackInfo -> first stemChunk:
- idle: nothing else runs;
- busy: a low-priority 3-minute track is separating when the DJ's request arrives.
Also: one segment's compute time (the yardstick for the targets), the realtime factor
of a whole track, and the worker's peak resident memory.

    python bench/latency.py [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MODEL, full_model_repo, machine, median, music_clip, table

from stemcast_protocol import StemcastClient
from tests.support.server import ServerProcess


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def first_audio(server: ServerProcess, clip: Path, request_id: str,
                      priority: str = "high") -> tuple[float, dict[str, Any]]:
    """Seconds from sending getTrackInfo to the first stemChunk; and the stemsReady."""
    async with StemcastClient.connect(server.ws_url) as client:
        await client.send({"command": "hello", "delivery": "binary"})
        await client.receive()
        started = time.perf_counter()
        await client.send({"command": "getTrackInfo", "filePath": str(clip), "stems": True,
                           "requestId": request_id, "priority": priority})
        first: float | None = None
        while True:
            message = await client.receive(timeout=600)
            if message.get("requestId") != request_id:
                continue
            if message["type"] == "stemChunk" and first is None:
                first = time.perf_counter() - started
            if message["type"] in ("stemsReady", "stemsFailed"):
                assert first is not None, message
                return first, message


async def run(args: argparse.Namespace) -> None:
    work: Path = args.work
    repo = full_model_repo(work / "models")
    track = music_clip(work / "track180.wav", 180.0, seed=1)
    server = ServerProcess(work / f"data-{time.time_ns()}", args=[
        "--model", MODEL, "--model-repo", str(repo), "--allow-path-prefix", str(work)])
    server.start(timeout=300)
    try:
        health = server.health()
        precision, segment = health["model"]["precision"], health["model"]["segmentSeconds"]
        idle, busy = [], []
        for run_index in range(args.runs):
            clip = music_clip(work / f"dj{run_index}.wav", 30.0, seed=100 + run_index)
            seconds, _ = await first_audio(server, clip, f"idle{run_index}")
            idle.append(seconds)
        # A whole 3-minute track, timed from the job's own figures.
        _, ready = await first_audio(server, track, "track", priority="low")
        rtf = ready["processingTime"] / 180.0
        for run_index in range(args.runs):
            background = music_clip(work / f"bg{run_index}.wav", 180.0, seed=200 + run_index)
            clip = music_clip(work / f"busy{run_index}.wav", 30.0, seed=300 + run_index)
            task = asyncio.create_task(first_audio(server, background, f"bg{run_index}", "low"))
            await asyncio.sleep(args.busy_delay)  # the background track is separating now
            seconds, _ = await first_audio(server, clip, f"busy{run_index}")
            busy.append(seconds)
            await task
        worker_pid = server.health()["queue"]["workers"][0]["pid"]
        memory = peak_rss_mb(worker_pid)
    finally:
        server.stop()
    segment_compute = rtf * segment  # seconds of compute per segment at the measured speed
    print(f"Time to first audio and speed, htdemucs architecture (random weights), "
          f"precision {precision}, {args.runs} runs, on {machine()}")
    print(table(["measure", "value"], [
        ["time to first audio, idle (median)", f"{median(idle):.2f} s"],
        ["time to first audio, busy with a low 3-min track (median)", f"{median(busy):.2f} s"],
        ["one segment's compute (segment x realtime factor)",
         f"{segment_compute:.2f} s ({segment:.1f} s segments)"],
        ["first audio / segment compute, idle / busy",
         f"{median(idle) / segment_compute:.2f} / {median(busy) / segment_compute:.2f}"],
        ["realtime factor, 3-min track (compute s per audio s)", f"{rtf:.3f}"],
        ["worker peak resident memory", f"{memory:.0f} MiB"],
    ]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy-delay", type=float, default=5.0,
                        help="seconds the background track runs before the DJ asks")
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "stemcast-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
