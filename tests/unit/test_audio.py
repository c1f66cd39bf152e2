"""Real encode/decode round trips, content hashes and atomic stem writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemcast.audio import (
    AudioError,
    AudioErrorCode,
    decode,
    float_to_pcm16,
    pcm16_bytes,
    pcm_hash,
    probe,
    resample,
    to_channels,
    write_wav_atomic,
)
from stemcast.audio.decode import DecodedAudio
from tests.support.audio_fixtures import make_music_like_signal, write_audio

FORMATS = [".wav", ".flac", ".aiff", ".mp3", ".m4a", ".ogg", ".opus"]


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return make_music_like_signal(2.0, seed=5)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, signal: np.ndarray) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("enc")
    return {ext: write_audio(folder / f"clip{ext}", signal, 44100) for ext in FORMATS}


@pytest.mark.parametrize("ext", FORMATS)
def test_every_format_decodes(encoded: dict[str, Path], ext: str) -> None:
    audio = decode(encoded[ext])
    info = probe(encoded[ext])
    assert audio.samples.dtype == np.float32 and audio.samples.flags.c_contiguous
    assert audio.channels == info.channels == 2
    assert audio.sample_rate == info.sample_rate == (48000 if ext == ".opus" else 44100)
    # Lossy codecs add encoder delay/padding of a few ms, never more.
    assert abs(audio.duration_seconds - 2.0) < 0.05
    assert abs(info.duration_seconds - 2.0) < 0.05
    assert 0.3 < float(np.max(np.abs(audio.samples))) < 1.0


def test_mono_decodes_as_one_channel(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "mono.flac", make_music_like_signal(1.0, channels=1), 44100)
    assert decode(path).channels == probe(path).channels == 1


def test_same_pcm_hashes_equal_across_lossless_containers(
        encoded: dict[str, Path], tmp_path: Path) -> None:
    lossless = [pcm_hash(decode(encoded[ext])) for ext in (".wav", ".flac", ".aiff")]
    assert len(set(lossless)) == 1
    # The same integers stored as 32-bit float WAV are the same audio.
    ints, rate = sf.read(encoded[".wav"], dtype="int16")
    sf.write(tmp_path / "float.wav", ints.astype(np.float32) / 32768, rate, subtype="FLOAT")
    assert pcm_hash(decode(tmp_path / "float.wav")) == lossless[0]
    # Lossy re-encodes are different audio.
    assert pcm_hash(decode(encoded[".mp3"])) != lossless[0]


def test_hash_sees_one_changed_sample_rate_and_channels(encoded: dict[str, Path]) -> None:
    audio = decode(encoded[".wav"])
    changed = audio.samples.copy()
    changed[1, 12345] += 3 / 32768
    assert pcm_hash(DecodedAudio(changed, 44100)) != pcm_hash(audio)
    assert pcm_hash(DecodedAudio(audio.samples, 48000)) != pcm_hash(audio)
    assert pcm_hash(DecodedAudio(audio.samples[:1].copy(), 44100)) != \
        pcm_hash(DecodedAudio(audio.samples[1:].copy(), 44100))


@pytest.mark.parametrize(("content", "name", "code"), [
    (None, "missing.wav", AudioErrorCode.FILE_NOT_FOUND),
    (b"", "empty.wav", AudioErrorCode.EMPTY_AUDIO),
    (b"just some text, no audio\n" * 20, "notes.txt", AudioErrorCode.NOT_AUDIO),
    (np.random.default_rng(0).bytes(4000), "noise.mp3", AudioErrorCode.NOT_AUDIO),
    ("truncate:.mp3", "cut.mp3", AudioErrorCode.NOT_AUDIO),
])
def test_bad_files_give_clear_errors(tmp_path: Path, encoded: dict[str, Path],
                                     content: bytes | str | None, name: str,
                                     code: AudioErrorCode) -> None:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(encoded[content.split(":")[1]].read_bytes()[:100])
    elif content is not None:
        path.write_bytes(content)
    for function in (probe, decode):
        with pytest.raises(AudioError) as caught:
            function(path)
        assert caught.value.code == code
        assert name in str(caught.value)


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as caught:
        decode(tmp_path)
    assert caught.value.code == AudioErrorCode.FILE_NOT_FOUND


def test_resample_and_channels(encoded: dict[str, Path]) -> None:
    audio = decode(encoded[".wav"])
    up = resample(audio, 48000)
    assert up.sample_rate == 48000 and abs(up.frames - audio.frames * 48000 / 44100) <= 1
    assert resample(audio, 44100) is audio
    mono = to_channels(audio, 1)
    assert mono.channels == 1
    np.testing.assert_allclose(mono.samples[0], audio.samples.mean(axis=0), atol=1e-6)
    stereo = to_channels(mono, 2)
    np.testing.assert_array_equal(stereo.samples[0], stereo.samples[1])


def test_write_wav_atomic_round_trip(tmp_path: Path, signal: np.ndarray) -> None:
    path = tmp_path / "drums.wav"
    write_wav_atomic(path, signal, 44100)
    assert list(tmp_path.iterdir()) == [path]
    ints, rate = sf.read(path, dtype="int16")
    assert rate == 44100 and sf.info(path).subtype == "PCM_16"
    np.testing.assert_array_equal(ints, float_to_pcm16(signal))
    back, _ = sf.read(path, dtype="float32")
    assert np.max(np.abs(back.T - signal)) < 2 / 32767
    # The bytes a stream would carry are exactly the file's data chunk.
    assert path.read_bytes().endswith(pcm16_bytes(signal))


def test_write_wav_atomic_leaves_nothing_on_failure(tmp_path: Path, signal: np.ndarray) -> None:
    with pytest.raises(ValueError, match="channels, frames"):
        write_wav_atomic(tmp_path / "bad.wav", signal[0], 44100)
    with pytest.raises(FileNotFoundError):
        write_wav_atomic(tmp_path / "no" / "such" / "dir.wav", signal, 44100)
    with pytest.raises(Exception):  # noqa: B017 - libsndfile refuses an impossible rate
        write_wav_atomic(tmp_path / "rate.wav", signal, 0)
    assert list(tmp_path.iterdir()) == []
