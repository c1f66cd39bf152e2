"""Every engine separates a prepared mix file, read by region, into what it makes of the
same audio held in memory; and none keeps more than the segments in flight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from stemcast.audio.prepared import FileSource, prepare_mix
from stemcast.separation.demucs_engine import DemucsEngine
from stemcast.separation.dsp_engine import DspEngine
from stemcast.separation.engine import SegmentedEngine
from stemcast.separation.model_loading import load_model
from stemcast.separation.offline_engine import OfflineEngine
from stemcast.separation.spleeter_engine import SpleeterEngine, SpleeterNetworks
from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal

RATE = 44100
SECONDS = 26.0  # several Demucs segments, three Spleeter chunks, three DSP blocks


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, FileSource]:
    folder = tmp_path_factory.mktemp("mix")
    signal = make_music_like_signal(SECONDS, seed=9)
    sf.write(folder / "in.wav", signal.T, RATE, subtype="FLOAT")
    prepared = prepare_mix(folder / "in.wav", folder / "mix.f32.tmp", RATE, 2)
    return signal.astype(np.float32), prepared.source


def _stems(engine: SegmentedEngine, audio: Any) -> np.ndarray:
    parts = [region.stems for _, region in engine.regions(audio)]
    return np.concatenate(parts, axis=-1)


@pytest.fixture(scope="module")
def networks() -> SpleeterNetworks:
    return SpleeterNetworks.load(device="cpu", precision="fp32")


@pytest.mark.parametrize("which", ["dsp", "spleeter-2stems", "offline"])
def test_file_source_gives_the_in_memory_stems(mix: tuple[np.ndarray, FileSource],
                                               networks: SpleeterNetworks,
                                               which: str) -> None:
    audio, source = mix
    engine: SegmentedEngine = {"dsp": lambda: DspEngine(),
                               "spleeter-2stems": lambda: SpleeterEngine(networks),
                               "offline": lambda: OfflineEngine(networks)}[which]()
    from_file = _stems(engine, source)
    assert from_file.shape[-1] == audio.shape[1]
    np.testing.assert_array_equal(from_file, _stems(engine, audio))


def test_demucs_from_a_file_keeps_only_the_segments_in_flight(
        tiny_model_repo: Path, mix: tuple[np.ndarray, FileSource]) -> None:
    audio, source = mix
    engine = DemucsEngine(load_model(TINY_MODEL, tiny_model_repo), TINY_MODEL)
    separation = engine.start(source)
    held = []
    parts = []
    while not separation.done:
        region = engine.step(separation)
        held.append(separation.sum_weight.shape[0])
        if region is not None:
            parts.append(region.stems)
    assert separation.segments >= 4
    # The overlap-add sums never cover more than one segment (was: the whole track).
    assert max(held) <= separation.segment_length
    from_file = np.concatenate(parts, axis=-1)
    in_memory = _stems(engine, audio)
    # The file's normalisation statistics are summed in float64 (the array's in float32).
    np.testing.assert_allclose(from_file, in_memory, atol=2e-5)
    assert torch.equal(torch.from_numpy(_stems(engine, audio)), torch.from_numpy(in_memory))
