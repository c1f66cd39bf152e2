"""`stemcast separate` block-wise (prepared mix, regions, scratch files, block encoder)
writes what the whole-track path wrote: engine.separate on the whole array, demucs's
prevent_clip, one encode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemcast.audio import decode
from stemcast.delivery.encode import to_pcm16
from stemcast.separate_file import Separator, StemFormat
from stemcast.separate_writer import output_names, prevent_clip, region_outputs
from stemcast.separation.dsp_engine import DspEngine
from tests.support.audio_fixtures import make_music_like_signal


@pytest.fixture(scope="module")
def loud_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s of float WAV peaking near 1.8: rescale must act, and differently per stem."""
    path = tmp_path_factory.mktemp("clip") / "loud.wav"
    signal = 3.6 * make_music_like_signal(7.0, seed=4)
    sf.write(path, signal.T.astype(np.float32), 44100, subtype="FLOAT")
    return path


@pytest.mark.parametrize(("two_stems", "other_method", "clip_mode"), [
    (None, "add", "rescale"),
    ("vocals", "add", "rescale"),
    ("drums", "minus", "clamp"),
], ids=["wav16", "two-stems", "minus-clamp"])
def test_block_wise_stems_are_the_whole_track_ones(
        loud_clip: Path, tmp_path: Path, two_stems: str | None, other_method: str,
        clip_mode: str) -> None:
    engine = DspEngine(block_seconds=2.0)  # several regions over the 7 s
    style = StemFormat(clip_mode=clip_mode, two_stems=two_stems, other_method=other_method)
    progress: list[float] = []
    result = Separator(engine, "dsp", tmp_path / "out", style).separate_track(
        loud_clip, on_progress=progress.append)
    assert result.ok, result.error
    assert len(progress) > 2 and progress[-1] == pytest.approx(1.0)

    mix = decode(loud_clip).samples
    whole = region_outputs(lambda: mix, engine.separate(mix), two_stems, other_method)
    names = output_names(engine.info.sources, two_stems, other_method)
    assert list(result.stems) == names == list(whole)
    peaks = [float(np.abs(samples).max()) for samples in whole.values()]
    assert max(peaks) > 1.0 and len({round(p, 3) for p in peaks}) > 1
    for name, samples in whole.items():
        expected = to_pcm16(prevent_clip(samples, clip_mode).T.astype(np.float32))
        written, rate = sf.read(result.stems[name], dtype="int16", always_2d=True)
        assert rate == 44100 and written.shape == expected.shape
        assert int(np.abs(written.astype(np.int32) - expected).max()) <= 1, name
    # The scratch folder (mix and float stems) is gone.
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["dsp"]
