"""`stemcast separate`'s stems written in bounded memory.

The engine's regions (demucs's shifts included) go to float32 scratch
files, one per output (--two-stems' STEM, no_STEM and minus_STEM computed per region),
while each output's peak is tracked: demucs's `prevent_clip` in rescale mode divides by
the whole stem's peak, known only at the end. Each scratch file is then encoded a block
at a time into its final format (delivery/encode.py's BlockEncoder). Memory holds a few
segments and a block, whatever the track's length; the files equal the whole-array ones.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np

from stemcast.audio.prepared import FileSource
from stemcast.delivery.encode import BlockEncoder
from stemcast.separation.engine import ProgressCallback, SegmentedEngine, SeparationEngine

BLOCK_FRAMES = 1 << 16


def clip_scale(peak: float, mode: str) -> float:
    """The divisor demucs's prevent_clip rescales a stem of this peak by (1.0: none)."""
    return max(1.01 * peak, 1.0) if mode == "rescale" else 1.0


def clip_block(block: np.ndarray, mode: str, scale: float) -> np.ndarray:
    """One block of a stem as demucs.audio.prevent_clip leaves it (see clip_scale)."""
    if mode == "rescale":
        return np.asarray(block / scale)
    if mode == "clamp":
        return np.clip(block, -0.99, 0.99)
    return block


def prevent_clip(stem: np.ndarray, mode: str) -> np.ndarray:
    """demucs.audio.prevent_clip on a whole stem: rescale below full scale, or clamp."""
    return clip_block(stem, mode, clip_scale(float(np.abs(stem).max(initial=0.0)), mode))


def output_names(sources: tuple[str, ...], two_stems: str | None,
                 other_method: str) -> list[str]:
    """The files demucs writes: every stem, or STEM and minus_STEM / no_STEM."""
    if two_stems is None:
        return list(sources)
    return ([f"minus_{two_stems}"] if other_method == "minus" else []) + [two_stems] + \
        ([f"no_{two_stems}"] if other_method == "add" else [])


def region_outputs(mix: Callable[[], np.ndarray], sources: dict[str, np.ndarray],
                   two_stems: str | None, other_method: str) -> dict[str, np.ndarray]:
    """The outputs of one stretch of (channels, frames) audio: all stems, or (--two-stems)
    STEM and no_STEM (the sum of the others) / minus_STEM (mix - STEM; `mix` reads that
    stretch of the mix, only then)."""
    if two_stems is None:
        return sources
    chosen = sources[two_stems]
    outputs: dict[str, np.ndarray] = {}
    if other_method == "minus":
        outputs[f"minus_{two_stems}"] = mix() - chosen
    outputs[two_stems] = chosen
    if other_method == "add":
        others = [s for n, s in sources.items() if n != two_stems]
        outputs[f"no_{two_stems}"] = np.asarray(np.sum(others, axis=0, dtype=np.float32))
    return outputs


@dataclass
class _Scratch:
    path: Path
    handle: BinaryIO
    peak: float = 0.0


class ScratchStems:
    """Interleaved float32 files, one per output, with each output's running peak."""

    def __init__(self, stack: ExitStack, folder: Path, names: list[str], channels: int) -> None:
        self.channels = channels
        self.files: dict[str, _Scratch] = {}
        for name in names:
            path = folder / f"{len(self.files)}.f32"
            handle = stack.enter_context(open(path, "w+b"))  # noqa: SIM115 (the stack closes it)
            self.files[name] = _Scratch(path, handle)

    def write(self, outputs: dict[str, np.ndarray]) -> None:
        """outputs: name -> float32 (channels, frames), the next stretch of each."""
        for name, samples in outputs.items():
            scratch = self.files[name]
            scratch.peak = max(scratch.peak, float(np.abs(samples).max(initial=0.0)))
            scratch.handle.write(np.ascontiguousarray(samples.T, dtype="<f4").tobytes())

    def blocks(self, name: str) -> tuple[float, Callable[[], np.ndarray]]:
        """(peak, a reader of the next (frames, channels) float32 block; empty at the end)."""
        scratch = self.files[name]
        scratch.handle.flush()
        scratch.handle.seek(0)
        count = BLOCK_FRAMES * self.channels

        def read() -> np.ndarray:
            data = np.fromfile(scratch.handle, dtype="<f4", count=count)
            return data.reshape(-1, self.channels)

        return scratch.peak, read


@dataclass(frozen=True)
class StemWriter:
    """How one track's outputs are cut and encoded (a Separator's StemFormat, unpacked)."""

    format: str
    bit_depth: int
    mp3_bitrate: int
    mp3_preset: int
    clip_mode: str
    two_stems: str | None
    other_method: str

    def write(self, engine: SeparationEngine, source: FileSource, scratch: Path,
              targets: dict[str, Path], *, on_progress: ProgressCallback | None = None,
              shifts: int = 0, seed: str = "") -> None:
        """Separate `source` and write each output to its path in `targets` (whose keys
        are output_names)."""
        info = engine.info
        with ExitStack() as stack:
            stems = ScratchStems(stack, scratch, list(targets), info.channels)
            if not isinstance(engine, SegmentedEngine):
                # An engine without regions (none today but a plug-in's) holds the track.
                track = source.read(0, source.frames)
                whole = engine.separate(track, on_progress=on_progress, shifts=shifts,
                                        seed=seed)
                stems.write(region_outputs(lambda: track, whole, self.two_stems,
                                           self.other_method))
            else:
                for progress, region in engine.regions(source, shifts=shifts, seed=seed):
                    parts = dict(zip(info.sources, region.stems, strict=True))
                    mix = partial(source.read, region.start, region.start + region.frames)
                    stems.write(region_outputs(mix, parts, self.two_stems, self.other_method))
                    if on_progress is not None:
                        on_progress(progress)
            for name, path in targets.items():
                self._encode(stems, name, path, info.sample_rate, info.channels)

    def _encode(self, stems: ScratchStems, name: str, path: Path, rate: int,
                channels: int) -> None:
        peak, read = stems.blocks(name)
        scale = clip_scale(peak, self.clip_mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            encoder = BlockEncoder(stack, path, rate, channels, format=self.format,
                                   bit_depth=self.bit_depth, bitrate=self.mp3_bitrate,
                                   mp3_quality=self.mp3_preset)
            while len(block := read()):
                encoder.write(clip_block(block, self.clip_mode, scale).astype(np.float32))
