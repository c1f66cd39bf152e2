"""A track's mono mixdown, read back a region at a time: analysis never holds it whole.

An hour of mono at 44.1 kHz is 635 MB of float32; analysis and drum transcription write
it once to an unlinked temporary file (MonoFile) and read it back in regions (a block of
STFT frames, a CQT chunk and its margins, the samples around one drum hit). Short arrays
(tests, warm-up, analyze() of samples in memory) use the same interface (ArrayMono).

`frame_blocks` cuts a source into runs of frames exactly as librosa's centred framing
(`center=True`) does: frame k is centred on sample k * hop, samples outside the track
are zeros (pad_mode "constant") or the edge sample (pad_mode "edge").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal, Protocol

import numpy as np

from stemcast.storage.disk_column import DiskColumn

Pad = Literal["constant", "edge"]


class MonoSource(Protocol):
    @property
    def size(self) -> int:
        """Samples in the source."""
        ...

    def read(self, start: int, stop: int) -> np.ndarray:
        """float32 samples [start, stop); zeros where that is outside the track."""
        ...

    def edge(self, last: bool) -> float:
        """The first (last=False) or last sample."""
        ...


class ArrayMono:
    def __init__(self, samples: np.ndarray) -> None:
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self.size = int(self.samples.size)

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros(max(stop - start, 0), dtype=np.float32)
        low, high = max(start, 0), min(stop, self.size)
        if high > low:
            out[low - start:high - start] = self.samples[low:high]
        return out

    def edge(self, last: bool) -> float:
        return float(self.samples[-1 if last else 0]) if self.size else 0.0


class MonoFile:
    """float32 samples appended to an unlinked temporary file, then read by region."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self._column = DiskColumn(folder, np.float32, prefix="stemcast-mono-")

    @property
    def size(self) -> int:
        return self._column.size

    def append(self, samples: np.ndarray) -> None:
        self._column.append(samples)

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros(max(stop - start, 0), dtype=np.float32)
        low, high = max(start, 0), min(stop, self.size)
        if high > low:
            out[low - start:high - start] = self._column.read(low, high)
        return out

    def edge(self, last: bool) -> float:
        if not self.size:
            return 0.0
        at = self.size - 1 if last else 0
        return float(self.read(at, at + 1)[0])

    def close(self) -> None:
        self._column.close()


def frame_count(size: int, hop: int) -> int:
    """Frames of librosa's centred framing of `size` samples."""
    return 1 + size // hop


def frame_blocks(source: MonoSource, n_fft: int, hop: int, block_frames: int,
                 pad: Pad = "constant") -> Iterator[tuple[int, np.ndarray]]:
    """(first frame, samples) per run of up to block_frames frames: the samples are what
    framing them with center=False gives those frames of the centred framing."""
    frames = frame_count(source.size, hop)
    for first in range(0, frames, block_frames):
        last = min(first + block_frames, frames)
        start = first * hop - n_fft // 2
        stop = (last - 1) * hop - n_fft // 2 + n_fft
        samples = source.read(start, stop)
        if pad == "edge":
            if start < 0:
                samples[:-start] = source.edge(last=False)
            if stop > source.size:
                samples[max(source.size - start, 0):] = source.edge(last=True)
        yield first, samples
