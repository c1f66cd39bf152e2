"""The offline engine's drum/bass split of an accompaniment (dsp_engine.drums_bass_window):
centred, unsustained tones, which the DSP engine's vocal mask would take, go to bass below
FOLD_SPLIT_HZ and to drums above, not to other; panned tones stay in other."""

from __future__ import annotations

import numpy as np
import pytest

from stemcast.separation.dsp_engine import SAMPLE_RATE, drums_bass_window


def melody(base_hz: float, pan: float) -> np.ndarray:
    """4 s of 0.25 s notes stepping over a fifth (unsustained), with left/right gains."""
    rng = np.random.default_rng(0)
    note = int(0.25 * SAMPLE_RATE)
    t = np.arange(note) / SAMPLE_RATE
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    ratios = rng.choice([1.0, 9 / 8, 5 / 4, 4 / 3, 3 / 2], size=16)
    mono = np.concatenate([np.sin(2 * np.pi * base_hz * r * t) * fade for r in ratios])
    return np.stack([mono * (1.0 - pan), mono * (1.0 + pan)]).astype(np.float32) * 0.3


def share(part: np.ndarray, whole: np.ndarray) -> float:
    return float(np.sum(part.astype(np.float64) ** 2) / np.sum(whole.astype(np.float64) ** 2))


@pytest.mark.parametrize(("base_hz", "stem"), [(300.0, 1), (1500.0, 0)])
def test_centred_melody_goes_to_bass_or_drums_not_other(base_hz: float, stem: int) -> None:
    audio = melody(base_hz, pan=0.0)
    stems = drums_bass_window(audio)
    other = audio - stems[0] - stems[1]
    assert share(stems[stem], audio) > 0.5
    assert share(other, audio) < 0.3


def test_panned_melody_stays_in_other() -> None:
    audio = melody(300.0, pan=0.9)
    stems = drums_bass_window(audio)
    other = audio - stems[0] - stems[1]
    assert share(other, audio) > 0.5
