"""The segment-driven engine against demucs.apply.apply_model, precision and shifts."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from stemcast.separation.demucs_engine import DemucsEngine
from stemcast.separation.model_loading import load_model
from stemcast.separation.random_model import build_htdemucs, save_to_repo
from stemcast.separation.streaming import StreamingSeparation, resolve_precision
from tests.conftest import TINY_MODEL

CPU = torch.device("cpu")


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, int(seconds * 44100))) * 0.2).astype(np.float32)


def _reference(model: object, audio: np.ndarray) -> np.ndarray:
    from demucs.apply import apply_model

    wav = torch.from_numpy(audio)
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    with torch.inference_mode():
        out = apply_model(model, ((wav - mean) / std)[None], shifts=0, split=True,
                          overlap=0.25)[0] * std + mean
    return np.asarray(out.numpy())


def _streamed(model: object, audio: np.ndarray, batch: int,
              dtype: torch.dtype | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    separation = StreamingSeparation(model, audio, device=CPU, autocast_dtype=dtype)
    regions = []
    while not separation.done:
        region = separation.step(batch)
        if region is not None:
            regions.append(region)
    spans = [(r.start, r.frames) for r in regions]
    return np.concatenate([r.stems for r in regions], axis=-1), spans


def make_bag_repo(repo: Path) -> Path:
    """A bag of two tiny random models with unequal weights per source, in `repo`."""
    sigs = [save_to_repo(build_htdemucs("tiny", seed=seed), repo, f"m{seed}").name.split("-")[0]
            for seed in (5, 6)]
    (repo / "bag.yaml").write_text(
        f"models: {sigs}\nweights: [[1.0, 0.5, 1.0, 2.0], [0.5, 1.0, 1.0, 1.0]]\n")
    return repo


@pytest.fixture(scope="module")
def bag_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bag_repo(tmp_path_factory.mktemp("bag"))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("which", ["single", "bag"])
def test_streamed_output_equals_apply_model(tiny_model_repo: Path, bag_repo: Path,
                                            which: str, batch: int) -> None:
    model = load_model(TINY_MODEL, tiny_model_repo) if which == "single" \
        else load_model("bag", bag_repo)
    audio = _audio(11.0, seed=1)
    got, spans = _streamed(model, audio, batch)
    assert np.max(np.abs(got - _reference(model, audio))) < 1e-4
    # Regions are contiguous and final as soon as the next segment's start is reached:
    # with 4 s segments and 3 s strides, the first 3 s come after the first segment.
    assert spans[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(spans))
    assert sum(n for _, n in spans) == audio.shape[1]
    if batch == 1:
        assert spans[0][1] == 3 * 44100


def test_a_wrong_overlap_add_is_caught(tiny_model_repo: Path) -> None:
    """The parity test can fail: a different transition weight shows up far above 1e-4."""
    model = load_model(TINY_MODEL, tiny_model_repo)
    audio = _audio(8.0, seed=2)
    separation = StreamingSeparation(model, audio, device=CPU)
    separation.weight = torch.ones_like(separation.weight)  # a plain average: wrong
    regions = []
    while not separation.done:
        region = separation.step()
        if region is not None:
            regions.append(region.stems)
    assert np.max(np.abs(np.concatenate(regions, axis=-1) - _reference(model, audio))) > 1e-3


def test_bf16_stays_close_to_fp32(tiny_model_repo: Path) -> None:
    model = load_model(TINY_MODEL, tiny_model_repo)
    audio = _audio(8.0, seed=3)
    fp32, _ = _streamed(model, audio, 1)
    bf16, _ = _streamed(model, audio, 1, torch.bfloat16)
    sdr = 10 * np.log10(np.sum(fp32 ** 2) / np.sum((fp32 - bf16) ** 2))
    assert sdr >= 40, f"bf16 is {sdr:.1f} dB from fp32"
    assert not np.array_equal(fp32, bf16)  # it really ran in bf16


def test_precision_choices() -> None:
    assert resolve_precision("fp32", CPU) is None
    assert resolve_precision("bf16", CPU) == torch.bfloat16
    assert resolve_precision("auto", CPU) in (None, torch.bfloat16)
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int8", CPU)


def test_shifts_are_reproducible_per_seed(tiny_model_repo: Path) -> None:
    engine = DemucsEngine.load(TINY_MODEL, tiny_model_repo, device="cpu")
    audio = _audio(5.0, seed=4)
    first = engine.separate(audio, shifts=2, seed="key-a")
    again = engine.separate(audio, shifts=2, seed="key-a")
    other = engine.separate(audio, shifts=2, seed="key-b")
    assert all(np.array_equal(first[s], again[s]) for s in first)
    assert not all(np.array_equal(first[s], other[s]) for s in first)
    plain = engine.separate(audio)
    assert not np.array_equal(first["drums"], plain["drums"])


def test_a_segment_interrupted_between_layers_leaves_no_trace(
        tiny_model_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An urgent job abandons the segment in flight; running it again later gives the
    same output as an uninterrupted separation, bit for bit."""
    from stemcast.separation import streaming

    monkeypatch.setattr(streaming, "YIELD_CHECK_INTERVAL", 0.0)
    model = load_model(TINY_MODEL, tiny_model_repo)
    audio = _audio(8.0, seed=4)
    expected, _ = _streamed(model, audio, 1)

    separation = StreamingSeparation(model, audio, device=CPU)
    first = separation.step()
    asked = itertools.count()
    with pytest.raises(streaming.SegmentInterrupted):
        separation.step(should_yield=lambda: next(asked) == 5)  # mid-forward, 6th layer
    assert next(asked) == 6  # it stopped at once
    assert separation.next_segment == 1 and first is not None
    assert separation.emitted == first.frames
    regions = [first.stems]
    layers_asked = itertools.count()
    while not separation.done:
        region = separation.step(should_yield=lambda: next(layers_asked) < 0)
        if region is not None:
            regions.append(region.stems)
    # A segment asks at every layer: the interrupt above came early in the forward pass.
    assert next(layers_asked) > 20 * (separation.segments - 1)
    assert np.array_equal(np.concatenate(regions, axis=-1), expected)
