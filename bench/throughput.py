"""Seconds to separate a clip: stock `python -m demucs` versus `stemcast separate`.

Both run as whole processes (start-up and model load included) on the same file and the
same model: the released htdemucs architecture with fixed random weights, saved in
demucs's local-repo layout (no real weights are needed, and the compute is the same).

    python bench/throughput.py [--seconds 60] [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MODEL, full_model_repo, machine, median, music_clip, table, timed_runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "stemcast-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    repo = full_model_repo(args.work / "models")
    clip = music_clip(args.work / f"clip{int(args.seconds)}.wav", args.seconds)
    python = sys.executable
    env = {"HF_HUB_OFFLINE": "1"}
    stock = timed_runs([python, "-m", "demucs", "-n", MODEL, "--repo", str(repo), "-o",
                        str(args.work / "stock"), str(clip)], args.runs, env)
    results = [("demucs 4.1 CLI (shifts=1, its default)", stock)]
    for precision in ("auto", "fp32"):
        ours = timed_runs([python, "-m", "stemcast.cli", "separate", str(clip), "--out",
                           str(args.work / f"ours-{precision}"), "--model", MODEL,
                           "--model-repo", str(repo), "--precision", precision], args.runs, env)
        results.append((f"stemcast separate --precision {precision}", ours))
    base = median(stock)
    rows = [[name, f"{median(times):.1f}", f"{min(times):.1f}",
             f"{args.seconds / median(times):.2f}x", f"{median(times) / base:.2f}"]
            for name, times in results]
    print(f"Throughput, {args.seconds:.0f} s stereo clip, htdemucs architecture "
          f"(random weights), {args.runs} runs each, on {machine()}")
    print(table(["command", "median s", "best s", "speed (audio/wall)", "ours/stock"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
