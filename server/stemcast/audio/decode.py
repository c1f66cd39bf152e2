"""Decode any audio file to float32 PCM: libsndfile first, FFmpeg (PyAV) for the rest.

libsndfile (soundfile) reads wav, flac, aiff, ogg/vorbis, opus and mp3 exactly and fast;
PyAV covers what it cannot (m4a/aac, wma, webm, ...). Both paths return the same shape:
float32, (channels, frames), at the file's own rate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from stemcast.audio.errors import SUPPORTED_HINT, AudioError, AudioErrorCode

MAX_CHANNELS = 8
MIN_RATE, MAX_RATE = 8000, 384000

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class AudioInfo:
    duration_seconds: float
    sample_rate: int
    channels: int
    frames: int | None
    container: str


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, (channels, frames), C-contiguous
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(AudioErrorCode.FILE_NOT_FOUND,
                         f"'{path}' does not exist; check the path", str(path))
    if not path.is_file():
        raise AudioError(AudioErrorCode.FILE_NOT_FOUND,
                         f"'{path}' is not a regular file (a folder?); name an audio file",
                         str(path))
    if path.stat().st_size == 0:
        raise AudioError(AudioErrorCode.EMPTY_AUDIO,
                         f"'{path}' is empty (0 bytes); the file was not written completely",
                         str(path))


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _not_audio(path: Path, why: str) -> AudioError:
    return AudioError(
        AudioErrorCode.NOT_AUDIO,
        f"'{path}' is not an audio file that stemcast can read ({why}). {SUPPORTED_HINT}",
        str(path),
    )


def _check_shape(path: Path, rate: int, channels: int) -> None:
    if channels < 1 or channels > MAX_CHANNELS:
        raise AudioError(AudioErrorCode.UNSUPPORTED_AUDIO,
                         f"'{path}' has {channels} channels; stemcast reads 1 to {MAX_CHANNELS}",
                         str(path))
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(AudioErrorCode.UNSUPPORTED_AUDIO,
                         f"'{path}' has a sample rate of {rate} Hz; stemcast reads "
                         f"{MIN_RATE}-{MAX_RATE} Hz", str(path))


def _empty(path: Path) -> AudioError:
    return AudioError(AudioErrorCode.EMPTY_AUDIO,
                      f"'{path}' holds no audio (0 samples); export the track again",
                      str(path))


def probe(path: PathLike) -> AudioInfo:
    """Duration and format from the header, without decoding (decodes only as a last resort)."""
    file = Path(path)
    _check_file(file)
    try:
        info = sf.info(str(file))
    except (sf.LibsndfileError, RuntimeError):
        return _probe_av(file)
    _check_shape(file, info.samplerate, info.channels)
    if info.frames <= 0:
        raise _empty(file)
    return AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels, info.frames,
                     info.format.lower())


def _probe_av(file: Path) -> AudioInfo:
    try:
        with av.open(str(file)) as container:
            if not container.streams.audio:
                raise _not_audio(file, "no audio stream found")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or stream.rate
            channels = stream.codec_context.channels
            duration: float | None = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            name = container.format.name.split(",")[0]
    except AudioError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise _not_audio(file, _reason(exc)) from exc
    _check_shape(file, int(rate or 0), int(channels or 0))
    if duration is None or duration <= 0:
        decoded = decode(file)  # no duration in the header: count the samples
        return AudioInfo(decoded.duration_seconds, decoded.sample_rate, decoded.channels,
                         decoded.frames, name)
    return AudioInfo(duration, int(rate), int(channels), None, name)


def decode(path: PathLike) -> DecodedAudio:
    file = Path(path)
    _check_file(file)
    try:
        data, rate = sf.read(str(file), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError):
        return _decode_av(file)
    _check_shape(file, rate, data.shape[1])
    if data.shape[0] == 0:
        raise _empty(file)
    return DecodedAudio(np.ascontiguousarray(data.T), int(rate))


def _decode_av(file: Path) -> DecodedAudio:
    blocks: list[np.ndarray] = []
    try:
        with av.open(str(file)) as container:
            if not container.streams.audio:
                raise _not_audio(file, "no audio stream found")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            _check_shape(file, rate, channels)
            # Planar float at the native rate and layout: no resampling here.
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        blocks.append(out.to_ndarray())
            except av.FFmpegError:
                if not blocks:
                    raise
                # A file cut short in its audio data: keep what decoded.
            for out in resampler.resample(None):
                blocks.append(out.to_ndarray())
    except AudioError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise _not_audio(file, _reason(exc)) from exc
    if not blocks:
        raise _empty(file)
    samples = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
    if samples.shape[1] == 0:
        raise _empty(file)
    return DecodedAudio(np.ascontiguousarray(samples), rate)


def resample(audio: DecodedAudio, sample_rate: int) -> DecodedAudio:
    """High-quality resampling with soxr; a no-op when the rate already matches."""
    if audio.sample_rate == sample_rate:
        return audio
    out = soxr.resample(audio.samples.T, audio.sample_rate, sample_rate, quality="HQ")
    return DecodedAudio(np.ascontiguousarray(out.T, dtype=np.float32), sample_rate)


def to_channels(audio: DecodedAudio, channels: int) -> DecodedAudio:
    """As demucs's convert_audio_channels: mono is duplicated, stereo averaged to mono."""
    have = audio.channels
    if have == channels:
        return audio
    if channels == 1:
        samples = audio.samples.mean(axis=0, keepdims=True)
    elif have == 1:
        samples = np.repeat(audio.samples, channels, axis=0)
    elif have >= channels:
        samples = audio.samples[:channels]
    else:
        raise AudioError(AudioErrorCode.UNSUPPORTED_AUDIO,
                         f"cannot make {channels} channels from {have}")
    return DecodedAudio(np.ascontiguousarray(samples, dtype=np.float32), audio.sample_rate)
