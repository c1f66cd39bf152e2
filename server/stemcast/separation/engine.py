"""The separation engine interface every engine (Demucs, the DSP engine) implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from stemcast.separation.streaming import Region

ProgressCallback = Callable[[float], None]

# Names a request or --model may use besides Demucs model names.
AUTO_MODEL = "auto"  # htdemucs when its weights can be had, else the DSP engine
DSP_MODEL = "dsp"  # the weightless engine: always available
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

    def start(self, audio: np.ndarray) -> Any:
        """audio: float32 (channels, frames) at info.sample_rate with info.channels channels."""
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
