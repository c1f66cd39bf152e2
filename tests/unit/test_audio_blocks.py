"""Block-wise decoding, hashing, preparing and peaks give exactly what the whole-track
functions give (the hash must not change: the cache keys on it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemcast.audio import (
    AudioError,
    AudioErrorCode,
    decode,
    pcm_hash,
    pcm_hash_file,
    resample,
    to_channels,
)
from stemcast.audio.blocks import BlockStream, read_blocks
from stemcast.audio.prepared import ArraySource, prepare_mix, read_padded
from stemcast.audio.waveform import waveform_entries
from stemcast.audio.waveform_stream import PeakStream, WaveformStream
from tests.support.audio_fixtures import make_music_like_signal, write_audio

FORMATS = [".wav", ".flac", ".aiff", ".mp3", ".m4a", ".ogg", ".opus"]
RATE = 44100


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("blocks")
    signal = make_music_like_signal(2.0, seed=11)
    return {ext: write_audio(folder / f"clip{ext}", signal, RATE) for ext in FORMATS}


def _gather(stream: BlockStream) -> tuple[int, int, np.ndarray]:
    blocks = list(stream.blocks())
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in blocks)
    return stream.sample_rate, stream.channels, np.concatenate(blocks, axis=1)


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("block_frames", [1000, 1 << 16])
def test_blocks_are_the_decoded_samples(encoded: dict[str, Path], ext: str,
                                        block_frames: int) -> None:
    whole = decode(encoded[ext])
    rate, channels, joined = read_blocks(encoded[ext], _gather, block_frames)
    assert (rate, channels) == (whole.sample_rate, whole.channels)
    # m4a: the AAC tail padding is trimmed block-wise just as decode() trims it.
    np.testing.assert_array_equal(joined, whole.samples)


@pytest.mark.parametrize("ext", FORMATS)
def test_streamed_hash_is_todays_hash(encoded: dict[str, Path], ext: str) -> None:
    whole = decode(encoded[ext])
    digest, duration = pcm_hash_file(encoded[ext])
    assert digest == pcm_hash(whole)
    assert duration == whole.duration_seconds


def test_hash_value_is_pinned(tmp_path: Path) -> None:
    # A fixed file's digest, computed by the whole-array pcm_hash of main before block-wise
    # hashing existed: a change here would orphan every cached job.
    t = np.arange(4410) / RATE
    data = (0.5 * np.sin(2 * np.pi * 440 * t)[:, None] * [1, 0.5] * 32767).astype(np.int16)
    path = tmp_path / "pinned.wav"
    sf.write(path, data, RATE)
    digest, _ = pcm_hash_file(path)
    assert digest == pcm_hash(decode(path))
    assert digest == PINNED


PINNED = "36a2bac3ceeda19bfa55b75cd7266a28d7d7f6d756eb46fd711f5f1328c16c9b"


@pytest.mark.parametrize(("content", "code"), [
    (b"just some text, no audio\n" * 20, AudioErrorCode.NOT_AUDIO),
    (np.random.default_rng(0).bytes(4000), AudioErrorCode.NOT_AUDIO),
    (b"", AudioErrorCode.EMPTY_AUDIO),
])
def test_bad_files_fail_as_decode_fails(tmp_path: Path, content: bytes,
                                        code: AudioErrorCode) -> None:
    path = tmp_path / "bad.m4a"
    path.write_bytes(content)
    for function in (decode, pcm_hash_file):
        with pytest.raises(AudioError) as caught:
            function(path)
        assert caught.value.code == code


def test_nan_in_a_late_block_is_refused_with_its_time(tmp_path: Path) -> None:
    data = np.zeros((RATE * 3, 2), np.float32)
    data[RATE * 2 + 5, 1] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, data, RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as caught:
        pcm_hash_file(path)
    assert caught.value.code == AudioErrorCode.UNSUPPORTED_AUDIO
    assert "2.00 s" in str(caught.value)


def test_too_long_stops_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stemcast.audio.decode_checks import set_decode_limit

    # setenv (not delenv) so that the limit set below is undone after the test.
    monkeypatch.setenv("STEMCAST_DECODE_LIMIT_S", "")
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros((RATE * 20, 1), np.int16), RATE)
    set_decode_limit(10.0)
    with pytest.raises(AudioError) as caught:
        pcm_hash_file(path)
    assert caught.value.code == AudioErrorCode.TRACK_TOO_LONG


@pytest.mark.parametrize(("ext", "rate", "channels"), [
    (".wav", 44100, 2), (".flac", 48000, 2), (".m4a", 48000, 2), (".wav", 22050, 1)])
def test_prepared_mix_is_the_whole_track_resampled(tmp_path: Path, ext: str, rate: int,
                                                   channels: int) -> None:
    signal = make_music_like_signal(3.0, seed=3, sample_rate=rate)[:channels]
    path = write_audio(tmp_path / f"in{ext}", signal, rate)
    whole = decode(path)
    expected = to_channels(resample(whole, RATE), 2).samples
    prepared = prepare_mix(path, tmp_path / "mix.f32.tmp", RATE, 2)
    source = prepared.source
    assert (source.frames, source.channels) == (expected.shape[1], 2)
    # soxr's streaming resampler gives the one-shot resampler's samples.
    np.testing.assert_allclose(source.read(0, source.frames), expected, atol=1e-6)
    np.testing.assert_array_equal(source.read(100, 200), source.read(0, 300)[:, 100:200])
    assert prepared.pcm_hash == pcm_hash(whole)
    mean, std = ArraySource(expected).mono_stats()
    got_mean, got_std = source.mono_stats()
    assert got_mean == pytest.approx(mean, abs=1e-7) and got_std == pytest.approx(std, rel=1e-5)


def test_read_padded_has_zeros_past_the_edges() -> None:
    source = ArraySource(np.arange(10, dtype=np.float32).reshape(1, 10))
    np.testing.assert_array_equal(read_padded(source, -2, 3), [[0, 0, 0, 1, 2]])
    np.testing.assert_array_equal(read_padded(source, 8, 12), [[8, 9, 0, 0]])


@pytest.mark.parametrize(("rate", "frames"), [(44100, 44100 * 4 + 7), (11025, 5001), (8000, 3)])
def test_peak_stream_equals_whole_track_peaks(rate: int, frames: int) -> None:
    rng = np.random.default_rng(rate)
    audio = rng.standard_normal((2, frames)).astype(np.float32)
    audio[0, frames // 2] = np.nan  # fmin/fmax skip it either way
    stream = WaveformStream(["mix", "left"], rate)
    at = 0
    while at < frames:
        size = int(rng.integers(1, 7000))
        stream.update("mix", audio[:, at:at + size])
        stream.update("left", audio[0, at:at + size])
        at += size
    assert stream.entries() == waveform_entries({"mix": audio, "left": audio[0]}, rate)
    assert PeakStream(rate, 5).finish().shape == (0, 2)


@pytest.mark.parametrize("rate", [44100, 22050])
def test_mp3_hash_over_many_blocks_is_todays(tmp_path: Path, rate: int) -> None:
    # libsndfile's mp3 reader is sensitive to where reads end (blocks.py): over many
    # blocks, MPEG-1 and MPEG-2 files still hash as decode() reads them.
    path = write_audio(tmp_path / "long.mp3", make_music_like_signal(12.0, seed=4,
                                                                     sample_rate=rate), rate)
    whole = decode(path)
    digest, duration = pcm_hash_file(path)
    assert digest == pcm_hash(whole) and duration == whole.duration_seconds
    _, _, joined = read_blocks(path, _gather)
    np.testing.assert_array_equal(joined, whole.samples)
