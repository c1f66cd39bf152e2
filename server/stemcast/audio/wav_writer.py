"""Stem files: quantised exactly once, written under a temporary name, then renamed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from stemcast.storage.atomic import atomic_target


def float_to_pcm16(samples: np.ndarray) -> np.ndarray:
    """(channels, frames) float -> interleaved (frames, channels) int16, clipped and rounded.

    This is the one quantisation stems get: the file's data chunk and the streamed chunks
    (pcm16_bytes) are both made here, so they are byte-identical.
    """
    if samples.ndim != 2:
        raise ValueError(f"samples must be (channels, frames), got shape {samples.shape}")
    if not np.issubdtype(samples.dtype, np.floating):
        # Integer PCM would be clipped to -1..1 and come out as near-silence.
        raise ValueError(f"samples must be float in [-1, 1], got dtype {samples.dtype}")
    scaled = np.clip(samples, -1.0, 1.0) * 32767.0
    return np.ascontiguousarray(np.rint(scaled).astype(np.int16).T)


def pcm16_bytes(samples: np.ndarray) -> bytes:
    """The exact bytes of a PCM_16 stem file's data chunk (little-endian)."""
    return float_to_pcm16(samples).astype("<i2").tobytes()


def write_wav_atomic(path: Path, samples: np.ndarray, sample_rate: int,
                     subtype: str = "PCM_16") -> None:
    """Write (channels, frames) float samples as a WAV file that appears all at once.

    A reader sees either no file or the whole file, never half a stem: the data goes to
    `<name>.partial` in the same folder (so the rename stays on one filesystem), is fsynced,
    then renamed over `path`. On any failure the partial file is removed.
    """
    if subtype == "PCM_16":
        # int16 in, so libsndfile writes our integers rather than rescaling on its own.
        data = float_to_pcm16(samples)
    else:
        if samples.ndim != 2:
            raise ValueError(f"samples must be (channels, frames), got {samples.shape}")
        data = np.ascontiguousarray(samples.T, dtype=np.float32)
    with atomic_target(path) as partial, open(partial, "wb") as handle:
        sf.write(handle, data, sample_rate, subtype=subtype, format="WAV")
