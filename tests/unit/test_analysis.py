"""Track analysis on synthetic audio: key names, tempo, beats, downbeats, key, loudness,
audible span, waveform peaks and the features' JSON form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stemcast.analysis import (
    ZOOM_LEVELS,
    BasicFeatures,
    analyze,
    camelot,
    key_name,
    open_key,
    peaks,
    waveform_entries,
)
from stemcast.analysis.features import PEAK_FLOOR_DBFS
from stemcast.analysis.rhythm import fold_bpm

RATE = 44100

# --- synthetic audio ------------------------------------------------------------------------


def _click(rate: int) -> np.ndarray:
    t = np.arange(int(0.05 * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * 1500 * t) * np.exp(-t * 120)


def _kick(rate: int) -> np.ndarray:
    # A pitch drop from 180 to 60 Hz, as a drum machine's kick.
    t = np.arange(int(0.05 * rate)) / rate
    phase = 2 * np.pi * np.cumsum(60 + 120 * np.exp(-t * 40)) / rate
    return np.sin(phase) * np.exp(-t * 25)


def click_track(bpm: float, seconds: float = 8.0, offset: float = 0.2,
                accent_phase: int | None = None, rate: int = RATE) -> np.ndarray:
    """Clicks on every beat; with accent_phase, beat accent_phase of every 4 is a louder,
    lower kick. Stereo float32."""
    out = np.zeros(int(seconds * rate))
    click, kick = _click(rate), _kick(rate)
    for number, start in enumerate(click_times(bpm, seconds, offset)):
        sound = kick if accent_phase is not None and number % 4 == accent_phase else click
        at = int(start * rate)
        out[at:at + sound.size] += sound
    return np.stack([out, out]).astype(np.float32)


def click_times(bpm: float, seconds: float = 8.0, offset: float = 0.2) -> np.ndarray:
    return np.arange(offset, seconds - 0.06, 60.0 / bpm)


def _tone(midi: int, seconds: float, rate: int) -> np.ndarray:
    """A sawtooth-like note: 8 harmonics at 1/k, with short fades."""
    t = np.arange(int(seconds * rate)) / rate
    freq = 440.0 * 2 ** ((midi - 69) / 12)
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 9) if freq * k < rate / 2)
    return wave * np.minimum(1, t / 0.02) * np.minimum(1, (seconds - t) / 0.05)


def progression(tonic: int, mode: int, degrees: tuple[int, ...], seconds: float = 1.5,
                rate: int = RATE) -> np.ndarray:
    """Diatonic triads (natural minor) on the given scale degrees (0 = I), root doubled an
    octave down; stereo float32."""
    scale = (0, 2, 4, 5, 7, 9, 11) if mode == 1 else (0, 2, 3, 5, 7, 8, 10)
    chords = []
    for degree in degrees:
        notes = [scale[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]
        base = 48 + tonic
        chords.append(sum(_tone(base + n, seconds, rate) for n in notes)
                      + _tone(base - 12 + notes[0], seconds, rate))
    mix = np.concatenate(chords)
    mix *= 0.5 / np.abs(mix).max()
    return np.stack([mix, mix]).astype(np.float32)


@pytest.fixture(scope="module")
def f_major() -> BasicFeatures:
    return analyze(progression(5, 1, (0, 3, 4, 0)), RATE)


# --- key names ------------------------------------------------------------------------------

# (pitch class, mode): name, Camelot, Open Key
KEY_TABLE = {
    (0, 1): ("C major", "8B", "1d"), (7, 1): ("G major", "9B", "2d"),
    (2, 1): ("D major", "10B", "3d"), (9, 1): ("A major", "11B", "4d"),
    (4, 1): ("E major", "12B", "5d"), (11, 1): ("B major", "1B", "6d"),
    (6, 1): ("F# major", "2B", "7d"), (1, 1): ("Db major", "3B", "8d"),
    (8, 1): ("Ab major", "4B", "9d"), (3, 1): ("Eb major", "5B", "10d"),
    (10, 1): ("Bb major", "6B", "11d"), (5, 1): ("F major", "7B", "12d"),
    (9, 0): ("A minor", "8A", "1m"), (4, 0): ("E minor", "9A", "2m"),
    (11, 0): ("B minor", "10A", "3m"), (6, 0): ("F# minor", "11A", "4m"),
    (1, 0): ("C# minor", "12A", "5m"), (8, 0): ("G# minor", "1A", "6m"),
    (3, 0): ("Eb minor", "2A", "7m"), (10, 0): ("Bb minor", "3A", "8m"),
    (5, 0): ("F minor", "4A", "9m"), (0, 0): ("C minor", "5A", "10m"),
    (7, 0): ("G minor", "6A", "11m"), (2, 0): ("D minor", "7A", "12m"),
}


def test_key_table_covers_all_24_keys_once() -> None:
    assert len(KEY_TABLE) == 24
    assert len({v[1] for v in KEY_TABLE.values()}) == 24


@pytest.mark.parametrize(("key", "mode"), sorted(KEY_TABLE))
def test_key_names(key: int, mode: int) -> None:
    assert (key_name(key, mode), camelot(key, mode), open_key(key, mode)) == KEY_TABLE[key, mode]


@pytest.mark.parametrize(("key", "mode"), [(12, 1), (-1, 0), (0, 2)])
def test_key_names_reject_bad_input(key: int, mode: int) -> None:
    with pytest.raises(ValueError):
        camelot(key, mode)


# --- tempo, beats, downbeats ----------------------------------------------------------------


@pytest.mark.parametrize(("bpm", "reported"), [(96, 96), (128, 128), (174, 174), (60, 120),
                                              (70.5, 70.5)])
def test_bpm_of_click_tracks(bpm: float, reported: float) -> None:
    features = analyze(click_track(bpm), RATE)
    assert features.bpm is not None
    assert abs(features.bpm - reported) <= 1.0
    assert features.bpm_confidence > 0.5


@pytest.mark.parametrize("bpm", [100, 174])
def test_beats_fall_on_the_clicks_at_the_tempo(bpm: float) -> None:
    features = analyze(click_track(bpm), RATE)
    beats = np.array(features.beats)
    period = 60.0 / bpm
    assert abs(float(np.median(np.diff(beats))) - period) < 0.02 * period
    assert np.all(np.abs(np.diff(beats) / period - 1) < 0.15)
    clicks = click_times(bpm)
    # Every click has a beat within 30 ms, and there is no beat where there is no click.
    assert np.all(np.min(np.abs(beats[:, None] - clicks[None, :]), axis=0) < 0.03)
    assert np.all(np.min(np.abs(beats[:, None] - clicks[None, :]), axis=1) < 0.03)


@pytest.mark.parametrize(("bpm", "accent_phase"), [(128, 1), (96, 2), (174, 3)])
def test_downbeats_land_on_the_accented_beat(bpm: float, accent_phase: int) -> None:
    features = analyze(click_track(bpm, accent_phase=accent_phase), RATE)
    kicks = click_times(bpm)[accent_phase::4]
    downbeats = np.array(features.downbeats)
    assert len(downbeats) >= len(kicks) - 1
    assert np.all(np.min(np.abs(downbeats[:, None] - kicks[None, :]), axis=1) < 0.04)


def test_fold_bpm_into_the_dj_range() -> None:
    assert fold_bpm(60.0) == 120.0
    assert fold_bpm(33.0) == 132.0
    assert fold_bpm(35.0) == 70.0
    assert fold_bpm(200.0) == 100.0
    assert fold_bpm(174.0) == 174.0
    assert fold_bpm(70.0) == 70.0


# --- key -------------------------------------------------------------------------------------


def test_key_of_i_iv_v_i_in_f_major(f_major: BasicFeatures) -> None:
    assert (f_major.key, f_major.mode, f_major.key_name, f_major.camelot) == (5, 1, "F major",
                                                                              "7B")
    assert f_major.key_confidence > 0.3


@pytest.mark.parametrize(("tonic", "mode", "degrees"), [
    (9, 0, (0, 3, 4)),  # i-iv-v in A minor
    (4, 0, (0, 3, 4, 0)),  # E minor
    (2, 1, (0, 4, 5, 3)),  # I-V-vi-IV in D major
    (10, 1, (0, 3, 4, 0)),  # A# (Bb) major
])
def test_key_of_chord_progressions(tonic: int, mode: int, degrees: tuple[int, ...]) -> None:
    features = analyze(progression(tonic, mode, degrees), RATE)
    assert (features.key, features.mode) == (tonic, mode)


# --- silence, noise, short clips -------------------------------------------------------------


def test_silence_has_no_tempo_key_or_loudness() -> None:
    features = analyze(np.zeros((2, 5 * RATE), dtype=np.float32), RATE)
    assert features.duration_seconds == 5.0
    assert (features.bpm, features.key, features.mode, features.loudness_lufs) == (
        None, None, None, None)
    assert features.beats == () and features.downbeats == ()
    assert features.peak_dbfs == PEAK_FLOOR_DBFS
    assert (features.audible_start, features.audible_end) == (0.0, 0.0)
    json.dumps(features.to_dict(), allow_nan=False)


@pytest.mark.parametrize("seconds", [5.0, 10.0])
def test_white_noise_has_no_tempo_or_key(seconds: float) -> None:
    noise = np.random.default_rng(7).standard_normal((2, int(seconds * RATE))) * 0.2
    features = analyze(noise.astype(np.float32), RATE)
    assert features.bpm is None and features.beats == ()
    assert features.bpm_confidence < 0.3
    assert features.key is None or features.key_confidence < 0.2
    assert features.loudness_lufs is not None


@pytest.mark.parametrize("seconds", [0.0, 0.001, 0.3, 1.0, 3.5])
def test_short_clips_do_not_crash(seconds: float) -> None:
    clip = progression(5, 1, (0,), seconds=max(seconds, 0.1))[:, :int(seconds * RATE)]
    features = analyze(clip, RATE)
    assert features.bpm is None
    assert features.duration_seconds == pytest.approx(seconds, abs=1e-3)
    json.dumps(features.to_dict(), allow_nan=False)


def test_mono_input_and_other_rates() -> None:
    clip = progression(5, 1, (0, 3, 4, 0), rate=48000)
    stereo = analyze(clip, 48000)
    mono = analyze(clip[0], 48000)
    assert (stereo.key, stereo.mode) == (mono.key, mono.mode) == (5, 1)
    assert stereo.duration_seconds == mono.duration_seconds == 6.0


def test_rejects_integer_samples() -> None:
    with pytest.raises(TypeError):
        analyze(np.zeros((2, RATE), dtype=np.int16), RATE)


# --- loudness, peak, audible span ------------------------------------------------------------


def test_loudness_of_a_full_scale_1khz_sine() -> None:
    t = np.arange(5 * RATE) / RATE
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    mono = analyze(sine, RATE)
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LKFS; in both, 3 dB more.
    assert mono.loudness_lufs == pytest.approx(-3.01, abs=0.1)
    assert mono.peak_dbfs == pytest.approx(0.0, abs=0.01)
    stereo = analyze(np.stack([sine, sine]), RATE)
    assert stereo.loudness_lufs == pytest.approx(0.0, abs=0.1)
    half = analyze(0.5 * sine, RATE)
    assert half.peak_dbfs == pytest.approx(-6.02, abs=0.01)


def test_audible_start_and_end() -> None:
    music = progression(7, 1, (0, 3), seconds=1.5)
    silence = np.zeros((2, RATE), dtype=np.float32)
    features = analyze(np.concatenate([silence, music, silence], axis=1), RATE)
    assert features.duration_seconds == pytest.approx(5.0)
    assert features.audible_start == pytest.approx(1.0, abs=0.05)
    assert features.audible_end == pytest.approx(4.0, abs=0.05)


def test_non_finite_samples_do_not_leak_into_the_result() -> None:
    clip = progression(5, 1, (0, 3, 4, 0))
    clip[0, 1000] = np.nan
    clip[1, 2000] = np.inf
    features = analyze(clip, RATE)
    assert features.key == 5
    json.dumps(features.to_dict(), allow_nan=False)


# --- to_dict / from_dict ---------------------------------------------------------------------


def test_features_round_trip_through_json() -> None:
    mix = click_track(128, accent_phase=0) + progression(5, 1, (0, 3, 4, 0), seconds=2.0)
    features = analyze(mix, RATE)
    assert features.bpm is not None and features.key is not None and features.beats
    data = features.to_dict()
    assert list(data) == [
        "duration_seconds", "bpm", "bpm_confidence", "beats", "downbeats", "key", "mode",
        "key_name", "camelot", "key_confidence", "loudness_lufs", "peak_dbfs",
        "audible_start", "audible_end", "bpm_estimate",
    ]
    assert isinstance(data["beats"], list)
    restored = BasicFeatures.from_dict(json.loads(json.dumps(data, allow_nan=False)))
    assert restored == features
    assert restored.to_dict() == data


def test_to_dict_is_json_safe_and_rounded() -> None:
    features = BasicFeatures(
        duration_seconds=1.23456789, bpm=float("nan"), bpm_confidence=0.123456,
        beats=(0.1234567,), downbeats=(), key=None, mode=None, key_name=None, camelot=None,
        key_confidence=0.0, loudness_lufs=float("-inf"), peak_dbfs=float("-inf"),
        audible_start=0.0, audible_end=-0.0)
    data = features.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["duration_seconds"] == 1.235 and data["beats"] == [0.123]
    assert data["bpm"] is None and data["loudness_lufs"] is None
    assert data["peak_dbfs"] == PEAK_FLOOR_DBFS
    assert math.copysign(1.0, data["audible_end"]) == 1.0


def test_from_dict_derives_key_names() -> None:
    data = {"duration_seconds": 2.0, "key": "5", "mode": 1}
    features = BasicFeatures.from_dict(data)
    assert (features.key, features.key_name, features.camelot) == (5, "F major", "7B")
    assert features.bpm is None and features.beats == ()


# --- waveform --------------------------------------------------------------------------------


def test_peaks_shape_and_order() -> None:
    samples = np.random.default_rng(1).uniform(-1, 1, (2, int(2.5 * RATE))).astype(np.float32)
    for rate in (5, 25, 150):
        pairs = peaks(samples, RATE, rate)
        assert pairs.shape == (math.ceil(2.5 * rate), 2)
        assert pairs.dtype == np.float32
        assert np.all(pairs[:, 0] <= pairs[:, 1])


def test_peaks_of_a_ramp() -> None:
    ramp = np.arange(10, dtype=np.float32)  # 1 s at 10 Hz, 4 pairs/s: windows of 2.5 samples
    assert peaks(ramp, 10, 4).tolist() == [[0, 1], [2, 4], [5, 6], [7, 9]]
    assert peaks(ramp, 10, 5).tolist() == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    # A short last window: 10 samples at 3 per window.
    assert peaks(ramp, 9, 3).tolist() == [[0, 2], [3, 5], [6, 8], [9, 9]]


def test_peaks_take_min_and_max_over_all_channels() -> None:
    left = np.array([0.5, 0.1, 0.2, 0.3], dtype=np.float32)
    right = np.array([-0.5, 0.9, 0.0, -0.1], dtype=np.float32)
    np.testing.assert_allclose(peaks(np.stack([left, right]), 4, 2),
                               [[-0.5, 0.9], [-0.1, 0.3]], rtol=1e-6)
    assert peaks(np.zeros((2, 0), dtype=np.float32), 44100, 5).shape == (0, 2)


def test_peaks_of_3_minutes_stereo_at_level_3_have_one_pair_a_pixel() -> None:
    # Speed is a benchmark figure, not a test (README "Benchmarks").
    samples = np.random.default_rng(2).standard_normal((2, 180 * RATE), dtype=np.float32)
    pairs = peaks(samples, RATE, ZOOM_LEVELS[3])
    assert pairs.shape == (180 * 150, 2)
    assert np.all(pairs[:, 0] <= pairs[:, 1])


def test_waveform_entries_fields_and_order() -> None:
    seconds = 2.0
    t = np.arange(int(seconds * RATE)) / RATE
    mix = (0.8 * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    stems = {"mix": np.stack([mix, mix]), "bass": 0.5 * np.stack([mix, mix]), "drums": mix}
    entries = waveform_entries(stems, RATE)
    assert ZOOM_LEVELS == {1: 5, 2: 25, 3: 150}
    assert [(e["zoom_level"], e["stem_type"]) for e in entries] == [
        (level, name) for level in (1, 2, 3) for name in ("mix", "bass", "drums")]
    for entry in entries:
        assert set(entry) == {"zoom_level", "stem_type", "pairs_per_second", "sample_rate",
                              "length", "data"}
        assert entry["pairs_per_second"] == ZOOM_LEVELS[entry["zoom_level"]]
        assert entry["sample_rate"] == RATE
        assert entry["length"] == seconds * entry["pairs_per_second"]
        assert len(entry["data"]) == 2 * entry["length"]
        assert all(isinstance(v, float) and round(v, 3) == v for v in entry["data"])
    first = entries[0]["data"]  # mix at 5 pairs/s: 3 Hz sine, 0.2 s windows
    assert max(first[1::2]) == 0.8 and min(first[0::2]) == -0.8
    bass = entries[1]["data"]
    assert max(bass[1::2]) == 0.4
    json.dumps(entries, allow_nan=False)
    assert [e["zoom_level"] for e in waveform_entries(stems, RATE, levels=[3, 1])] == [
        1, 1, 1, 3, 3, 3]
    with pytest.raises(ValueError):
        waveform_entries(stems, RATE, levels=[4])
