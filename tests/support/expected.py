"""The stems an uninterrupted run gives, to hold a server's stems against.

The tiny model run here in one piece, in the precision the server reports (bf16 where the
CPU has it), quantised to 16 bit as the server writes them. A job that was suspended,
restarted after a crash or retried on a new worker must end with these very stems.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import soundfile as sf

from stemcast.audio import decode, float_to_pcm16, resample, to_channels
from stemcast.separation.demucs_engine import DemucsEngine


def uninterrupted_stems(model: str, repo: Path, clip: Path,
                        precision: str) -> dict[str, np.ndarray]:
    """(frames, channels) int16 stems of `clip`, separated in one go."""
    engine = DemucsEngine.load(model, repo, device="cpu", precision=precision)
    source = decode(clip)
    prepared = to_channels(resample(source, engine.info.sample_rate), engine.info.channels)
    stems = engine.separate(prepared.samples)
    return {name: float_to_pcm16(samples) for name, samples in stems.items()}


def assert_same_stems(paths: Mapping[str, str], expected: Mapping[str, np.ndarray],
                      tolerance: int = 1) -> None:
    """Each stem file holds the expected samples, within `tolerance` 16-bit steps."""
    assert set(paths) == set(expected), (sorted(paths), sorted(expected))
    for name, path in paths.items():
        got = sf.read(path, dtype="int16", always_2d=True)[0].astype(np.int32)
        want = expected[name].astype(np.int32)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        worst = int(np.max(np.abs(got - want)))
        assert worst <= tolerance, f"{name}: differs by {worst} steps from an uninterrupted run"
