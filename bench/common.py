"""Shared pieces of the benchmarks: a full-size random-weight htdemucs, test audio, tables."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

MODEL = "htdemucs_random"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{gpu}"


def full_model_repo(folder: Path) -> Path:
    """The released htdemucs architecture (41.5M parameters) with fixed random weights."""
    from stemcast.separation.random_model import build_htdemucs, save_to_repo

    if not (folder / f"{MODEL}.yaml").exists():
        save_to_repo(build_htdemucs("full", seed=0), folder, MODEL)
    return folder


def music_clip(path: Path, seconds: float, seed: int = 0) -> Path:
    """Deterministic stereo test audio (sines and noise bursts), 44.1 kHz 16-bit WAV."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros((2, t.size))
    for channel in range(2):
        for _ in range(6):
            freq = rng.uniform(50, 3000)
            out[channel] += rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * freq * t)
        out[channel] += np.exp(-np.mod(t, 0.5) * 30) * rng.standard_normal(t.size) * 0.15
    out *= 0.5 / np.max(np.abs(out))
    sf.write(path, out.T, rate, subtype="PCM_16")
    return path


def timed_runs(command: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    import time

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True,
                       env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - started)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in rows]
    return "\n".join([line, rule, *body])
