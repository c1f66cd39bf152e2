"""Stem files: quantised exactly once, written under a temporary name, then renamed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf


def float_to_pcm16(samples: np.ndarray) -> np.ndarray:
    """(channels, frames) float -> interleaved (frames, channels) int16, clipped and rounded."""
    scaled = np.clip(samples, -1.0, 1.0) * 32767.0
    return np.ascontiguousarray(np.rint(scaled).astype(np.int16).T)


def pcm16_bytes(samples: np.ndarray) -> bytes:
    """The exact bytes of a PCM_16 stem file's data chunk (little-endian)."""
    return float_to_pcm16(samples).astype("<i2").tobytes()


def write_wav_atomic(path: Path, samples: np.ndarray, sample_rate: int,
                     subtype: str = "PCM_16") -> None:
    """A reader sees either no file or the whole file, never half a stem."""
    if samples.ndim != 2:
        raise ValueError(f"samples must be (channels, frames), got shape {samples.shape}")
    partial = path.with_name(path.name + ".partial")
    data = float_to_pcm16(samples) if subtype == "PCM_16" else \
        np.ascontiguousarray(samples.T.astype(np.float32))
    try:
        with open(partial, "wb") as handle:
            sf.write(handle, data, sample_rate, subtype=subtype, format="WAV")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
