"""Demucs's random shifts run segment by segment (separation/shifted.py) against demucs's
own apply_model(shifts=N) with the same seed: equal within float tolerance, and the
buffer held never grows past a segment and the shifts' half second."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from stemcast.audio.prepared import ArraySource
from stemcast.separation.demucs_engine import DemucsEngine
from stemcast.separation.model_loading import load_model
from stemcast.separation.shifted import ShiftedSeparation, shift_seed
from tests.conftest import TINY_MODEL
from tests.unit.test_streaming_engine import make_bag_repo

CPU = torch.device("cpu")


def _audio(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, int(seconds * 44100))) * 0.2).astype(np.float32)


def _apply_model(model: object, audio: np.ndarray, shifts: int, seed: str) -> np.ndarray:
    """demucs's own code, its module-level random seeded as the engine seeds its draws."""
    from demucs.apply import apply_model

    wav = torch.from_numpy(audio)
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    state = random.getstate()
    random.seed(shift_seed(seed))
    try:
        with torch.inference_mode():
            out = apply_model(model, ((wav - mean) / std)[None], shifts=shifts, split=True,
                              overlap=0.25)[0] * std + mean
    finally:
        random.setstate(state)
    return np.asarray(out.numpy())


@pytest.mark.parametrize(("which", "shifts", "batch"),
                         [("single", 2, 1), ("single", 1, 2), ("bag", 2, 1)])
def test_shifted_regions_equal_apply_model(tiny_model_repo: Path, tmp_path: Path,
                                           which: str, shifts: int, batch: int) -> None:
    model = load_model(TINY_MODEL, tiny_model_repo) if which == "single" \
        else load_model("bag", make_bag_repo(tmp_path))
    audio = _audio(10.3, seed=11)
    separation = ShiftedSeparation(model, ArraySource(audio, 44100), shifts=shifts,
                                   seed="content-key", device=CPU)
    assert len(separation.passes) == shifts * (1 if which == "single" else 2)
    regions, held = [], []
    while not separation.done:
        region = separation.step(batch)
        held.append(separation.sums.shape[-1])
        if region is not None:
            regions.append(region)
    assert separation.progress == 1.0
    assert regions[0].start == 0
    assert all(a.start + a.frames == b.start for a, b in itertools.pairwise(regions))
    got = np.concatenate([r.stems for r in regions], axis=-1)
    expected = _apply_model(model, audio, shifts, "content-key")
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) < 1e-4
    # Several regions, not one at the end; what is held stays below batch segments
    # (4 s each) and the half second of shift.
    assert len(regions) > 1
    assert max(held) <= (batch * 4 + 0.5) * 44100


def test_another_seed_gives_other_shifts_and_the_check_can_fail(tiny_model_repo: Path) -> None:
    """The comparison above is sharp: demucs seeded differently is far from equal."""
    model = load_model(TINY_MODEL, tiny_model_repo)
    audio = _audio(6.0, seed=12)
    engine = DemucsEngine(model, TINY_MODEL)
    got = np.stack(list(engine.separate(audio, shifts=2, seed="key-a").values()))
    assert np.max(np.abs(got - _apply_model(model, audio, 2, "key-a"))) < 1e-4
    assert np.max(np.abs(got - _apply_model(model, audio, 2, "key-b"))) > 1e-3
