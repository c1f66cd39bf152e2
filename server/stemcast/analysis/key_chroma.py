"""The key's mean chroma (features._key), from constant-Q chunks of the track.

Whole, librosa.cqt of an hour holds the track several times over (its octave-by-octave
resampled copies and their STFTs). Here it runs on chunks of CHUNK_FRAMES frames with
MARGIN_FRAMES of real audio either side (longer than the lowest filter's half length,
the resamplers' reach and HPSS's time kernel together), and only the chunk's own frames
are kept: they are the whole-track transform's frames. A chunk starting at sample 0 or
ending at the track's end is padded there as the whole track is. Chunk starts are
multiples of KEY_HOP, so every octave's downsampling keeps the whole track's phase.
"""

from __future__ import annotations

import numpy as np

from stemcast.analysis.grid import RATE
from stemcast.analysis.mono_file import MonoSource, frame_count

KEY_HOP = 2048  # a key needs no time detail: 93 ms frames keep the CQT and HPSS cheap
KEY_BINS_PER_OCTAVE, KEY_OCTAVES = 36, 7
HPSS_KERNEL = 17
CHUNK_FRAMES = 256  # 24 s
MARGIN_FRAMES = 48  # 4.5 s; the lowest filter (C1, 36 bins an octave) spans 1.6 s


def mean_chroma(source: MonoSource, tuning: float) -> np.ndarray:
    """librosa.feature.chroma_cqt(C=hpss(|cqt|)[0], norm=None).mean(axis=1)."""
    import librosa

    frames = frame_count(source.size, KEY_HOP)
    total = np.zeros(12, dtype=np.float64)
    for first in range(0, frames, CHUNK_FRAMES):
        last = min(first + CHUNK_FRAMES, frames)
        lead = max(first - MARGIN_FRAMES, 0)
        start, stop = lead * KEY_HOP, min((last + MARGIN_FRAMES) * KEY_HOP, source.size)
        cqt = np.abs(librosa.cqt(source.read(start, stop), sr=RATE, hop_length=KEY_HOP,
                                 tuning=tuning, n_bins=KEY_BINS_PER_OCTAVE * KEY_OCTAVES,
                                 bins_per_octave=KEY_BINS_PER_OCTAVE))
        harmonic, _ = librosa.decompose.hpss(cqt, kernel_size=HPSS_KERNEL)
        own = harmonic[:, first - lead:last - lead]
        # norm=None: loud frames count more than quiet ones, silent ones not at all.
        chroma = librosa.feature.chroma_cqt(C=own, sr=RATE,
                                            bins_per_octave=KEY_BINS_PER_OCTAVE, norm=None)
        total += chroma.sum(axis=1, dtype=np.float64)
    return (total / frames).astype(np.float32)
