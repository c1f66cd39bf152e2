"""The mix an engine separates, prepared once into a file and read back by region.

decode -> (PCM hash) -> resample (soxr's streaming resampler) -> channels, a block at a
time, into interleaved float32 in the job's folder (mix.f32.tmp). Engines read the
windows they need (`MixSource.read`), so nothing holds the whole track: an hour of
stereo at 44.1 kHz is 1.3 GB on disk, a few MB in memory. Regions are read with plain
file reads, not a memory map: mapped pages touched once would count in the process's
resident memory until the kernel drops them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import soxr

from stemcast.audio.blocks import BlockStream, read_blocks
from stemcast.audio.decode import DecodedAudio, to_channels
from stemcast.audio.hashing import PcmHasher

MIX_FILE = "mix.f32.tmp"


class MixSource(Protocol):
    """float32 PCM an engine reads a window at a time."""

    sample_rate: int
    channels: int
    frames: int

    def read(self, start: int, end: int) -> np.ndarray:
        """float32 (channels, end - start), C-contiguous; [start, end) within the track."""
        ...

    def mono_stats(self) -> tuple[float, float]:
        """Mean and (unbiased) standard deviation of the channels' mean: Demucs's
        normalisation."""
        ...


class ArraySource:
    """A MixSource over an array already in memory (tests, short clips)."""

    def __init__(self, samples: np.ndarray, sample_rate: int = 0) -> None:
        self.samples = samples
        self.sample_rate = sample_rate
        self.channels = int(samples.shape[0])
        self.frames = int(samples.shape[1])

    def read(self, start: int, end: int) -> np.ndarray:
        return np.ascontiguousarray(self.samples[:, start:end], dtype=np.float32)

    def mono_stats(self) -> tuple[float, float]:
        import torch

        ref = torch.from_numpy(np.ascontiguousarray(self.samples, dtype=np.float32)).mean(0)
        std = float(ref.std()) if self.frames > 1 else 1.0
        return float(ref.mean()), std


class FileSource:
    """A MixSource over interleaved float32 in a file (what prepare_mix writes)."""

    def __init__(self, path: Path, sample_rate: int, channels: int,
                 stats: tuple[float, float]) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = path.stat().st_size // (4 * channels)
        self._stats = stats

    def read(self, start: int, end: int) -> np.ndarray:
        start, end = max(start, 0), min(end, self.frames)
        count = max(end - start, 0)
        with open(self.path, "rb") as handle:
            handle.seek(start * 4 * self.channels)
            data = np.fromfile(handle, dtype="<f4", count=count * self.channels)
        return np.ascontiguousarray(data.reshape(count, self.channels).T)

    def mono_stats(self) -> tuple[float, float]:
        return self._stats


def as_source(audio: np.ndarray | MixSource) -> MixSource:
    return ArraySource(audio) if isinstance(audio, np.ndarray) else audio


def read_padded(source: MixSource, start: int, end: int) -> np.ndarray:
    """source.read(start, end) with zeros where [start, end) runs past the track's edges."""
    inside = source.read(max(start, 0), min(end, source.frames))
    left = max(0, min(end, 0) - start)
    right = max(0, end - max(start, source.frames))
    if left == 0 and right == 0:
        return inside
    return np.pad(inside, ((0, 0), (left, right)))


class _MonoStats:
    """Running sum and sum of squares of the channels' mean, in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.squares = 0.0

    def update(self, samples: np.ndarray) -> None:
        ref = samples.mean(axis=0, dtype=np.float64)
        self.count += ref.size
        self.total += float(ref.sum())
        self.squares += float(np.dot(ref, ref))

    def result(self) -> tuple[float, float]:
        if self.count <= 1:
            return (self.total / max(self.count, 1), 1.0)
        mean = self.total / self.count
        variance = max(self.squares - self.count * mean * mean, 0.0) / (self.count - 1)
        return mean, variance ** 0.5


@dataclass(frozen=True)
class PreparedMix:
    source: FileSource
    pcm_hash: str  # of the decoded file, as pcm_hash(decode(path))
    duration_seconds: float  # of the decoded file


def prepare_mix(path: str | os.PathLike[str], target: Path, sample_rate: int,
                channels: int) -> PreparedMix:
    """Decode `path` into `target` at `sample_rate` with `channels`, block by block."""

    def consume(stream: BlockStream) -> PreparedMix:
        hasher = PcmHasher(stream.sample_rate, stream.channels)
        stats = _MonoStats()
        resampler = None
        if stream.sample_rate != sample_rate:
            resampler = soxr.ResampleStream(stream.sample_rate, sample_rate, stream.channels,
                                            dtype="float32", quality="HQ")
        with open(target, "wb") as out:  # truncates what a first attempt wrote
            def write(samples: np.ndarray) -> None:
                if samples.shape[1]:
                    ready = to_channels(DecodedAudio(samples, sample_rate), channels).samples
                    stats.update(ready)
                    out.write(np.ascontiguousarray(ready.T, dtype="<f4").tobytes())

            for block in stream.blocks():
                hasher.update(block)
                if resampler is None:
                    write(block)
                else:
                    write(np.ascontiguousarray(resampler.resample_chunk(block.T).T))
            if resampler is not None:
                tail = resampler.resample_chunk(np.zeros((0, stream.channels), np.float32),
                                                last=True)
                write(np.ascontiguousarray(tail.T))
        source = FileSource(target, sample_rate, channels, stats.result())
        return PreparedMix(source, hasher.hexdigest(), stream.duration_seconds)

    return read_blocks(path, consume)
