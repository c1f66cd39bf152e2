"""Analysis and drum transcription read a file block by block (analysis.stream_input) and
give what the whole-track functions give: bpm and key identical, beats and onsets within
5 ms (in practice identical), loudness within 1e-6 LU, waveforms equal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import soxr

from stemcast.analysis.app_waveforms import mix_band_waveforms
from stemcast.analysis.beatgrid import beat_grid
from stemcast.analysis.characteristics import characteristics
from stemcast.analysis.drums import onsets_document, transcribe
from stemcast.analysis.features import analyze
from stemcast.analysis.stream_input import BandStream, LoudnessStream
from stemcast.analysis.tasks import ONSETS_JSON, analyze_file, transcribe_file
from stemcast.audio import decode
from stemcast.audio.waveform import waveform_entries
from stemcast.storage.json_stream import CHUNK, write_json_streamed
from tests.support.audio_fixtures import make_music_like_signal


def _blocks(frames: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    spans, at = [], 0
    while at < frames:
        size = int(rng.integers(1, 20000))
        spans.append((at, min(at + size, frames)))
        at += size
    return spans


@pytest.mark.parametrize(("seconds", "rate", "channels"), [
    (7.3, 44100, 2), (3.05, 48000, 1), (0.3, 44100, 2), (2.0, 22050, 5)])
def test_loudness_stream_is_pyloudnorm(seconds: float, rate: int, channels: int) -> None:
    rng = np.random.default_rng(channels)
    data = (rng.standard_normal((int(seconds * rate), channels)) * 0.1).astype(np.float32)
    data[: rate // 2] *= 0.001  # a quiet start, gated away
    stream = LoudnessStream(rate, channels)
    for start, end in _blocks(len(data), 1):
        stream.update(data[start:end])
    got = stream.finish()
    if seconds <= 0.4:
        assert got is None
        return
    expected = pyloudnorm.Meter(rate).integrated_loudness(data.astype(np.float64))
    assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("rate", [44100, 11025])
def test_band_stream_is_mix_band_waveforms(rate: int) -> None:
    audio = make_music_like_signal(4.0, sample_rate=rate, seed=2)
    stream = BandStream(rate)
    for start, end in _blocks(audio.shape[1], 2):
        stream.update(audio[:, start:end])
    assert stream.entries() == mix_band_waveforms(audio, rate)
    stream.close()


def test_band_stream_columns_write_the_whole_track_json(tmp_path: Path) -> None:
    """Rounded a block at a time into files, written a chunk at a time: the bytes of
    json.dumps of the whole-track lists, with columns longer than one JSON chunk."""
    rate = 8000
    audio = make_music_like_signal(900.0, sample_rate=rate, channels=1, seed=5)
    stream = BandStream(rate, tmp_path)
    for start in range(0, audio.shape[1], 3 * rate + 17):
        stream.update(audio[:, start:start + 3 * rate + 17])
    document = stream.entries(as_arrays=True)
    assert document[-1]["num_pixels"] > CHUNK  # 150 a second for 900 s
    write_json_streamed(tmp_path / "bands.json", document)
    stream.close()
    assert (tmp_path / "bands.json").read_text() == json.dumps(
        mix_band_waveforms(audio, rate), separators=(",", ":"))
    assert [p.name for p in tmp_path.iterdir()] == ["bands.json"]  # the columns unlinked


@pytest.mark.parametrize("rate", [44100, 48000])
def test_analyze_file_equals_whole_track_analysis(tmp_path: Path, rate: int) -> None:
    from tests.unit.test_analysis import click_track

    clicks = click_track(124.0, seconds=12.0)
    music = make_music_like_signal(12.0, seed=6)[:, :clicks.size]
    mix = (0.5 * music + 0.5 * clicks[:, :music.shape[1]]).astype(np.float32)
    path = tmp_path / "track.flac"
    data = soxr.resample(mix.T, 44100, rate) if rate != 44100 else mix.T
    sf.write(path, np.ascontiguousarray(data), rate)
    whole = decode(path)
    expected = analyze(whole.samples, whole.sample_rate).to_dict()
    got = analyze_file(str(path), str(tmp_path / "waves.json"))
    grid = beat_grid(expected)
    assert got.pop("characteristics") == characteristics(
        whole.samples, whole.sample_rate, bpm=grid.bpm, bpm_confidence=grid.bpm_confidence,
        loudness_lufs=expected["loudness_lufs"], steady_pulse=grid.bpm_measured).to_dict()
    assert got["bpm"] == expected["bpm"] and got["key"] == expected["key"]
    assert got["mode"] == expected["mode"]
    assert len(got["beats"]) == len(expected["beats"])
    assert np.max(np.abs(np.subtract(got["beats"], expected["beats"]))) <= 0.005
    assert got["loudness_lufs"] == pytest.approx(expected["loudness_lufs"], abs=1e-3)
    assert got == expected  # in fact: all equal
    # Written a chunk at a time from arrays (storage.json_stream): byte for byte the
    # whole-track lists' JSON.
    compact = {"separators": (",", ":")}
    assert (tmp_path / "waves.json").read_text() == json.dumps(
        waveform_entries({"mix": whole.samples}, rate), **compact)
    assert (tmp_path / "bands.json").read_text() == json.dumps(
        mix_band_waveforms(whole.samples, rate), **compact)


def test_drum_transcription_from_blocks_equals_whole(tmp_path: Path) -> None:
    # Decaying noise bursts every 0.5 s (and a few partials): struck, drum-like sounds.
    drums = make_music_like_signal(6.0, sample_rate=48000, seed=8)
    path = tmp_path / "drums.wav"
    sf.write(path, drums.T, 48000, subtype="FLOAT")
    whole = decode(path)
    expected = transcribe(whole.samples, whole.sample_rate)
    transcribe_file(str(path), str(tmp_path / "out"), 100.0)
    got = json.loads((tmp_path / "out" / ONSETS_JSON).read_text())
    assert expected, "the clicks transcribe to onsets"
    assert got == json.loads(json.dumps(onsets_document(
        expected, bpm=100.0, duration_seconds=whole.duration_seconds)))
