"""The fleet with stems in an S3 store: what the store adds over a shared folder.

One `serve --queue` and one `stemcast worker` on the dsp engine (weightless: the figure is
the transfer's own cost), first with the data folder shared (nothing copied), then with
`--storage s3://...` on moto's S3 server on loopback (the input up, every region up and
down, the finished files up and down). Times time to first audio (getTrackInfo -> first
stemChunk, idle fleet) and a track's whole time (-> stemsReady), median of --runs.

    python bench/s3_hop.py [--seconds 30] [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from common import machine, median, music_clip, table
from latency import first_audio
from moto.server import ThreadedMotoServer
from scaleout import start_fleet, stop_fleet

from tests.support.server import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}


def measure(root: Path, name: str, extra: tuple[str, ...], seconds: float,
            runs: int) -> tuple[float, float]:
    music = root / "music"
    fleet = start_fleet(root / name, 1, ["--model", "dsp"], extra)
    try:
        firsts, wholes = [], []
        for run in range(runs):
            clip = music_clip(music / f"{name}-{run}.wav", seconds, seed=700 + run)
            started = time.perf_counter()
            first, _ready = asyncio.run(first_audio(fleet[1], clip, f"{name}{run}"))
            wholes.append(time.perf_counter() - started)
            firsts.append(first)
    finally:
        stop_fleet(*fleet)
    return median(firsts), median(wholes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    root = args.work or Path(tempfile.mkdtemp(prefix="stemcast-s3hop-"))
    (root / "music").mkdir(parents=True, exist_ok=True)
    os.environ.update(CREDENTIALS)  # the servers and workers inherit them
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    s3.start()
    endpoint = f"http://127.0.0.1:{s3._port}"
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        shared = measure(root, "shared", (), args.seconds, args.runs)
        stored = measure(root, "s3", ("--storage", "s3://bench/fleet", "--storage-endpoint",
                                      endpoint), args.seconds, args.runs)
    finally:
        s3.stop()
    rows = [["shared folder", f"{shared[0] * 1000:.0f}", f"{shared[1]:.2f}"],
            ["S3 store (moto, loopback)", f"{stored[0] * 1000:.0f}", f"{stored[1]:.2f}"],
            ["added by the store", f"{(stored[0] - shared[0]) * 1000:.0f}",
             f"{stored[1] - shared[1]:.2f}"]]
    print(f"machine: {machine()}; one worker, {args.seconds:.0f} s tracks on dsp, median of "
          f"{args.runs}\n")
    print(table(["stems in", "first audio ms", "whole track s"], rows))


if __name__ == "__main__":
    main()
