"""Demucs's random shifts (`--shifts N`) in bounded memory, equal to apply_model's.

apply_model(shifts=N) runs, for each model of a bag, N whole-track passes, each over the
track delayed by a random d in [0, 0.5 s] (zeros before it), keeps each pass's output
from d on, and averages them; a bag then weighs its models per source. Each pass is an
ordinary segment-wise separation of the delayed track (StreamingSeparation's `delay`),
so here all N x models passes run side by side, the one furthest behind stepped next,
and their final regions are summed into one buffer with the weight apply_model would
give them. A stretch of the track is final once every pass has emitted it: memory holds
a segment or two and half a second per pass, whatever the track's length.

The delays are drawn as apply_model draws them, from a generator seeded by the job's
content key, so the output equals apply_model's under `random.seed(the same value)`:
random.randint(0, max_shift) per pass (models of a bag in order, then shifts), and
between two draws what the previous pass's forward passes took from the same module-level
generator (HTDemucs's "sin" time embedding calls random.randrange once per forward, even
with no shift to draw; see _forward_draws).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from stemcast.separation.streaming import (
    OVERLAP,
    Region,
    StreamingSeparation,
    bag_weights,
    sub_models,
)

if TYPE_CHECKING:
    from stemcast.audio.prepared import MixSource


def shift_seed(seed: str) -> int:
    """The integer `random.seed` gets for a job's seed string (its content key)."""
    return int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16)


def _forward_draws(model: Any) -> list[int]:
    """The randrange bounds one forward pass of `model` draws from Python's `random`:
    one per cross-domain transformer with the "sin" embedding (its random shift, 0 at
    inference unless trained with t_sin_random_shift, drawn all the same)."""
    from demucs.transformer import CrossTransformerEncoder

    return [int(module.sin_random_shift) + 1 for module in model.modules()
            if isinstance(module, CrossTransformerEncoder) and module.emb == "sin"]


@dataclass
class _Pass:
    separation: StreamingSeparation
    # Per source: its weight in the final sum (bag weight / (shifts x the source's total)).
    scale: np.ndarray

    @property
    def final(self) -> int:
        """Track frames (not delayed ones) this pass has emitted."""
        return max(self.separation.emitted - self.separation.delay, 0)


class ShiftedSeparation:
    """One track's separation with `shifts` random shifts per model, stepped like
    StreamingSeparation (done, progress, step)."""

    def __init__(self, model: Any, audio: np.ndarray | MixSource, *, shifts: int, seed: str,
                 device: torch.device, autocast_dtype: torch.dtype | None = None,
                 overlap: float = OVERLAP) -> None:
        from stemcast.audio.prepared import as_source

        if shifts < 1:
            raise ValueError(f"shifts must be at least 1 here, got {shifts}")
        source = as_source(audio)
        draw = random.Random(shift_seed(seed))
        subs, weights = sub_models(model), bag_weights(model)
        totals = np.sum(np.asarray(weights, dtype=np.float64), axis=0)
        self.passes: list[_Pass] = []
        for sub, sub_weights in zip(subs, weights, strict=True):
            max_shift = int(0.5 * sub.samplerate)
            scale = np.asarray(sub_weights, dtype=np.float64) / (shifts * totals)
            forward_draws = _forward_draws(sub)
            for _ in range(shifts):
                delay = max_shift - draw.randint(0, max_shift)
                separation = StreamingSeparation(sub, source, device=device, overlap=overlap,
                                                 autocast_dtype=autocast_dtype, delay=delay)
                self.passes.append(_Pass(separation, scale.astype(np.float32)[:, None, None]))
                for _ in range(separation.segments):  # apply_model: one forward a segment
                    for bound in forward_draws:
                        draw.randrange(bound)
        self.frames = source.frames
        self.sources = list(model.sources)
        self.channels = source.channels
        self.base = 0  # track frame of self.sums[..., 0]; everything before it is emitted
        self.sums = np.zeros((len(self.sources), self.channels, 0), dtype=np.float32)

    @property
    def segments(self) -> int:
        return sum(p.separation.segments for p in self.passes)

    @property
    def done(self) -> bool:
        return self.base >= self.frames

    @property
    def progress(self) -> float:
        return sum(p.separation.next_segment for p in self.passes) / self.segments

    def step(self, batch: int = 1,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        """Step the pass furthest behind; return the track audio every pass has finished.

        A step that gives way (SegmentInterrupted) leaves everything as it was."""
        if self.done:
            return None
        behind = min((p for p in self.passes if not p.separation.done),
                     key=lambda p: p.final)
        region = behind.separation.step(batch, should_yield)
        if region is not None:
            self._add(behind, region)
        return self._emit(min(p.final for p in self.passes))

    def _add(self, shifted: _Pass, region: Region) -> None:
        """Sum a pass's region (delayed timeline) into the track's timeline."""
        start = region.start - shifted.separation.delay
        stems = region.stems
        if start < 0:
            stems, start = stems[..., -start:], 0
        end = start + stems.shape[-1]
        missing = end - self.base - self.sums.shape[-1]
        if missing > 0:
            self.sums = np.concatenate(
                [self.sums, np.zeros((*self.sums.shape[:2], missing), np.float32)], axis=-1)
        self.sums[..., start - self.base:end - self.base] += shifted.scale * stems

    def _emit(self, end: int) -> Region | None:
        if end <= self.base:
            return None
        cut = end - self.base
        final = np.ascontiguousarray(self.sums[..., :cut])
        self.sums = self.sums[..., cut:].copy()  # a copy, so the emitted part is freed
        region = Region(self.base, final)
        self.base = end
        return region
