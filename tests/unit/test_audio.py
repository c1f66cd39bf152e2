"""Real encode/decode round trips, content hashes and atomic stem writes."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from stemcast.audio import (
    AudioError,
    AudioErrorCode,
    DecodedAudio,
    decode,
    file_sha256,
    float_to_pcm16,
    pcm16_bytes,
    pcm_hash,
    probe,
    resample,
    to_channels,
    write_wav_atomic,
)
from tests.support.audio_fixtures import make_music_like_signal, write_audio

FORMATS = [".wav", ".flac", ".aiff", ".mp3", ".m4a", ".ogg", ".opus"]
LOSSLESS = [".wav", ".flac", ".aiff"]
CONTAINERS = {".wav": "wav", ".flac": "flac", ".aiff": "aiff", ".mp3": "mp3", ".m4a": "mp4",
              ".ogg": "ogg", ".opus": "ogg"}
RATE = 44100
SECONDS = 2.0


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return make_music_like_signal(SECONDS, seed=5)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, signal: np.ndarray) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("enc")
    return {ext: write_audio(folder / f"clip{ext}", signal, RATE) for ext in FORMATS}


def _source_at(signal: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return signal
    return np.ascontiguousarray(soxr.resample(signal.T, RATE, rate).T)


@pytest.mark.parametrize("ext", FORMATS)
def test_every_format_decodes_to_the_source(encoded: dict[str, Path], signal: np.ndarray,
                                            ext: str) -> None:
    audio = decode(encoded[ext])
    assert audio.samples.dtype == np.float32 and audio.samples.flags.c_contiguous
    assert audio.channels == 2
    assert audio.sample_rate == (48000 if ext == ".opus" else RATE)
    # Encoder delay is trimmed by every decoder; 5 ms covers a codec's leftover padding.
    assert abs(audio.duration_seconds - SECONDS) < 0.005
    # The decoded audio is the source, time-aligned: not silence, noise or a shifted copy.
    source = _source_at(signal, audio.sample_rate)
    n = min(source.shape[1], audio.frames)
    for channel in range(2):
        correlation = np.corrcoef(source[channel, :n], audio.samples[channel, :n])[0, 1]
        assert correlation > (0.999 if ext in LOSSLESS else 0.9), (channel, correlation)


@pytest.mark.parametrize("ext", FORMATS)
def test_probe_agrees_with_decode(encoded: dict[str, Path], ext: str) -> None:
    info, audio = probe(encoded[ext]), decode(encoded[ext])
    assert (info.sample_rate, info.channels) == (audio.sample_rate, audio.channels)
    assert info.container == CONTAINERS[ext]
    assert abs(info.duration_seconds - audio.duration_seconds) < 0.005
    if info.frames is not None:
        assert info.frames == audio.frames
    # Only containers without a frame count in the header leave it unknown.
    assert (info.frames is None) == (ext == ".m4a")


@pytest.mark.parametrize("ext", FORMATS)
def test_mono_decodes_as_one_channel(tmp_path: Path, ext: str) -> None:
    path = write_audio(tmp_path / f"mono{ext}", make_music_like_signal(1.0, channels=1), RATE)
    audio = decode(path)
    assert audio.channels == probe(path).channels == 1
    assert abs(audio.duration_seconds - 1.0) < 0.005


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_wav_sample_formats_decode_the_same_pcm(tmp_path: Path, signal: np.ndarray,
                                                subtype: str) -> None:
    ints = float_to_pcm16(signal)
    path = tmp_path / f"{subtype}.wav"
    if subtype == "FLOAT":
        sf.write(path, ints.astype(np.float32) / 32768, RATE, subtype="FLOAT")
    else:
        sf.write(path, ints, RATE, subtype=subtype)  # libsndfile widens int16 exactly
    audio = decode(path)
    assert sf.info(path).subtype == subtype
    np.testing.assert_array_equal(audio.samples, ints.T.astype(np.float32) / 32768)


def test_lossless_containers_decode_identical_pcm_and_hash(encoded: dict[str, Path],
                                                           signal: np.ndarray,
                                                           tmp_path: Path) -> None:
    decoded = [decode(encoded[ext]) for ext in LOSSLESS]
    for audio in decoded[1:]:
        np.testing.assert_array_equal(audio.samples, decoded[0].samples)
    expected = float_to_pcm16(signal).T.astype(np.float32) / 32768
    np.testing.assert_array_equal(decoded[0].samples, expected)
    hashes = {pcm_hash(audio) for audio in decoded}
    assert len(hashes) == 1
    # The same integers as 32-bit float WAV are the same audio.
    ints, _ = sf.read(encoded[".wav"], dtype="int16")
    sf.write(tmp_path / "float.wav", ints.astype(np.float32) / 32768, RATE, subtype="FLOAT")
    assert pcm_hash(decode(tmp_path / "float.wav")) in hashes
    # Lossy re-encodes are different audio.
    assert pcm_hash(decode(encoded[".mp3"])) not in hashes
    assert pcm_hash(decode(encoded[".m4a"])) not in hashes


def test_hash_sees_one_changed_sample_rate_and_channels(encoded: dict[str, Path]) -> None:
    audio = decode(encoded[".wav"])
    changed = audio.samples.copy()
    changed[1, 12345] += 3 / 32768
    assert pcm_hash(DecodedAudio(changed, RATE)) != pcm_hash(audio)
    # Below half a 16-bit step is the same PCM.
    nudged = audio.samples.copy()
    nudged[1, 12345] += 0.2 / 32768
    assert pcm_hash(DecodedAudio(nudged, RATE)) == pcm_hash(audio)
    assert pcm_hash(DecodedAudio(audio.samples, 48000)) != pcm_hash(audio)
    # Same interleaved bytes, different channel count.
    flat = audio.samples.T.reshape(1, -1).copy()
    assert pcm_hash(DecodedAudio(flat, RATE)) != pcm_hash(audio)


def test_hash_layout_is_the_documented_one() -> None:
    samples = np.array([[0.5 / 32768, -0.5 / 32768, 1.5, -1.0, 0.25],
                        [1.49 / 32768, -1.51 / 32768, 1.0, -2.0, 0.0]], dtype=np.float32)
    # Half away from zero, clipped, capped at 32767, interleaved frame by frame.
    ints = [1, 1, -1, -2, 32767, 32767, -32768, -32768, 8192, 0]
    expected = hashlib.sha256(b"stemcast-pcm-v1" + struct.pack("<II", 22050, 2)
                              + struct.pack(f"<{len(ints)}h", *ints)).hexdigest()
    assert pcm_hash(DecodedAudio(samples, 22050)) == expected


def test_hash_of_a_long_track_is_independent_of_blocking() -> None:
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal((2, 700_001)) * 0.3).astype(np.float32)  # several blocks
    scaled = np.clip(samples.astype(np.float64), -1, 1) * 32768
    ints = np.minimum(np.sign(scaled) * np.floor(np.abs(scaled) + 0.5), 32767).astype("<i2")
    expected = hashlib.sha256(b"stemcast-pcm-v1" + struct.pack("<II", RATE, 2)
                              + ints.T.tobytes()).hexdigest()
    assert pcm_hash(DecodedAudio(samples, RATE)) == expected


def test_file_sha256_hashes_the_bytes(encoded: dict[str, Path]) -> None:
    data = encoded[".flac"].read_bytes()
    assert file_sha256(encoded[".flac"]) == hashlib.sha256(data).hexdigest()


def _truncated(source: str, keep: int) -> Callable[[dict[str, Path]], bytes]:
    return lambda encoded: encoded[source].read_bytes()[:keep]


@pytest.mark.parametrize(("name", "content", "code"), [
    ("empty.wav", lambda _: b"", AudioErrorCode.EMPTY_AUDIO),
    ("notes.txt", lambda _: b"just some text, no audio\n" * 20, AudioErrorCode.NOT_AUDIO),
    ("notes.wav", lambda _: b"RIFF? no, just text\n" * 20, AudioErrorCode.NOT_AUDIO),
    ("noise.mp3", lambda _: np.random.default_rng(0).bytes(4000), AudioErrorCode.NOT_AUDIO),
    ("noise.m4a", lambda _: np.random.default_rng(0).bytes(4000), AudioErrorCode.NOT_AUDIO),
    ("cut.mp3", _truncated(".mp3", 100), AudioErrorCode.NOT_AUDIO),
    ("cut.m4a", _truncated(".m4a", 100), AudioErrorCode.NOT_AUDIO),
    ("cut.ogg", _truncated(".ogg", 100), AudioErrorCode.NOT_AUDIO),
    # 44 bytes of header and 14 frames of data: decodes, but a sliver is not a track.
    ("cut.wav", _truncated(".wav", 100), AudioErrorCode.EMPTY_AUDIO),
    ("header-only.wav", _truncated(".wav", 44), AudioErrorCode.EMPTY_AUDIO),
])
def test_bad_files_give_clear_errors(tmp_path: Path, encoded: dict[str, Path], name: str,
                                     content: Callable[[dict[str, Path]], bytes],
                                     code: AudioErrorCode) -> None:
    path = tmp_path / name
    path.write_bytes(content(encoded))
    for function in (probe, decode):
        with pytest.raises(AudioError) as caught:
            function(path)
        assert caught.value.code == code, (function.__name__, str(caught.value))
        assert str(path) in str(caught.value) and caught.value.path == str(path)
        assert str(caught.value) == caught.value.message


def test_random_bytes_that_hold_an_mp3_frame_header_are_not_audio(tmp_path: Path) -> None:
    # This seed's 100 kB contain one valid-looking mp3 frame; FFmpeg decodes it to 0.1 s of
    # loud garbage and fails the other packets.
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(1).bytes(100_000))
    with pytest.raises(AudioError) as caught:
        decode(path)
    assert caught.value.code == AudioErrorCode.NOT_AUDIO
    assert "do not decode" in str(caught.value)


@pytest.mark.parametrize("target", ["missing.wav", "folder"])
def test_missing_paths_and_folders_are_not_found(tmp_path: Path, target: str) -> None:
    (tmp_path / "folder").mkdir()
    path = tmp_path / target
    for function in (probe, decode):
        with pytest.raises(AudioError) as caught:
            function(str(path))
        assert caught.value.code == AudioErrorCode.FILE_NOT_FOUND
        assert str(path) in str(caught.value)


@pytest.mark.parametrize(("channels", "rate", "words"), [
    (10, RATE, "10 channels"),
    (2, 4000, "4000 Hz"),
])
def test_unsupported_shapes(tmp_path: Path, channels: int, rate: int, words: str) -> None:
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros((rate, channels), dtype=np.int16), rate)
    for function in (probe, decode):
        with pytest.raises(AudioError) as caught:
            function(path)
        assert caught.value.code == AudioErrorCode.UNSUPPORTED_AUDIO
        assert words in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".ogg", ".opus"])
def test_file_cut_in_its_audio_data_decodes_what_is_there(tmp_path: Path,
                                                          encoded: dict[str, Path],
                                                          ext: str) -> None:
    data = encoded[ext].read_bytes()
    path = tmp_path / f"half{ext}"
    path.write_bytes(data[:len(data) // 2])
    audio = decode(path)
    assert audio.channels == 2
    # Roughly half the 2 s; ogg spends its first pages on codebooks, so a bit less there.
    assert 0.6 < audio.duration_seconds < 1.05, audio.duration_seconds
    if ext == ".wav":
        np.testing.assert_array_equal(audio.samples, decode(encoded[ext]).samples[:, :audio.frames])


def test_resample_changes_length_by_the_ratio_and_keeps_pitch() -> None:
    t = np.arange(RATE) / RATE
    tone = DecodedAudio(np.stack([np.sin(2 * np.pi * 1000 * t)] * 2).astype(np.float32), RATE)
    up = resample(tone, 48000)
    assert up.sample_rate == 48000 and up.channels == 2
    assert up.samples.dtype == np.float32 and up.samples.flags.c_contiguous
    assert abs(up.frames - tone.frames * 48000 / RATE) <= 1
    spectrum = np.abs(np.fft.rfft(up.samples[0]))
    assert abs(np.argmax(spectrum) * 48000 / up.frames - 1000) < 2
    assert resample(tone, RATE) is tone


def test_to_channels() -> None:
    rng = np.random.default_rng(1)
    four = DecodedAudio(rng.uniform(-0.5, 0.5, (4, 100)).astype(np.float32), RATE)
    stereo = to_channels(four, 2)
    np.testing.assert_array_equal(stereo.samples, four.samples[:2])
    mono = to_channels(stereo, 1)
    np.testing.assert_allclose(mono.samples[0], four.samples[:2].mean(axis=0), atol=1e-7)
    back = to_channels(mono, 2)
    np.testing.assert_array_equal(back.samples, np.vstack([mono.samples, mono.samples]))
    assert back.samples.flags.c_contiguous and back.samples.dtype == np.float32
    assert to_channels(stereo, 2) is stereo
    with pytest.raises(AudioError) as caught:
        to_channels(stereo, 3)
    assert caught.value.code == AudioErrorCode.UNSUPPORTED_AUDIO


def test_write_wav_atomic_round_trip(tmp_path: Path, signal: np.ndarray) -> None:
    path = tmp_path / "drums.wav"
    loud = signal.copy()
    loud[0, :3] = [1.5, -1.5, 0.999999]  # clipped, not wrapped
    write_wav_atomic(path, loud, RATE)
    assert list(tmp_path.iterdir()) == [path]
    ints, rate = sf.read(path, dtype="int16")
    assert rate == RATE and sf.info(path).subtype == "PCM_16"
    np.testing.assert_array_equal(ints, float_to_pcm16(loud))
    assert list(ints[:3, 0]) == [32767, -32767, 32767]
    assert np.max(np.abs(ints[3:].T / 32767 - loud[:, 3:])) <= 0.5 / 32767 + 1e-7
    back, _ = sf.read(path, dtype="float32")
    assert np.max(np.abs(back[3:].T - loud[:, 3:])) < 1 / 32767
    # The bytes a stream would carry are exactly the file's data chunk.
    assert path.read_bytes().endswith(pcm16_bytes(loud))
    assert len(pcm16_bytes(loud)) == loud.size * 2


def test_write_wav_atomic_float_is_exact(tmp_path: Path, signal: np.ndarray) -> None:
    path = tmp_path / "vocals.wav"
    write_wav_atomic(path, signal, RATE, subtype="FLOAT")
    np.testing.assert_array_equal(decode(path).samples, signal)


def test_write_wav_atomic_replaces_and_leaves_nothing_on_failure(tmp_path: Path,
                                                                 signal: np.ndarray) -> None:
    path = tmp_path / "bass.wav"
    write_wav_atomic(path, signal, RATE)
    before = path.read_bytes()
    write_wav_atomic(path, signal * 0.5, RATE)  # replacing a stem works
    assert path.read_bytes() != before
    before = path.read_bytes()
    with pytest.raises(ValueError, match="channels, frames"):
        write_wav_atomic(path, signal[0], RATE)
    with pytest.raises(ValueError, match="dtype"):
        write_wav_atomic(path, float_to_pcm16(signal).T, RATE)
    with pytest.raises(sf.LibsndfileError):  # fails inside libsndfile, after .partial exists
        write_wav_atomic(path, signal, 0)
    with pytest.raises(FileNotFoundError):
        write_wav_atomic(tmp_path / "no" / "such" / "dir.wav", signal, RATE)
    assert path.read_bytes() == before  # a failed write never touches the old stem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bass.wav"]
