"""The separation engine interface every engine (Demucs, the DSP engine) implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from stemcast.audio.prepared import MixSource
    from stemcast.separation.streaming import Region

ProgressCallback = Callable[[float], None]

# Names a request or --model may use besides Demucs model names.
AUTO_MODEL = "auto"  # htdemucs when its weights are on disk, else the offline engine
DSP_MODEL = "dsp"  # the weightless engine: always available
SPLEETER_MODEL = "spleeter-2stems"  # Spleeter's trained vocals + accompaniment (no download)
OFFLINE_MODEL = "offline"  # 4 stems with no download: Spleeter vocals, DSP on the rest
AUTO_DEMUCS_MODEL = "htdemucs"


@dataclass(frozen=True)
class EngineInfo:
    name: str
    sources: tuple[str, ...]
    sample_rate: int
    channels: int
    device: str
    segment_seconds: float
    precision: str = "fp32"  # what the model runs in: fp32, bf16 or fp16 (autocast)


class SeparationEngine(Protocol):
    info: EngineInfo

    def start(self, audio: np.ndarray | MixSource, *, shifts: int = 0, seed: str = "") -> Any:
        """audio: float32 (channels, frames) at info.sample_rate with info.channels channels,
        in memory or a MixSource read by region (a long track's prepared file). shifts:
        Demucs's random time shifts (seeded by `seed`); engines without them ignore both."""
        ...

    # `separation` is what this engine's start() returned (Any: each engine has its own).
    def step(self, separation: Any,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        """Advance one step; the audio that became final, if any. should_yield, asked while
        the step runs, may abandon it (SegmentInterrupted): the step then runs again later."""
        ...

    def separate(self, audio: np.ndarray, on_progress: ProgressCallback | None = None, *,
                 shifts: int = 0, seed: str = "") -> dict[str, np.ndarray]:
        """One float32 (channels, frames) array per source, as long as the input."""
        ...


class SegmentedEngine:
    """What the segment-wise engines share: checking input, stepping, collecting.

    A subclass sets `info` and implements start() and step()."""

    info: EngineInfo

    def start(self, audio: np.ndarray | MixSource, *, shifts: int = 0, seed: str = "") -> Any:
        raise NotImplementedError

    def step(self, separation: Any,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        raise NotImplementedError

    def check_audio(self, audio: np.ndarray | MixSource) -> MixSource:
        """The audio as a MixSource, checked. A file source was checked as it was decoded
        (decode_checks), so only its shape is looked at here."""
        from stemcast.audio.prepared import ArraySource

        if isinstance(audio, np.ndarray):
            if audio.ndim != 2 or audio.shape[0] != self.info.channels:
                raise ValueError(f"audio must be ({self.info.channels}, frames), "
                                 f"got {audio.shape}")
            if not np.isfinite(audio).all():
                raise ValueError("audio contains NaN or infinite samples")
            audio = ArraySource(audio, self.info.sample_rate)
        if audio.channels != self.info.channels:
            raise ValueError(f"audio must have {self.info.channels} channels, "
                             f"got {audio.channels}")
        if audio.frames == 0:
            raise ValueError("cannot separate empty audio (0 frames)")
        return audio

    def regions(self, audio: np.ndarray | MixSource, *, shifts: int = 0,
                seed: str = "") -> Iterator[tuple[float, Region]]:
        """(progress, final region) pairs as the separation advances."""
        separation = self.start(audio, shifts=shifts, seed=seed)
        while not separation.done:
            region = self.step(separation)
            if region is not None:
                yield separation.progress, region

    def separate_streamed(self, audio: np.ndarray, on_progress: ProgressCallback | None = None,
                          *, shifts: int = 0, seed: str = "") -> dict[str, np.ndarray]:
        """Every region, concatenated: one float32 (channels, frames) array per source."""
        parts = []
        for progress, region in self.regions(audio, shifts=shifts, seed=seed):
            parts.append(region.stems)
            if on_progress is not None:
                on_progress(progress)
        stems = np.concatenate(parts, axis=-1)
        return {name: np.ascontiguousarray(stems[index])
                for index, name in enumerate(self.info.sources)}
