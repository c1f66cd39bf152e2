"""The mix export rendered block by block from the stems' files (delivery/mix_file.py)
against the whole-array form (mix.py's render_mix + encode_mix on the loaded stems): the
same 16-bit samples and the same MP3 bytes, with gains, mutes, a variant's summed stems
and a loop region across block edges."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemcast.delivery import mix_file
from stemcast.delivery.mix import LoopRegion, MixError, MixSettings, encode_mix, render_mix
from stemcast.delivery.mix_file import BLOCK_FRAMES, render_mix_file

RATE = 44100
FRAMES = 2 * BLOCK_FRAMES + 12345  # three blocks, the last one short


@pytest.fixture(scope="module")
def stems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mix-stems")
    rng = np.random.default_rng(5)
    paths = {}
    for name in ("drums", "bass", "other", "vocals"):
        path = folder / f"{name}.wav"
        sf.write(path, (rng.standard_normal((FRAMES, 2)) * 0.2).astype(np.float32), RATE,
                 subtype="FLOAT")
        paths[name] = path
    return paths


def _whole(paths: dict[str, tuple[str, ...]], settings: MixSettings) -> bytes:
    """What the export sent before: every stem loaded whole, then rendered and encoded."""
    loaded = {}
    for name, parts in paths.items():
        total = None
        for part in parts:
            data = sf.read(part, dtype="float32", always_2d=True)[0].T
            total = data if total is None else total + data
        loaded[name] = total
    return encode_mix(render_mix(loaded, RATE, settings), RATE, settings.format)


@pytest.mark.parametrize("settings", [
    MixSettings(gains_db={"vocals": -6.0, "bass": 3.0}, mutes=frozenset({"drums"})),
    MixSettings(gains_db={"vocals": 12.0}, format="mp3"),  # clipped at full scale too
    MixSettings(loop=LoopRegion(0.7, 3.1, repeats=3)),  # 2.4 s: crosses block edges
    MixSettings(gains_db={"accompaniment": -3.0}, loop=LoopRegion(1.0, 99.0, 2)),
], ids=["gains-mutes", "mp3", "loop", "variant-loop-to-end"])
def test_block_render_equals_the_whole_array_render(stems: dict[str, Path], tmp_path: Path,
                                                     settings: MixSettings) -> None:
    if "accompaniment" in settings.gains_db:
        paths = {"vocals": (str(stems["vocals"]),),
                 "accompaniment": tuple(str(stems[n]) for n in ("drums", "bass", "other"))}
    else:
        paths = {name: (str(path),) for name, path in stems.items()}
    target = tmp_path / f"mix.{settings.format}"
    render_mix_file(paths, settings, str(target))
    got, expected = target.read_bytes(), _whole(paths, settings)
    if settings.format == "mp3":
        assert got == expected
        return
    got_pcm, rate = sf.read(io.BytesIO(got), dtype="int16")
    expected_pcm, _ = sf.read(io.BytesIO(expected), dtype="int16")
    assert rate == RATE and got_pcm.shape == expected_pcm.shape
    assert len(got_pcm) > BLOCK_FRAMES  # more than one block was written
    np.testing.assert_array_equal(got_pcm, expected_pcm)


def test_tempo_and_key_equal_the_whole_array_render(stems: dict[str, Path],
                                                    tmp_path: Path) -> None:
    paths = {name: (str(path),) for name, path in stems.items()}
    settings = MixSettings(loop=LoopRegion(0.5, 2.5), tempo=0.9, semitones=-2.0)
    render_mix_file(paths, settings, str(tmp_path / "mix.wav"))
    got = sf.read(tmp_path / "mix.wav", dtype="int16")[0]
    np.testing.assert_array_equal(
        got, sf.read(io.BytesIO(_whole(paths, settings)), dtype="int16")[0])


def test_a_stretch_longer_than_the_bound_is_refused_with_the_fix(
        stems: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mix_file, "MAX_STRETCH_SECONDS", 120)
    paths = {name: (str(path),) for name, path in stems.items()}
    long_loop = LoopRegion(0.0, 4.0, repeats=40)  # 160 s
    with pytest.raises(MixError, match=r"at most 2 minutes, this mix is 3; pick a loop"):
        render_mix_file(paths, MixSettings(tempo=1.1, loop=long_loop),
                        str(tmp_path / "mix.wav"))
    assert not (tmp_path / "mix.wav").exists()
    render_mix_file(paths, MixSettings(tempo=1.1, loop=LoopRegion(0.0, 4.0, repeats=20)),
                    str(tmp_path / "mix.wav"))  # 80 s: within the bound
    assert (tmp_path / "mix.wav").exists()
