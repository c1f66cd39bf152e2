"""Renditions encoded block by block are the files a whole-array encoding makes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from stemcast.audio.waveform import waveform_entries
from stemcast.delivery import render_files
from stemcast.delivery.outputs import OutputSpec
from stemcast.delivery.render_files import render_outputs
from stemcast.storage.job_folder import JobFolder

RATE = 44100
PLAN = {"drums": ("drums",), "instrumental": ("drums", "bass")}


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("master")
    rng = np.random.default_rng(3)
    paths = {}
    for name in ("drums", "bass"):
        data = np.rint(np.clip(rng.standard_normal((RATE * 3 + 77, 2)) * 0.3, -1, 1) * 32767)
        sf.write(folder / f"{name}.wav", data.astype(np.int16), RATE, subtype="PCM_16")
        paths[name] = str(folder / f"{name}.wav")
    return paths


def _whole(master: dict[str, str], parts: tuple[str, ...]) -> np.ndarray:
    total = sum(sf.read(master[p], dtype="int16")[0].astype(np.int32) for p in parts)
    return np.clip(total, -32768, 32767).astype(np.int16)


@pytest.mark.parametrize(("fmt", "rate", "depth"), [
    ("wav", 48000, 16), ("flac", RATE, 24), ("wav", 22050, 32)])
def test_block_rendering_is_whole_array_rendering(tmp_path: Path, master: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  fmt: str, rate: int, depth: int) -> None:
    monkeypatch.setattr(render_files, "BLOCK_FRAMES", 5000)  # many blocks in 3 s
    spec = OutputSpec(plan=PLAN, format=fmt, sample_rate=rate, bit_depth=depth,
                      bitrate=None, variant=None)
    paths = render_outputs(master, spec, str(tmp_path))
    for name, parts in PLAN.items():
        data = _whole(master, parts)
        expected: np.ndarray = data.astype(np.float32) / 32768.0
        if rate != RATE:
            expected = soxr.resample(expected, RATE, rate, quality="HQ")
        got, got_rate = sf.read(paths[name], dtype="float32")
        assert got_rate == rate and got.shape == expected.shape
        if depth == 16:
            want = np.rint(np.clip(expected, -1, 1) * 32767).astype(np.int16) \
                if rate != RATE else data
            np.testing.assert_array_equal(sf.read(paths[name], dtype="int16")[0], want)
        else:
            np.testing.assert_allclose(got, expected, atol=1e-6 if depth == 32 else 2e-7)
    summed = _whole(master, PLAN["instrumental"]).astype(np.float32) / 32768.0
    # The summed stem's peaks are files beside it, one per zoom level, like a job's.
    written = [entry for level in (1, 2, 3)
               for entry in json.loads(JobFolder(tmp_path).waveforms(level).read_text())]
    assert written == waveform_entries({"instrumental": summed.T}, RATE)


def test_mp3_fed_in_blocks_is_the_one_shot_encoding(tmp_path: Path, master: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import lameenc

    monkeypatch.setattr(render_files, "BLOCK_FRAMES", 5000)
    spec = OutputSpec(plan={"drums": ("drums",)}, format="mp3", sample_rate=RATE,
                      bit_depth=16, bitrate=192, variant=None)
    paths = render_outputs(master, spec, str(tmp_path))
    assert not list(tmp_path.glob("waveforms-*.json"))  # nothing summed, no peaks
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(192)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(2)
    encoder.set_quality(2)
    pcm = _whole(master, ("drums",))
    expected = bytes(encoder.encode(pcm.tobytes())) + bytes(encoder.flush())
    assert Path(paths["drums"]).read_bytes() == expected


def test_an_older_manifests_peaks_move_to_files(tmp_path: Path) -> None:
    from stemcast.delivery.renditions import job_waveforms, peaks_to_files
    from stemcast.storage.folder_cache import read_manifest, write_manifest

    stem = tmp_path / "nodrums.wav"
    stem.write_bytes(b"")
    entries = waveform_entries({"nodrums": np.linspace(-1, 1, RATE * 2)}, RATE)
    write_manifest(tmp_path, {"files": {"nodrums": str(stem)}, "waveforms": entries,
                              "output": "wav"})
    manifest = read_manifest(tmp_path)
    assert manifest is not None
    peaks_to_files(tmp_path, manifest)
    assert read_manifest(tmp_path) == {"files": {"nodrums": str(stem)}, "output": "wav"}
    assert job_waveforms(str(tmp_path), ["nodrums"], (1, 2, 3)) == \
        json.loads(json.dumps(entries))
