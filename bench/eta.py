"""How far the server's etaSeconds is from the time really left, at 10 %, 50 % and 90 %.

Starts a real `stemcast serve` (tiny random-weight Demucs as its default model, the DSP
engine beside it), sends the rendered corpus (tests/support/corpus.py, needs fluidsynth)
and then a 3-minute track through each model one job at a time, records every `progress`
message, and compares the etaSeconds of the first message at or past each mark with the
seconds that really were left until `stemsReady`. The first jobs of a model teach the
server its speed, as in use. Relative error = |eta - left| / left.

    python bench/eta.py [--songs 6] [--long-seconds 180] [--models dsp,tiny] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, table

from stemcast.separation.random_model import build_htdemucs, save_to_repo
from stemcast_protocol import StemcastClient
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.corpus import DEFAULT_SONGS, render_corpus
from tests.support.server import ServerProcess

MARKS = (0.1, 0.5, 0.9)


async def one_job(server: ServerProcess, path: Path, model: str, request_id: str,
                  trace: bool = False) -> tuple[float, dict[float, tuple[float, float, bool]]]:
    """The job's seconds from request to stemsReady, and mark -> (etaSeconds, seconds
    really left, whether an etaRange came with it)."""
    seen: list[tuple[float, dict[str, Any]]] = []
    async with StemcastClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "filePath": str(path), "stems": True,
                           "model": model, "requestId": request_id})
        while True:
            message = await client.receive(timeout=900)
            if message.get("requestId") != request_id:
                continue
            seen.append((time.monotonic(), message))
            if message["type"] in ("stemsReady", "stemsFailed"):
                break
    finished, ready = seen[-1]
    assert ready["type"] == "stemsReady", ready
    if trace:
        _trace(seen, request_id)
    out: dict[float, tuple[float, float, bool]] = {}
    for mark in MARKS:
        for at, message in seen:
            if message["type"] == "progress" and message["progress"] >= mark \
                    and message.get("etaSeconds") is not None:
                out[mark] = (message["etaSeconds"], finished - at, "etaRange" in message)
                break
    return finished - seen[0][0], out


def _trace(seen: list[tuple[float, dict[str, Any]]], request_id: str) -> None:
    """Every message of one job: when (from the first), what, the ETA against the truth."""
    first, finished = seen[0][0], seen[-1][0]
    print(f"-- {request_id}")
    for at, message in seen:
        eta = message.get("etaSeconds")
        print(f"{at - first:7.2f} s  {message['type']:<12} {message.get('stage', ''):<11}"
              f" {message.get('progress', 0):5.2f}  eta {eta if eta is not None else '-':>6}"
              f"  range {message.get('etaRange', '-')!s:<16} left {finished - at:6.2f}")


def error(eta: float, left: float) -> float:
    return abs(eta - left) / max(left, 0.5)  # half a second: the tick is as long


async def run(args: argparse.Namespace) -> None:
    work: Path = args.work
    repo = work / "models"
    if not (repo / "tiny.yaml").exists():
        save_to_repo(build_htdemucs("tiny", seed=0), repo, "tiny")
    songs = [song.mix for song in render_corpus(work / "corpus", DEFAULT_SONGS[:args.songs])]
    long_track = work / f"long{int(args.long_seconds)}.wav"
    if not long_track.exists():
        write_audio(long_track, make_music_like_signal(args.long_seconds, seed=7), 44100)
    server = ServerProcess(work / f"data-{time.time_ns()}", args=[
        "--model", "tiny", "--model-repo", str(repo), "--allow-path-prefix", str(work)])
    server.start(timeout=300)
    rows = []
    try:
        for model in args.models.split(","):
            for label, tracks in (("corpus", songs), (f"{args.long_seconds:.0f} s track",
                                                      [long_track])):
                errors: dict[float, list[float]] = {mark: [] for mark in MARKS}
                # seconds off: on a job of a second or two, a relative error says little
                misses: dict[float, list[float]] = {mark: [] for mark in MARKS}
                lasted: list[float] = []
                ranged = {mark: 0 for mark in MARKS}
                for index, track in enumerate(tracks):
                    # a fresh request id and a changed file name would still hit the cache:
                    # each model separates each file once
                    seconds, result = await one_job(server, track, model,
                                                    f"{model}-{label}-{index}", args.trace)
                    lasted.append(seconds)
                    for mark, (eta, left, has_range) in result.items():
                        errors[mark].append(error(eta, left))
                        misses[mark].append(abs(eta - left))
                        ranged[mark] += has_range
                row = [model, label, str(len(tracks)), f"{statistics.median(lasted):.1f} s"]
                for mark in MARKS:
                    values = errors[mark] or [float("nan")]
                    row.append(f"{statistics.median(values):.0%} / {max(values):.0%},"
                               f" {statistics.median(misses[mark] or [float('nan')]):.2f} s"
                               f" ({ranged[mark]}/{len(tracks)} ranged)")
                rows.append(row)
                print(" | ".join(row), flush=True)  # partial results survive an interrupt
    finally:
        server.stop()
    print(f"\nETA error at each progress mark (median / worst of |eta - left| / left, then "
          f"the median seconds off), one job at a time, on {machine()}")
    print(table(["model", "audio", "jobs", "job lasted", "10 %", "50 %", "90 %"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--songs", type=int, default=len(DEFAULT_SONGS))
    parser.add_argument("--long-seconds", type=float, default=180.0)
    parser.add_argument("--models", default="dsp,tiny")
    parser.add_argument("--trace", action="store_true",
                        help="print every message of every job (where the error comes from)")
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "stemcast-bench-eta")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
