"""The separation engine interface every engine (Demucs, later others) implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

ProgressCallback = Callable[[float], None]


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

    def separate(self, audio: np.ndarray,
                 on_progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
        """audio: float32 (channels, frames) at info.sample_rate with info.channels channels.

        Returns one float32 (channels, frames) array per source, as long as the input.
        on_progress gets the fraction done, 0..1, rising, ending at 1.
        """
        ...
