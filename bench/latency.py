"""Time to first audio over the WebSocket, idle and busy; realtime factor; worker memory.

Starts a real `stemcast serve` with the htdemucs architecture (random weights) and asks
for stems with binary delivery, timing getTrackInfo -> first stemChunk:
- idle: nothing else runs;
- busy: a low-priority 3-minute track is separating when the DJ's request arrives.
Also: one segment's compute time (the yardstick for the targets), the realtime factor,
and the worker's peak resident memory.

    python bench/latency.py [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import math
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
        idle, busy, rtfs = [], [], []
        for run_index in range(args.runs):
            clip = music_clip(work / f"dj{run_index}.wav", 30.0, seed=100 + run_index)
            seconds, ready = await first_audio(server, clip, f"idle{run_index}")
            idle.append(seconds)
            rtfs.append(ready["processingTime"] / 30.0)
        rtf = median(rtfs)
        # Busy: a low-priority 3-minute track separates; the DJ loads tracks meanwhile.
        background = asyncio.create_task(first_audio(server, track, "background", "low"))
        await asyncio.sleep(args.busy_delay)
        for run_index in range(args.runs):
            clip = music_clip(work / f"busy{run_index}.wav", 30.0, seed=300 + run_index)
            seconds, _ = await first_audio(server, clip, f"busy{run_index}")
            busy.append(seconds)
            await asyncio.sleep(1.0)  # let the background track run a segment again
        await background
        worker_pid = server.health()["queue"]["workers"][0]["pid"]
        memory = peak_rss_mb(worker_pid)
    finally:
        server.stop()
    # Seconds of compute per segment: a 30 s clip is ceil(30 s / stride) segments, the
    # stride being 3/4 of a segment (demucs's overlap of 0.25).
    stride = int(0.75 * int(44100 * segment))
    segment_compute = rtf * 30.0 / math.ceil(30.0 * 44100 / stride)
    print(f"Time to first audio and speed, htdemucs architecture (random weights), "
          f"precision {precision}, {args.runs} runs, on {machine()}")
    print(table(["measure", "value"], [
        ["time to first audio, idle (median)", f"{median(idle):.2f} s"],
        ["time to first audio, busy with a low 3-min track (median)", f"{median(busy):.2f} s"],
        ["one segment's compute (a 30 s job's time / its segments)",
         f"{segment_compute:.2f} s ({segment:.1f} s segments)"],
        ["first audio / segment compute, idle / busy",
         f"{median(idle) / segment_compute:.2f} / {median(busy) / segment_compute:.2f}"],
        ["realtime factor, 30 s tracks (compute s per audio s)", f"{rtf:.3f}"],
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
