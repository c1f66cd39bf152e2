"""Demucs through its own API: normalise as demucs does, apply_model, report progress."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from stemcast.separation.device import resolve_device
from stemcast.separation.engine import EngineInfo, ProgressCallback
from stemcast.separation.model_loading import load_model

if TYPE_CHECKING:
    from demucs.apply import Model

    from stemcast.separation.model_loading import DemucsModel

OVERLAP = 0.25


def _sub_models(model: DemucsModel) -> list[Model]:
    from demucs.apply import BagOfModels

    if isinstance(model, BagOfModels):
        return [cast("Model", sub) for sub in model.models]  # a ModuleList of Models
    return [model]


class DemucsEngine:
    """One loaded model (or bag of models) on one device, kept in memory between jobs."""

    def __init__(self, model: DemucsModel, name: str = "demucs",
                 device: torch.device | str = "cpu") -> None:
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.model = model
        self.name = name
        self.model.to(self.device)
        self.model.eval()
        # A bag carries sources/samplerate/channels itself and has already pushed its
        # `segment` (if any) into its models, which is what apply_model reads.
        self.info = EngineInfo(
            name=name,
            sources=tuple(model.sources),
            sample_rate=int(model.samplerate),
            channels=int(model.audio_channels),
            device=str(self.device),
            segment_seconds=max(float(sub.segment) for sub in _sub_models(model)),
        )

    @classmethod
    def load(cls, name: str, repo: Path | None, device: str = "auto",
             fetch_timeout: float = 20.0) -> DemucsEngine:
        torch_device = resolve_device(device)  # a bad device fails before weights load
        return cls(load_model(name, repo, fetch_timeout=fetch_timeout), name, torch_device)

    def segment_count(self, frames: int) -> int:
        """How many model calls apply_model(split=True, shifts=0) makes for `frames`."""
        total = 0
        for sub in _sub_models(self.model):
            # The same arithmetic as apply_model: offsets = range(0, frames, stride).
            stride = int((1 - OVERLAP) * int(self.info.sample_rate * float(sub.segment)))
            total += math.ceil(frames / stride)
        return total

    def separate(self, audio: np.ndarray,
                 on_progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
        """Stems of `audio` (float32, (channels, frames)), each as long as the input.

        on_progress gets the fraction of model calls done, rising, ending at 1.0; an
        exception raised from it aborts the separation (apply_model passes it through).
        """
        from demucs.apply import apply_model

        if audio.ndim != 2 or audio.shape[0] != self.info.channels:
            raise ValueError(f"audio must be ({self.info.channels}, frames), got {audio.shape}")
        frames = int(audio.shape[1])
        if frames == 0:
            raise ValueError("cannot separate empty audio (0 frames)")
        if not np.isfinite(audio).all():
            raise ValueError("audio contains NaN or infinite samples")
        wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        # demucs.api.Separator.separate_tensor's normalisation, bit for bit. One frame has
        # no spread (std would be NaN), so it is left unscaled; 1 frame still separates:
        # apply_model pads it to a whole segment.
        ref = wav.mean(0)
        mean = ref.mean()
        std = (ref.std() if frames > 1 else torch.tensor(1.0)) + 1e-8
        total = self.segment_count(frames)
        done = 0
        reported = 0.0

        def callback(state: dict[str, Any]) -> None:
            # Called under apply_model's lock, once per segment and model of a bag.
            nonlocal done, reported
            if state.get("state") != "end" or on_progress is None:
                return
            done += 1
            fraction = min(done / total, 1.0)
            if fraction > reported:
                reported = fraction
                on_progress(fraction)

        with torch.inference_mode():
            out = apply_model(self.model, ((wav - mean) / std)[None], shifts=0, split=True,
                              overlap=OVERLAP, device=self.device, callback=callback)
            out = out[0] * std + mean
        if on_progress is not None and reported < 1.0:
            on_progress(1.0)
        stems = out.cpu().numpy()
        return {name: np.ascontiguousarray(stems[index], dtype=np.float32)
                for index, name in enumerate(self.info.sources)}
