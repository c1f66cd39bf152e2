"""Demucs through its own API: normalise as demucs does, apply_model, report progress."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemcast.separation.device import resolve_device
from stemcast.separation.engine import EngineInfo, ProgressCallback
from stemcast.separation.model_loading import load_model

OVERLAP = 0.25


def _sub_models(model: Any) -> list[Any]:
    from demucs.apply import BagOfModels

    return list(model.models) if isinstance(model, BagOfModels) else [model]


class DemucsEngine:
    """One loaded model, kept in memory between jobs."""

    def __init__(self, model: Any, name: str, device: torch.device) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.model.to(device)
        self.model.eval()
        segment = float(max(m.segment for m in _sub_models(model)))
        self.info = EngineInfo(
            name=name,
            sources=tuple(model.sources),
            sample_rate=int(model.samplerate),
            channels=int(model.audio_channels),
            device=str(device),
            segment_seconds=segment,
        )

    @classmethod
    def load(cls, name: str, repo: Path | None, device: str = "auto",
             fetch_timeout: float = 20.0) -> DemucsEngine:
        torch_device = resolve_device(device)  # fail on a bad device before loading weights
        return cls(load_model(name, repo, fetch_timeout=fetch_timeout), name, torch_device)

    def segment_count(self, frames: int) -> int:
        """How many model calls apply_model makes for this many frames (for progress)."""
        total = 0
        for sub in _sub_models(self.model):
            segment_length = int(self.info.sample_rate * float(sub.segment))
            stride = int((1 - OVERLAP) * segment_length)
            total += max(math.ceil(frames / stride), 1)
        return total

    def separate(self, audio: np.ndarray,
                 on_progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
        from demucs.apply import apply_model

        if audio.ndim != 2 or audio.shape[0] != self.info.channels:
            raise ValueError(f"audio must be ({self.info.channels}, frames), got {audio.shape}")
        frames = audio.shape[1]
        if frames == 0:
            raise ValueError("cannot separate empty audio")
        wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        # Exactly demucs.api.Separator's normalisation (mono reference, mean and std).
        ref = wav.mean(0)
        mean = ref.mean()
        std = (ref.std() if frames > 1 else torch.tensor(0.0)) + 1e-8
        total = self.segment_count(frames)
        done = 0
        lock = threading.Lock()

        def callback(state: dict[str, Any]) -> None:
            nonlocal done
            if state.get("state") != "end" or on_progress is None:
                return
            with lock:
                done += 1
                on_progress(min(done / total, 1.0))

        with torch.inference_mode():
            out = apply_model(self.model, ((wav - mean) / std)[None], shifts=0, split=True,
                              overlap=OVERLAP, device=self.device, callback=callback)
        out = out[0] * std + mean
        if on_progress is not None:
            on_progress(1.0)
        return {name: out[index].numpy().astype(np.float32, copy=False)
                for index, name in enumerate(self.info.sources)}
