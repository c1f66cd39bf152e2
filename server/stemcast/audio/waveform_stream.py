"""Waveform peaks fed a block at a time: the same pairs as waveform.peaks on the whole
track, with memory bounded by one block (min and max are exact whatever the grouping)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from stemcast.audio.waveform import ZOOM_LEVELS, waveform_entry


class PeakStream:
    """waveform.peaks(all blocks, sample_rate, pairs_per_second), block by block."""

    def __init__(self, sample_rate: int, pairs_per_second: int) -> None:
        if sample_rate <= 0 or pairs_per_second <= 0:
            raise ValueError(f"sample_rate ({sample_rate}) and pairs_per_second "
                             f"({pairs_per_second}) must be positive")
        self.rate = sample_rate
        self.pps = pairs_per_second
        self.window = 0  # the first window not yet reduced
        self.start = 0  # its first frame (where `_low`/`_high` begin)
        self._low = np.zeros(0, np.float32)
        self._high = np.zeros(0, np.float32)
        self._pairs: list[np.ndarray] = []

    def _window_start(self, index: int | np.ndarray) -> Any:
        return np.asarray(index, dtype=np.int64) * self.rate // self.pps

    def update(self, samples: np.ndarray) -> None:
        """samples: (channels, frames) or mono (frames,)."""
        audio = np.atleast_2d(np.asarray(samples, dtype=np.float32))
        self._low = np.concatenate([self._low, np.fmin.reduce(audio, axis=0)])
        self._high = np.concatenate([self._high, np.fmax.reduce(audio, axis=0)])
        total = self.start + self._low.size
        # Window i ends at floor((i + 1) * rate / pps): complete when that is <= total.
        complete = ((total + 1) * self.pps - 1) // self.rate
        self._reduce(complete, int(self._window_start(complete)))

    def _reduce(self, until: int, end: int) -> None:
        if until <= self.window:
            return
        starts = self._window_start(np.arange(self.window, until)) - self.start
        cut = end - self.start
        low = np.fmin.reduceat(self._low[:cut], starts)
        high = np.fmax.reduceat(self._high[:cut], starts)
        self._pairs.append(np.stack([low, high], axis=1))
        self._low, self._high = self._low[cut:], self._high[cut:]
        self.window, self.start = until, end

    def finish(self) -> np.ndarray:
        """(n, 2) float32, n = ceil(frames * pairs_per_second / sample_rate)."""
        total = self.start + self._low.size
        self._reduce(-(-total * self.pps // self.rate), total)
        out = np.concatenate(self._pairs) if self._pairs else np.zeros((0, 2), np.float32)
        return np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=-1.0).astype(np.float32,
                                                                              copy=False)


class WaveformStream:
    """waveform.waveform_entries for stems fed block by block (name -> its blocks)."""

    def __init__(self, names: Iterable[str], sample_rate: int,
                 levels: Iterable[int] = ZOOM_LEVELS) -> None:
        self.sample_rate = sample_rate
        self.levels = sorted(set(levels))
        for level in self.levels:
            if level not in ZOOM_LEVELS:
                raise ValueError(f"zoom level {level} is not one of {sorted(ZOOM_LEVELS)}")
        self.streams = {name: {level: PeakStream(sample_rate, ZOOM_LEVELS[level])
                               for level in self.levels} for name in names}

    def update(self, name: str, samples: np.ndarray) -> None:
        for stream in self.streams[name].values():
            stream.update(samples)

    def entries(self, as_arrays: bool = False) -> list[dict[str, Any]]:
        """By zoom level, then in the order the names were given (as_arrays: see
        waveform.waveform_entry)."""
        pairs = {name: {level: stream.finish() for level, stream in by_level.items()}
                 for name, by_level in self.streams.items()}
        return [waveform_entry(level, name, pairs[name][level], self.sample_rate, as_arrays)
                for level in self.levels for name in self.streams]
