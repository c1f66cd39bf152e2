"""Demucs through its own model code, driven segment by segment (see streaming.py)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

from stemcast.separation.device import resolve_device
from stemcast.separation.engine import EngineInfo, ProgressCallback, SegmentedEngine
from stemcast.separation.model_loading import load_model
from stemcast.separation.shifted import ShiftedSeparation
from stemcast.separation.streaming import (
    OVERLAP,
    Region,
    StreamingSeparation,
    precision_name,
    resolve_precision,
    segment_count,
)

if TYPE_CHECKING:
    from demucs.apply import Model

    from stemcast.audio.prepared import MixSource
    from stemcast.separation.model_loading import DemucsModel

log = logging.getLogger(__name__)


def _sub_models(model: DemucsModel) -> list[Model]:
    from demucs.apply import BagOfModels

    if isinstance(model, BagOfModels):
        return [cast("Model", sub) for sub in model.models]  # a ModuleList of Models
    return [model]


class DemucsEngine(SegmentedEngine):
    """One loaded model (or bag of models) on one device, kept in memory between jobs."""

    def __init__(self, model: DemucsModel, name: str = "demucs",
                 device: torch.device | str = "cpu", precision: str = "fp32",
                 batch_size: int | None = None) -> None:
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.model = model
        self.name = name
        self.model.to(self.device)
        self.model.eval()
        self.autocast_dtype = resolve_precision(precision, self.device)
        # Batching segments pays on a GPU; on a CPU two segments at once are slower than
        # two calls (measured on this project's 2-core machines).
        self.batch_size = batch_size or (4 if self.device.type == "cuda" else 1)
        self.info = EngineInfo(
            name=name,
            sources=tuple(model.sources),
            sample_rate=int(model.samplerate),
            channels=int(model.audio_channels),
            device=str(self.device),
            segment_seconds=max(float(sub.segment) for sub in _sub_models(model)),
            precision=precision_name(self.autocast_dtype),
        )
        self.overlap = OVERLAP

    def set_split(self, segment: float | None, overlap: float | None) -> None:
        """demucs's --segment (seconds, at most what a transformer model was trained on)
        and --overlap (0 to <1). Raises ValueError naming the limit."""
        if overlap is not None:
            if not 0 <= overlap < 1:
                raise ValueError(f"--overlap must be at least 0 and below 1, got {overlap}")
            self.overlap = overlap
        if segment is not None:
            trained = self.info.segment_seconds
            if not 0 < segment <= trained:
                raise ValueError(f"--segment must be more than 0 and at most {trained:g} "
                                 f"seconds for {self.name} (what it was trained on), "
                                 f"got {segment}")
            for sub in _sub_models(self.model):
                sub.segment = segment
            self.info = dataclasses.replace(self.info, segment_seconds=float(segment))

    @classmethod
    def load(cls, name: str, repo: Path | None, device: str = "auto",
             fetch_timeout: float = 20.0, precision: str = "fp32",
             batch_size: int | None = None) -> DemucsEngine:
        torch_device = resolve_device(device)  # a bad device fails before weights load
        return cls(load_model(name, repo, fetch_timeout=fetch_timeout), name, torch_device,
                   precision=precision, batch_size=batch_size)

    def segment_count(self, frames: int) -> int:
        """How many segments a track of `frames` is cut into (per model of a bag)."""
        return segment_count(frames, self.info.sample_rate, self.info.segment_seconds,
                             self.overlap)

    def start(self, audio: np.ndarray | MixSource, *, shifts: int = 0,
              seed: str = "") -> StreamingSeparation | ShiftedSeparation:
        """A separation to advance with `step`, one segment batch at a time.

        shifts > 0 averages over that many random time shifts as demucs does, the shifts
        drawn from a generator seeded by `seed` (reproducible), segment by segment too."""
        source = self.check_audio(audio)
        if shifts > 0:
            return ShiftedSeparation(self.model, source, shifts=shifts, seed=seed,
                                     device=self.device, autocast_dtype=self.autocast_dtype,
                                     overlap=self.overlap)
        return StreamingSeparation(self.model, source, device=self.device,
                                   autocast_dtype=self.autocast_dtype, overlap=self.overlap)

    def step(self, separation: StreamingSeparation | ShiftedSeparation,
             should_yield: Callable[[], bool] | None = None) -> Region | None:
        """One step; on CUDA out-of-memory, retry with half the batch (down to one).

        should_yield: see StreamingSeparation.step (raises SegmentInterrupted)."""
        while True:
            try:
                return separation.step(self.batch_size, should_yield)
            except torch.OutOfMemoryError:
                if self.batch_size <= 1:
                    raise
                self.batch_size //= 2
                log.warning("CUDA out of memory: batch size now %d", self.batch_size)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

    def separate(self, audio: np.ndarray, on_progress: ProgressCallback | None = None,
                 *, shifts: int = 0, seed: str = "") -> dict[str, np.ndarray]:
        """Stems of `audio` (float32, (channels, frames)), each as long as the input;
        shifts and seed as for start()."""
        return self.separate_streamed(audio, on_progress, shifts=shifts, seed=seed)
