"""Waveform overviews: min/max pairs per time window, per stem and zoom level.

The entries have the shape of seed 004's `waveforms` list
(`{"zoom_level": 1, "stem_type": "bass", "data": [...]}`), with the window rate and length
added so that a client can place the pairs in time without knowing the zoom table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

# Zoom level -> min/max pairs per second of audio.
ZOOM_LEVELS: dict[int, int] = {1: 5, 2: 25, 3: 150}
DECIMALS = 3


def peaks(samples: np.ndarray, sample_rate: int, pairs_per_second: int) -> np.ndarray:
    """(n, 2) float32: the min and max over all channels of each window,
    n = ceil(duration * pairs_per_second); the last window may be short.

    `samples` is (channels, frames) or mono (frames,)."""
    if sample_rate <= 0 or pairs_per_second <= 0:
        raise ValueError(f"sample_rate ({sample_rate}) and pairs_per_second "
                         f"({pairs_per_second}) must be positive")
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"samples must be (channels, frames) or (frames,), not {audio.shape}")
    audio = np.atleast_2d(audio)
    frames = audio.shape[1]
    count = -(-frames * pairs_per_second // sample_rate)  # integer ceil: no float rounding
    if count == 0:
        return np.zeros((0, 2), dtype=np.float32)
    # Window i starts at floor(i * rate / pps): exact for any rate, also where a window is not
    # a whole number of samples (11025 Hz at 150 pairs/s). fmin/fmax skip a stray NaN.
    starts = np.arange(count, dtype=np.int64) * sample_rate // pairs_per_second
    low = np.fmin.reduceat(np.fmin.reduce(audio, axis=0), starts)
    high = np.fmax.reduceat(np.fmax.reduce(audio, axis=0), starts)
    out = np.stack([low, high], axis=1)
    return np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=-1.0).astype(np.float32, copy=False)


def waveform_entries(stems: Mapping[str, np.ndarray], sample_rate: int,
                     levels: Iterable[int] = ZOOM_LEVELS) -> list[dict[str, Any]]:
    """One entry per (zoom level, stem), by zoom level and then in the mapping's order.

    `stems` maps stem name ("bass", ..., "mix" for the original mix) to its samples.
    "data" is flat, [min0, max0, min1, max1, ...], rounded to 3 decimals."""
    entries: list[dict[str, Any]] = []
    for level in sorted(set(levels)):
        if level not in ZOOM_LEVELS:
            raise ValueError(f"zoom level {level} is not one of {sorted(ZOOM_LEVELS)}")
        rate = ZOOM_LEVELS[level]
        for name, samples in stems.items():
            entries.append(waveform_entry(level, name, peaks(samples, sample_rate, rate),
                                          sample_rate))
    return entries


def waveform_entry(level: int, name: str, pairs: np.ndarray, sample_rate: int,
                   as_array: bool = False) -> dict[str, Any]:
    """One seed-004 `waveforms` entry of (n, 2) min/max pairs; as_array: "data" stays a
    flat float64 array (for storage.json_stream, which writes it as the list's JSON)."""
    # float64 before rounding, so that 0.1 is written 0.1 and not 0.10000000149;
    # + 0.0 turns -0.0 into 0.0.
    data = np.round(pairs.astype(np.float64), DECIMALS) + 0.0
    return {
        "zoom_level": level,
        "stem_type": name,
        "pairs_per_second": ZOOM_LEVELS[level],
        "sample_rate": sample_rate,
        "length": int(pairs.shape[0]),
        "data": data.ravel() if as_array else data.ravel().tolist(),
    }
