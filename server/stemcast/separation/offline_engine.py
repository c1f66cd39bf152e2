"""The 4-stem engine that needs no network (`--model offline`): a trained vocal model and
the DSP engine's methods for the rest.

- vocals: Spleeter 2stems' vocal estimate (spleeter_engine.py);
- accompaniment = mix - vocals: Spleeter's own accompaniment below 11 kHz (its two masks
  sum to 1 there), plus everything above, where its 2stems output is cut;
- drums and bass: the DSP engine's harmonic/percussive split and bass crossover
  (dsp_engine.drums_bass_window) on that accompaniment, never on the full mix, so the
  voice no longer leaks into them; what the DSP vocal mask would take from it (the
  bass's centred upper harmonics, the drums' tones) goes to bass below 500 Hz, drums above;
- other: the accompaniment minus drums and bass.

So the four stems sum to the mix (up to float rounding). Both halves stream: a step
either separates Spleeter's next chunk or runs the DSP split over the accompaniment that
is final and has DSP_CONTEXT of it after (the DSP engine's block context, so block edges
leave no seam); each DSP step hands out its region.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from stemcast.audio.prepared import MixSource
from stemcast.separation.dsp_engine import BLOCK_SECONDS as DSP_BLOCK_SECONDS
from stemcast.separation.dsp_engine import (
    CONTEXT_SECONDS,
    HOP,
    Interrupt,
    drums_bass_window,
)
from stemcast.separation.engine import OFFLINE_MODEL
from stemcast.separation.spleeter_engine import (
    CHANNELS,
    SAMPLE_RATE,
    SpleeterBasedEngine,
    SpleeterNetworks,
    SpleeterSeparation,
)
from stemcast.separation.spleeter_engine import HOP as SPLEETER_HOP
from stemcast.separation.streaming import Region

SOURCES = ("drums", "bass", "other", "vocals")
# Spleeter's final regions end on its hop grid, which is the DSP engine's: the DSP
# windows' edges stay on one grid, as the DSP engine's own blocks do.
assert HOP == SPLEETER_HOP
BLOCK_FRAMES = max(round(DSP_BLOCK_SECONDS * SAMPLE_RATE / HOP), 1) * HOP
CONTEXT_FRAMES = math.ceil(CONTEXT_SECONDS * SAMPLE_RATE / HOP) * HOP


class OfflineSeparation:
    """One track: Spleeter's chunks, then the DSP split of what they made final."""

    def __init__(self, networks: SpleeterNetworks, source: MixSource) -> None:
        self.mix = source  # read by region: only the blocks in flight are in memory
        self.frames = source.frames
        self.spleeter = SpleeterSeparation(networks, source)
        # Vocals and accompaniment from `kept` up to what Spleeter has made final.
        self.kept = 0
        self.vocals = np.zeros((CHANNELS, 0), dtype=np.float32)
        self.accompaniment = np.zeros((CHANNELS, 0), dtype=np.float32)
        self.emitted = 0

    @property
    def available(self) -> int:
        return self.kept + int(self.vocals.shape[1])

    @property
    def segments(self) -> int:
        return self.spleeter.segments + math.ceil(self.frames / BLOCK_FRAMES)

    @property
    def done(self) -> bool:
        return self.emitted >= self.frames

    @property
    def progress(self) -> float:
        return (self.spleeter.progress + self.emitted / self.frames) / 2

    def step(self, should_yield: Callable[[], bool] | None = None) -> Region | None:
        """One Spleeter chunk (returns None: nothing is final yet) or one DSP block (returns
        its four stems). Interrupted (SegmentInterrupted), the separation stays as it was."""
        if self.done:
            return None
        ready = self.frames if self.spleeter.done else self.available - CONTEXT_FRAMES
        if ready <= self.emitted:
            self._separate_vocals(should_yield)
            return None
        return self._split_accompaniment(min(self.emitted + BLOCK_FRAMES, ready), should_yield)

    def _separate_vocals(self, should_yield: Callable[[], bool] | None) -> None:
        region = self.spleeter.step(should_yield)
        if region is None:
            return
        vocals = region.stems[0]
        accompaniment = self.mix.read(region.start, region.start + region.frames) - vocals
        self.vocals = np.concatenate([self.vocals, vocals], axis=1)
        self.accompaniment = np.concatenate([self.accompaniment, accompaniment], axis=1)

    def _split_accompaniment(self, end: int,
                             should_yield: Callable[[], bool] | None) -> Region:
        start = self.emitted
        window_start = max(start - CONTEXT_FRAMES, 0)
        window_end = min(end + CONTEXT_FRAMES, self.available)
        window = self.accompaniment[:, window_start - self.kept:window_end - self.kept]
        drums, bass = drums_bass_window(window, Interrupt(should_yield))[
            ..., start - window_start:end - window_start]
        accompaniment = self.accompaniment[:, start - self.kept:end - self.kept]
        other = accompaniment - drums - bass
        vocals = self.vocals[:, start - self.kept:end - self.kept]
        stems = np.stack([drums, bass, other, vocals])
        # Commit only now: an interrupted split leaves everything as it was.
        self.emitted = end
        keep_from = max(end - CONTEXT_FRAMES, 0)
        self.vocals = self.vocals[:, keep_from - self.kept:]
        self.accompaniment = self.accompaniment[:, keep_from - self.kept:]
        self.kept = keep_from
        return Region(start, np.ascontiguousarray(stems, dtype=np.float32))


class OfflineEngine(SpleeterBasedEngine):
    """drums, bass, other, vocals with no download: Spleeter vocals + DSP on the rest."""

    sources = SOURCES
    default_name = OFFLINE_MODEL

    def start(self, audio: np.ndarray | MixSource, *, shifts: int = 0,
              seed: str = "") -> OfflineSeparation:
        # shifts, seed: Demucs's; this engine is deterministic and ignores them.
        return OfflineSeparation(self.networks, self.check_audio(audio))

    def step(self, separation: OfflineSeparation,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        return separation.step(should_yield)
