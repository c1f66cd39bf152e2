"""The mix export's math (delivery/mix.py): gained sum, mutes, loop cut, tempo with pitch
kept, key shift, and the settings' validation."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from stemcast.delivery.mix import (
    LoopRegion,
    MixError,
    MixSettings,
    encode_mix,
    parse_settings,
    render_mix,
)

RATE = 22050


def tone(freq: float, seconds: float, amp: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, mono])


def peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio[0] * np.hanning(audio.shape[1])))
    return float(np.argmax(spectrum) * RATE / audio.shape[1])


STEMS = {"drums": tone(110, 2.0), "bass": tone(55, 2.0), "vocals": tone(440, 2.0)}


def test_the_mix_is_the_gained_sum_of_the_stems_not_muted() -> None:
    settings = MixSettings(gains_db={"vocals": -6.0, "bass": 3.0}, mutes=frozenset({"drums"}))
    mixed = render_mix(STEMS, RATE, settings)
    expected = STEMS["bass"] * 10 ** (3 / 20) + STEMS["vocals"] * 10 ** (-6 / 20)
    np.testing.assert_allclose(mixed, expected, atol=1e-6)
    plain = render_mix(STEMS, RATE, MixSettings())
    np.testing.assert_allclose(plain, sum(STEMS.values()), atol=1e-6)


def test_a_loop_region_is_cut_on_samples_and_repeated() -> None:
    ramp = np.tile(np.arange(2 * RATE, dtype=np.float32), (2, 1))
    settings = MixSettings(loop=LoopRegion(0.5, 1.0, repeats=3))
    looped = render_mix({"x": ramp}, RATE, settings)
    one = ramp[:, RATE // 2:RATE]
    np.testing.assert_array_equal(looped, np.concatenate([one, one, one], axis=1))


def test_tempo_changes_the_length_and_keeps_the_pitch() -> None:
    audio = {"vocals": tone(440, 2.0)}
    slower = render_mix(audio, RATE, MixSettings(tempo=0.9))
    assert slower.shape[1] == pytest.approx(2.0 * RATE / 0.9, rel=0.01)
    assert peak_hz(slower) == pytest.approx(440, rel=0.02)


def test_a_key_shift_changes_the_pitch_and_keeps_the_length() -> None:
    audio = {"vocals": tone(440, 2.0)}
    higher = render_mix(audio, RATE, MixSettings(semitones=2.0))
    assert higher.shape == audio["vocals"].shape
    assert peak_hz(higher) == pytest.approx(440 * 2 ** (2 / 12), rel=0.02)


def test_wav_encoding_is_the_mix_to_one_16_bit_step() -> None:
    mixed = render_mix(STEMS, RATE, MixSettings(gains_db={"vocals": -6.0}))
    decoded, rate = sf.read(io.BytesIO(encode_mix(mixed, RATE, "wav")), dtype="float32")
    assert rate == RATE
    np.testing.assert_allclose(decoded.T, mixed, atol=1.5 / 32767)
    assert encode_mix(mixed, RATE, "mp3").startswith((b"ID3", b"\xff\xfb", b"\xff\xf3"))


@pytest.mark.parametrize(("body", "words"), [
    ({"gains": {"flute": 0}}, "no stem 'flute'"), ({"gains": {"vocals": 40}}, "gains.vocals"),
    ({"gains": {"vocals": "loud"}}, "gains.vocals"), ({"mutes": "vocals"}, "mutes"),
    ({"tempo": 3}, "tempo"), ({"semitones": -13}, "semitones"), ({"format": "ogg"}, "format"),
    ({"loop": {"start": 1.5, "end": 1.0}}, "after loop.start"),
    ({"loop": {"start": 0, "end": 9}}, "loop.end"), ({"speed": 1}, "unknown field 'speed'"),
    ({"loop": {"start": 0, "end": 1, "repeats": 0}}, "repeats"), ([], "JSON object")])
def test_bad_settings_name_the_field(body: object, words: str) -> None:
    with pytest.raises(MixError, match=words):
        parse_settings(body, list(STEMS), 2.0)


def test_settings_read_from_json() -> None:
    settings = parse_settings({"gains": {"vocals": -6}, "mutes": ["drums"], "tempo": 0.9,
                               "semitones": -1, "loop": {"start": 0.5, "end": 1.5},
                               "format": "mp3"}, list(STEMS), 2.0)
    assert settings == MixSettings(gains_db={"vocals": -6.0}, mutes=frozenset({"drums"}),
                                   loop=LoopRegion(0.5, 1.5), tempo=0.9, semitones=-1.0,
                                   format="mp3")
