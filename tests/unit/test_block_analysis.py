"""Analysis and drum transcription a block at a time equal their whole-track forms
(tests/support/analysis_reference.py): per-frame measures to float rounding, bpm and key
identical, beats and onsets within 5 ms, loudness within 0.1 LU.

The block sizes are set small and odd here (a few dozen frames, not a multiple of
anything), so that a block boundary that slipped by a sample or a frame, a lost margin or
a wrong carried state shows up as a difference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from stemcast.analysis import drum_spectrum, key_chroma, rhythm, track_spectra
from stemcast.analysis.characteristics import characteristics, characteristics_of
from stemcast.analysis.drums import transcribe_mono
from stemcast.analysis.features import _mono, analyze
from stemcast.analysis.grid import RATE
from stemcast.analysis.mono_file import ArrayMono, MonoFile, frame_blocks
from tests.support.analysis_reference import (
    _librosa_tempo,
    reference_analyze,
    reference_chroma,
    reference_spectra,
    reference_transcribe,
)
from tests.support.audio_fixtures import make_music_like_signal
from tests.unit.test_analysis import click_track
from tests.unit.test_corpus import corpus  # noqa: F401  (the session's rendered corpus)


@pytest.fixture(params=[(37, 13, 101, 53), (1024, 256, 2048, 4096)],
                ids=["odd-blocks", "default-blocks"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    spectra, chroma, tempo, drums = request.param
    monkeypatch.setattr(track_spectra, "BLOCK_FRAMES", spectra)
    monkeypatch.setattr(key_chroma, "CHUNK_FRAMES", chroma)
    monkeypatch.setattr(rhythm, "TEMPOGRAM_BLOCK", tempo)
    monkeypatch.setattr(drum_spectrum, "CHUNK_FRAMES", drums)


def _song(seconds: float = 14.0, bpm: float = 124.0, seed: int = 6) -> np.ndarray:
    clicks = click_track(bpm, seconds=seconds)
    music = make_music_like_signal(seconds, seed=seed)[:, :clicks.shape[1]]
    return (0.5 * music + 0.5 * clicks[:, :music.shape[1]]).astype(np.float32)


def test_mono_file_reads_what_was_written(tmp_path: Any) -> None:
    samples = np.random.default_rng(1).standard_normal(10_007).astype(np.float32)
    mono = MonoFile(tmp_path)
    for start in range(0, samples.size, 999):
        mono.append(samples[start:start + 999])
    assert list(tmp_path.iterdir()) == [], "the temporary file is unlinked at once"
    assert mono.size == samples.size
    np.testing.assert_array_equal(mono.read(-5, 20), np.r_[np.zeros(5), samples[:20]])
    np.testing.assert_array_equal(mono.read(9_990, 10_010),
                                  np.r_[samples[9_990:], np.zeros(3)])
    whole = ArrayMono(samples)
    for (_, got), (_, expected) in zip(frame_blocks(mono, 2048, 512, 7, "edge"),
                                           frame_blocks(whole, 2048, 512, 7, "edge"),
                                           strict=True):
        np.testing.assert_array_equal(got, expected)
    mono.close()


@pytest.mark.usefixtures("blocks")
def test_track_spectra_equal_the_whole_track_calls() -> None:
    mono = _mono(_song(), 44100)
    got = track_spectra.track_spectra(ArrayMono(mono))
    expected = reference_spectra(mono)
    assert got.frames == expected.frames
    assert got.tuning == pytest.approx(expected.tuning, abs=1e-9)
    for name in ("envelope", "bass", "onsets", "rms", "centroid", "rolloff", "zcr",
                 "span_rms"):
        ours, theirs = getattr(got, name), getattr(expected, name)
        assert ours.shape == theirs.shape, name
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.max(theirs),
                                   err_msg=name)


@pytest.mark.usefixtures("blocks")
def test_key_chroma_from_chunks_equals_the_whole_cqt() -> None:
    mono = _mono(_song(seconds=30.0, seed=3), 44100)
    got = key_chroma.mean_chroma(ArrayMono(mono), 0.03)
    np.testing.assert_allclose(got, reference_chroma(mono, 0.03), rtol=1e-4)


@pytest.mark.usefixtures("blocks")
def test_block_tempo_equals_librosa_tempo() -> None:
    for bpm in (97.0, 124.0, 171.0):
        spectra = track_spectra.track_spectra(ArrayMono(_mono(_song(20.0, bpm), 44100)))
        assert rhythm.block_tempo(spectra.envelope) == _librosa_tempo(spectra.envelope)


@pytest.mark.usefixtures("blocks")
@pytest.mark.parametrize(("rate", "bpm"), [(44100, 124.0), (48000, 93.0)])
def test_analysis_equals_the_whole_track_analysis(rate: int, bpm: float) -> None:
    import soxr

    song = _song(16.0, bpm)
    audio = np.ascontiguousarray(soxr.resample(song.T, 44100, rate).T) if rate != 44100 \
        else song
    got, expected = analyze(audio, rate).to_dict(), reference_analyze(audio, rate)
    assert got["bpm"] == expected["bpm"] and got["bpm"] is not None
    assert (got["key"], got["mode"]) == (expected["key"], expected["mode"])
    assert len(got["beats"]) == len(expected["beats"])
    assert np.max(np.abs(np.subtract(got["beats"], expected["beats"]))) <= 0.005
    assert got["loudness_lufs"] == pytest.approx(expected["loudness_lufs"], abs=0.1)
    assert got == expected  # in fact: all equal


@pytest.mark.usefixtures("blocks")
def test_characteristics_equal_the_whole_track_ones() -> None:
    song = _song(12.0)
    mono = _mono(song, 44100)
    kwargs: dict[str, Any] = {"bpm": 124.0, "bpm_confidence": 0.4, "loudness_lufs": -14.0}
    got = characteristics(song, 44100, **kwargs).to_dict()
    assert got == characteristics_of(reference_spectra(mono), **kwargs).to_dict()
    assert got["energy"] is not None


@pytest.mark.usefixtures("blocks")
def test_drum_transcription_equals_the_whole_track_one(tmp_path: Any) -> None:
    import soxr

    drums = make_music_like_signal(9.0, sample_rate=48000, seed=8)
    mono = np.ascontiguousarray(soxr.resample(drums.mean(axis=0), 48000, RATE * 2),
                                dtype=np.float32)
    expected = reference_transcribe(mono)
    assert expected, "the bursts transcribe to onsets"
    file = MonoFile(tmp_path)
    file.append(mono)
    assert transcribe_mono(file) == expected
    file.close()


def test_corpus_analysis_and_drums_equal_the_whole_track_forms(
        corpus: list[Any]) -> None:  # noqa: F811  (the fixture imported above)
    """On the FluidSynth-rendered corpus (tests/support/corpus.py): bpm and key identical,
    beats within 5 ms, loudness within 0.1 LU; drum onsets identical."""
    from stemcast.analysis.drums import transcribe
    from tests.support.corpus import SAMPLE_RATE, load_stereo

    for song in corpus:
        audio = load_stereo(song.mix)
        got, expected = analyze(audio, SAMPLE_RATE).to_dict(), \
            reference_analyze(audio, SAMPLE_RATE)
        assert got["bpm"] == expected["bpm"], song.spec.name
        assert (got["key"], got["mode"]) == (expected["key"], expected["mode"]), song.spec.name
        assert len(got["beats"]) == len(expected["beats"]), song.spec.name
        if got["beats"]:
            assert np.max(np.abs(np.subtract(got["beats"], expected["beats"]))) <= 0.005
        assert got["loudness_lufs"] == pytest.approx(expected["loudness_lufs"], abs=0.1)
        drums = load_stereo(song.stems["drums"])
        assert SAMPLE_RATE == drum_spectrum.RATE  # so transcribe() does not resample
        mono = drum_spectrum._mono(drums)
        assert transcribe(drums, SAMPLE_RATE) == reference_transcribe(mono), song.spec.name
