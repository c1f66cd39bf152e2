"""What seed 000's app server (Mismo) reads: the beat-grid anchor, characteristics, its
waveform shape, seed-dialect errors; measured on real signals and the rendered corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from stemcast.analysis.app_waveforms import mix_band_waveforms, stem_amplitude_waveforms
from stemcast.analysis.beatgrid import DEFAULT_BPM, beat_grid
from stemcast.analysis.characteristics import NOT_ESTIMATED, characteristics
from stemcast.analysis.characteristics import RATE as ANALYSIS_RATE
from stemcast.analysis.features import analyze
from stemcast.analysis.tasks import BANDS_JSON, analyze_file
from stemcast.apijobs.models import DeliveryMode
from stemcast.apijobs.stems_payload import absolute_urls
from stemcast.audio.waveform import waveform_entries
from stemcast.ws.engine_peer import is_request
from stemcast.ws.seed_dialect import is_event_frame, to_seed
from tests.support.corpus import (
    NEEDS,
    RenderedSong,
    fluidsynth_available,
    load_stereo,
    render_corpus,
)

RATE = 44100
# The fields the app's waveform.service.js validateWaveform requires of a mix entry.
APP_MIX_FIELDS = {"zoom_level", "samples_per_pixel", "num_pixels", "low_freq_amplitude",
                  "low_freq_intensity", "mid_freq_amplitude", "mid_freq_intensity",
                  "high_freq_amplitude", "high_freq_intensity"}
# The fields the app's analysisCallback.service.js validateCharacteristics requires.
APP_CHARACTERISTICS = {"danceability", "valence", "arousal", "energy", "loudness",
                       "acousticness", "instrumentalness"}


def tone(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, level: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, int(seconds * RATE))) * level).astype(np.float32)


# ---- the beat grid ---------------------------------------------------------------------


def test_beat_grid_of_a_tracked_track() -> None:
    features = {"bpm": 128.0, "bpm_confidence": 0.7, "beats": [0.25, 0.72, 1.19, 1.66, 2.13],
                "downbeats": [0.72], "audible_start": 0.1, "audible_end": 9.5}
    grid = beat_grid(features)
    assert grid.bpm == 128.0 and grid.bpm_measured and grid.bpm_confidence == 0.7
    assert grid.first_beat_offset == 0.25
    assert grid.first_phrase_beat_no == 2  # the bar starts on the grid's second beat
    assert (grid.audible_start, grid.audible_end) == (0.1, 9.5)


def test_beatless_track_gets_a_positive_best_guess() -> None:
    rain = noise(8.0)
    features = analyze(rain, RATE).to_dict()
    assert features["bpm"] is None  # no steady pulse: stemcast's own bpm says so
    grid = beat_grid(features)
    assert grid.bpm > 0 and not grid.bpm_measured and grid.bpm_confidence < 0.2
    assert grid.bpm == features["bpm_estimate"]
    assert grid.first_beat_offset == features["audible_start"]
    assert grid.first_phrase_beat_no == 1


def test_nothing_known_gives_the_default_bpm_with_no_confidence() -> None:
    for features in (None, analyze(np.zeros((2, RATE)), RATE).to_dict()):
        grid = beat_grid(features)
        assert grid.bpm == DEFAULT_BPM and grid.bpm_confidence == 0.0
        assert not grid.bpm_measured


def test_click_track_grid_starts_on_a_click() -> None:
    clicks = np.zeros(8 * RATE, dtype=np.float32)
    clicks[RATE // 4::RATE // 2] = 1.0  # 120 bpm, first click at 0.25 s
    grid = beat_grid(analyze(clicks, RATE).to_dict())
    assert grid.bpm_measured and abs(grid.bpm - 120) < 1
    offset = (grid.first_beat_offset - 0.25) % 0.5
    assert min(offset, 0.5 - offset) < 0.03  # on the click grid
    assert 1 <= grid.first_phrase_beat_no <= 4


# ---- characteristics -------------------------------------------------------------------


def test_silence_has_no_characteristics_and_says_why() -> None:
    data = characteristics(np.zeros((2, RATE)), RATE, bpm=None, bpm_confidence=0.0,
                           loudness_lufs=None).to_dict()
    assert set(data) >= APP_CHARACTERISTICS
    assert all(data[name] is None for name in APP_CHARACTERISTICS)
    assert set(data["unavailable"]) >= APP_CHARACTERISTICS
    assert "silent" in data["unavailable"]["energy"]


def test_characteristics_ranges_and_honest_nulls() -> None:
    rain = noise(6.0)
    features = analyze(rain, RATE).to_dict()
    grid = beat_grid(features)
    data = characteristics(rain, RATE, bpm=grid.bpm, bpm_confidence=grid.bpm_confidence,
                           loudness_lufs=features["loudness_lufs"],
                           steady_pulse=grid.bpm_measured).to_dict()
    assert set(data) >= APP_CHARACTERISTICS
    for name in ("valence", "acousticness", "instrumentalness"):
        assert data[name] is None and data["unavailable"][name] == NOT_ESTIMATED[name]
    assert data["danceability"] == 0.0  # no steady pulse
    assert 0 <= data["energy"] <= 1 and 0 <= data["arousal"] <= 1
    assert data["loudness"] == features["loudness_lufs"]
    # White noise: the centroid near a quarter of the band, a zero crossing every other
    # sample; both measured, not guessed.
    assert 4000 < data["spectral_centroid"] < 6500
    assert data["spectral_rolloff"] > data["spectral_centroid"]
    assert 0.4 < data["zero_crossing_rate"] < 0.6
    assert set(data["heuristic"]) == {"energy", "danceability", "arousal"}


def test_spectral_features_follow_the_pitch() -> None:
    def measured(freq: float) -> dict[str, Any]:
        return characteristics(tone(freq, 3.0), RATE, bpm=None, bpm_confidence=0.0,
                               loudness_lufs=None).to_dict()

    low, high = measured(220.0), measured(3520.0)
    assert low["spectral_centroid"] == pytest.approx(220, rel=0.15)
    assert high["spectral_centroid"] == pytest.approx(3520, rel=0.05)
    # A sine crosses zero twice a period; counted at the analysis rate (22050 Hz).
    assert low["zero_crossing_rate"] == pytest.approx(2 * 220 / ANALYSIS_RATE, rel=0.05)
    assert "loudness" in low["unavailable"]  # none given: said, not invented


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[RenderedSong]:
    if not fluidsynth_available():
        pytest.skip(NEEDS)
    return render_corpus(tmp_path_factory.mktemp("corpus"))


def _energy(audio: np.ndarray) -> float:
    features = analyze(audio, RATE).to_dict()
    grid = beat_grid(features)
    value = characteristics(audio, RATE, bpm=grid.bpm, bpm_confidence=grid.bpm_confidence,
                            loudness_lufs=features["loudness_lufs"],
                            steady_pulse=grid.bpm_measured).energy
    assert value is not None
    return value


def test_energy_orders_the_corpus(corpus: list[RenderedSong]) -> None:
    """Known by construction: a full mix is more energetic than the same mix 12 dB down,
    which is more energetic than its sustained chords alone at that level."""
    rows = []
    for song in corpus[:3]:
        mix = load_stereo(song.mix)
        quiet = mix * 10 ** (-12 / 20)
        chords = load_stereo(song.stems["other"]) * 10 ** (-12 / 20)
        energies = (_energy(mix), _energy(quiet), _energy(chords))
        rows.append((song.spec.name, *energies))
        assert energies[0] > energies[1] > energies[2], rows
    print("\nsong, energy: mix, mix -12 dB, chords -12 dB")
    for row in rows:
        print(f"{row[0]:18s} {row[1]:.3f} {row[2]:.3f} {row[3]:.3f}")


def test_loudness_of_the_pipeline_equals_pyloudnorm(corpus: list[RenderedSong],
                                                    tmp_path: Path) -> None:
    """analyze_file (decode, analysis, characteristics) against pyloudnorm run directly on
    the file: the decoding and channel handling add no error."""
    song = corpus[0]
    features = analyze_file(str(song.mix), str(tmp_path / "waveform.json"))
    data, rate = sf.read(song.mix, always_2d=True)
    reference = pyloudnorm.Meter(rate).integrated_loudness(data)
    assert features["characteristics"]["loudness"] == pytest.approx(reference, abs=0.05)
    bands = (tmp_path / BANDS_JSON).read_text()
    assert "low_freq_amplitude" in bands


# ---- waveforms in the app's shape ------------------------------------------------------


def test_mix_band_waveforms_have_the_app_shape_and_split_the_bands() -> None:
    bass, treble = tone(80.0, 2.0, 0.4), tone(8000.0, 2.0, 0.2)
    entries = mix_band_waveforms(np.stack([bass + treble, bass + treble]), RATE)
    assert [e["zoom_level"] for e in entries] == [0, 1, 2]
    for entry in entries:
        assert set(entry) >= APP_MIX_FIELDS
        assert entry["samples_per_pixel"] == RATE // entry["pixels_per_second"]
        assert entry["num_pixels"] == 2 * entry["pixels_per_second"]
        assert all(len(entry[name]) == entry["num_pixels"] for name in APP_MIX_FIELDS
                   if name.endswith(("amplitude", "intensity")))
    overview = entries[0]
    middle = slice(2, -2)  # away from the filters' start-up
    assert np.allclose(overview["low_freq_amplitude"][middle], 0.4, atol=0.03)
    assert np.allclose(overview["high_freq_amplitude"][middle], 0.2, atol=0.03)
    assert np.allclose(overview["low_freq_intensity"][middle], 0.4 / np.sqrt(2), atol=0.02)
    assert max(overview["mid_freq_amplitude"][middle]) < 0.05


def test_stem_waveforms_are_one_entry_per_zoom_level() -> None:
    stems = {"drums": tone(100.0, 1.0, 0.8), "vocals": tone(440.0, 1.0, 0.3),
             "mix": tone(100.0, 1.0, 0.8) + tone(440.0, 1.0, 0.3)}
    peaks = waveform_entries(stems, RATE, levels=(1, 2))
    entries = stem_amplitude_waveforms(peaks)
    assert [e["zoom_level"] for e in entries] == [0, 1]
    for entry in entries:
        assert {"samples_per_pixel", "num_pixels", "drums_amplitude", "vocals_amplitude",
                "mix_amplitude"} <= set(entry)
        assert len(entry["vocals_amplitude"]) == entry["num_pixels"]
    assert max(entries[0]["drums_amplitude"]) == pytest.approx(0.8, abs=0.002)
    assert max(entries[0]["vocals_amplitude"]) == pytest.approx(0.3, abs=0.002)


# ---- the seed dialect, the engine link, poll URLs ---------------------------------------


def test_seed_errors_carry_a_string_the_code_and_the_track() -> None:
    error = {"type": "error", "success": False, "requestId": "7", "command": "getTrackInfo",
             "error": {"code": "TRACK_NOT_FOUND", "message": "no track with trackId 'x'"}}
    seed = to_seed(error, "x")
    assert seed["error"] == "no track with trackId 'x'"
    assert seed["errorCode"] == "TRACK_NOT_FOUND" and seed["trackId"] == "x"
    assert seed["success"] is False and seed["requestId"] == "7"
    failed = {"type": "stemsFailed", "success": False, "trackId": "t", "jobId": "j",
              "error": {"code": "CANCELLED", "message": "cancelled"}}
    assert to_seed(failed, "other")["trackId"] == "t"  # the request's own track stays
    info = {"type": "trackInfo", "success": True, "bpm": None, "bpmGuess": 97.5}
    assert to_seed(info, "")["bpm"] == 97.5
    assert to_seed({**info, "bpmGuess": None}, "")["bpm"] == 0
    fine = {"type": "progress", "success": True, "progress": 0.5}
    assert to_seed(fine, "") == fine


def test_events_and_replies_are_not_requests() -> None:
    assert is_event_frame({"event": "deckStateUpdate", "deck": "A"})
    assert not is_event_frame({"event": "x", "command": "getTrackInfo"})
    assert not is_request('{"event": "trackLoaded", "deck": "A"}')
    assert not is_request('{"success": true, "message": "App server registered successfully"}')
    assert not is_request('{"type": "welcome", "version": "1.0"}')
    assert not is_request('{"command": "deck.setCue", "deck": "A", "index": 0}')
    assert is_request('{"command": "getTrackInfo", "trackId": "t"}')
    assert is_request("not json")  # the session answers BAD_FRAME
    assert is_request(b"\x81\xa7command\xa4ping")


def test_poll_urls_made_absolute() -> None:
    data = {"delivery_mode": DeliveryMode.POLL.value, "zip": "/jobs/j/stems.zip",
            "stems": {"bass": "/jobs/j/stems/bass"}}
    absolute = absolute_urls(data, "http://stems.local:8000/")
    assert absolute["stems"]["bass"] == "http://stems.local:8000/jobs/j/stems/bass"
    assert absolute["zip"] == "http://stems.local:8000/jobs/j/stems.zip"
    path_mode = {"delivery_mode": "path", "stems": {"bass": "/data/bass.wav"}}
    assert absolute_urls(path_mode, "http://x") == path_mode
