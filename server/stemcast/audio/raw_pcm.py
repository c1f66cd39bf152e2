"""The two sample layouts stems are kept in: 16-bit PCM (the default) and 32-bit float.

A stem is written while it separates as raw interleaved samples (NAME + raw_suffix), then
made into a WAV file with exactly those bytes as its data chunk; binary clients get the
same bytes as stemChunk frames. One layout object says how, for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from stemcast.audio.wav_writer import pcm16_bytes


@dataclass(frozen=True)
class PcmLayout:
    encoding: str  # stemChunk `encoding`
    dtype: str  # numpy dtype of one sample, little-endian
    sample_bytes: int
    raw_suffix: str
    wav_subtype: str  # soundfile subtype of the stem WAV

    def encode(self, samples: np.ndarray) -> bytes:
        """(channels, frames) float samples -> interleaved bytes of this layout."""
        if self.dtype == "<i2":
            return pcm16_bytes(samples)  # the one quantisation (clip, round)
        return np.ascontiguousarray(samples.T, dtype="<f4").tobytes()

    def frame_bytes(self, channels: int) -> int:
        return self.sample_bytes * channels


S16 = PcmLayout("pcm_s16le", "<i2", 2, ".s16.partial", "PCM_16")
F32 = PcmLayout("pcm_f32le", "<f4", 4, ".f32.partial", "FLOAT")
LAYOUTS = {layout.wav_subtype: layout for layout in (S16, F32)}


def layout_for(subtype: str) -> PcmLayout:
    try:
        return LAYOUTS[subtype]
    except KeyError:
        raise ValueError(f"unknown stem subtype {subtype!r}; use one of {', '.join(LAYOUTS)}") \
            from None


def read_frames(stems_dir: str, stem: str, start: int, frames: int, channels: int,
                layout: PcmLayout) -> bytes:
    """Interleaved frames [start, start + frames) of a stem, from its raw file while the
    job runs or from its WAV once complete (the same bytes either way)."""
    frame_bytes = layout.frame_bytes(channels)
    raw = Path(stems_dir) / f"{stem}{layout.raw_suffix}"
    try:
        with raw.open("rb") as handle:
            handle.seek(start * frame_bytes)
            data = handle.read(frames * frame_bytes)
        if len(data) == frames * frame_bytes:
            return data
    except FileNotFoundError:
        pass  # renamed into the final WAV meanwhile
    dtype = "int16" if layout.dtype == "<i2" else "float32"
    samples, _ = sf.read(Path(stems_dir) / f"{stem}.wav", start=start, frames=frames,
                         dtype=dtype, always_2d=True)
    return bytes(samples.astype(layout.dtype).tobytes())
