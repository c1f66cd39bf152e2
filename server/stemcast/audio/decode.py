"""Decode any audio file to float32 PCM: libsndfile first, FFmpeg (PyAV) for the rest.

The bundled libsndfile (1.2.x) reads wav, flac, aiff, ogg/vorbis, ogg/opus and mp3 exactly
and fast; PyAV covers what it cannot (m4a/aac, alac, wma, webm, ...). Both paths return the
same shape: float32, (channels, frames), at the file's own rate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from stemcast.audio.decode_checks import (
    MAX_HEADER_SECONDS,
    MAX_TAIL_PADDING,
    check_file,
    check_finite,
    check_length,
    check_shape,
    container_name,
    declared_frames,
    decode_limit_seconds,
    not_audio,
    open_stream,
    reason,
    set_decode_limit,
    too_long,
)
from stemcast.audio.errors import AudioError, AudioErrorCode

PathLike = str | os.PathLike[str]

__all__ = ["AudioInfo", "DecodedAudio", "decode", "probe", "resample", "set_decode_limit",
           "to_channels"]

_SF_CONTAINER_NAMES = {"wavex": "wav"}
# Frames read at the end of a file to check that its header's length is true.
_TAIL_CHECK_FRAMES = 4096
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
_FINITE_BLOCK_FRAMES = 1 << 18
_READ_BLOCK = 1 << 16


@dataclass(frozen=True)
class AudioInfo:
    duration_seconds: float
    sample_rate: int
    channels: int
    frames: int | None  # None where only the container's duration is known (m4a, ...)
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


def probe(path: PathLike) -> AudioInfo:
    """Duration and format from the header, without decoding (decodes only as a last resort).

    Header-based: a file whose header is intact but whose data is damaged probes fine and
    fails (or comes up short) in decode().
    """
    file = Path(path)
    check_file(file)
    try:
        info = sf.info(str(file))
    except (sf.LibsndfileError, RuntimeError):
        return _probe_av(file)
    check_shape(file, info.samplerate, info.channels)
    if info.frames > MAX_HEADER_SECONDS * info.samplerate:
        # Not believed; libsndfile cannot read such FLACs through either (it seeks).
        return _probe_av(file)
    check_length(file, info.frames, info.samplerate)
    frames = info.frames
    if info.subtype in _FLOAT_SUBTYPES:
        _check_finite_file(file, info.samplerate)  # float files can hold NaN: refuse now
    if not _tail_reads(file, frames):
        # The header promises more than the file holds (cut off while copying): the
        # duration is what decodes, not what the header says.
        frames = _count_frames(file)
    container = info.format.lower()
    return AudioInfo(frames / info.samplerate, info.samplerate, info.channels, frames,
                     _SF_CONTAINER_NAMES.get(container, container))


def _read_limited(path: Path) -> tuple[np.ndarray, int]:
    """sf.read, refusing past the decode limit before reading. libsndfile allocates and
    reads no more than its header's length, so the header bounds the memory; a header
    not believed goes to FFmpeg, which counts as it decodes."""
    with sf.SoundFile(str(path)) as audio:
        rate = int(audio.samplerate)
        if audio.frames > MAX_HEADER_SECONDS * rate:
            raise RuntimeError("the header's length is not believed")
        limit_s = decode_limit_seconds()
        if limit_s is not None and audio.frames > limit_s * rate:
            raise too_long(path, limit_s, audio.frames / rate)
        return audio.read(dtype="float32", always_2d=True), rate


def decode(path: PathLike) -> DecodedAudio:
    """The whole file as float32 PCM; TRACK_TOO_LONG past the decode limit (decoding stops
    there, so a file whose header understates its length cannot fill memory)."""
    file = Path(path)
    check_file(file)
    try:
        data, rate = _read_limited(file)
    except (sf.LibsndfileError, RuntimeError):
        # Not a libsndfile format, or damaged data libsndfile gives up on: FFmpeg is more
        # forgiving and keeps what decodes.
        return _decode_av(file)
    check_shape(file, rate, data.shape[1])
    check_length(file, data.shape[0], rate)
    check_finite(file, data, rate)
    return DecodedAudio(np.ascontiguousarray(data.T), int(rate))


def resample(audio: DecodedAudio, sample_rate: int) -> DecodedAudio:
    """High-quality resampling with soxr; a no-op when the rate already matches."""
    if audio.sample_rate == sample_rate:
        return audio
    out = soxr.resample(audio.samples.T, audio.sample_rate, sample_rate, quality="HQ")
    return DecodedAudio(np.ascontiguousarray(out.T, dtype=np.float32), sample_rate)


def to_channels(audio: DecodedAudio, channels: int) -> DecodedAudio:
    """As demucs's convert_audio_channels: to mono averages, mono is duplicated, more than
    needed keeps the first ones."""
    have = audio.channels
    if have == channels:
        return audio
    if channels == 1:
        samples = audio.samples.mean(axis=0, keepdims=True)
    elif have == 1:
        samples = np.repeat(audio.samples, channels, axis=0)
    elif have > channels:
        samples = audio.samples[:channels]
    else:
        raise AudioError(AudioErrorCode.UNSUPPORTED_AUDIO,
                         f"cannot make {channels} channels from {have}; the model needs "
                         f"{channels} and only mono can be upmixed")
    return DecodedAudio(np.ascontiguousarray(samples, dtype=np.float32), audio.sample_rate)


def _tail_reads(path: Path, frames: int) -> bool:
    """Whether the last frames the header announces are really there (a cheap seek and
    read: a truncated FLAC fails the seek, a truncated MP3 reads nothing)."""
    tail = min(frames, _TAIL_CHECK_FRAMES)
    try:
        with sf.SoundFile(str(path)) as handle:
            if not handle.seekable():
                return True
            handle.seek(frames - tail)
            return len(handle.read(tail, dtype="float32")) >= tail
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return False


def _check_finite_file(path: Path, rate: int) -> None:
    """check_finite over a float file, a block at a time (no whole copy in memory)."""
    offset = 0
    for block in sf.blocks(str(path), blocksize=_FINITE_BLOCK_FRAMES, dtype="float32",
                           always_2d=True):
        check_finite(path, block, rate, offset)
        offset += len(block)


def _probe_av(file: Path) -> AudioInfo:
    try:
        with av.open(str(file)) as container:
            stream = open_stream(file, container)
            rate = int(stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            duration: float | None = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            name = container_name(container)
    except AudioError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise not_audio(file, f"nothing decodes: {reason(exc)}") from exc
    check_shape(file, rate, channels)
    if duration is None or duration <= 0:
        frames = _count_frames(file)  # no duration in the header: count the samples
        return AudioInfo(frames / rate, rate, channels, frames, name)
    check_length(file, round(duration * rate), rate)
    return AudioInfo(duration, rate, channels, None, name)


def _decode_av(file: Path) -> DecodedAudio:
    blocks: list[np.ndarray] = []
    good = bad = 0
    try:
        with av.open(str(file)) as container:
            stream = open_stream(file, container)
            rate = int(stream.codec_context.sample_rate or 0)
            check_shape(file, rate, int(stream.codec_context.channels or 0))
            declared = declared_frames(container, stream, rate)
            limit_s = decode_limit_seconds() or MAX_HEADER_SECONDS
            cap = round(limit_s * rate)
            decoded = 0
            # Planar float at the native rate and layout: no resampling here.
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
            try:
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError:
                        bad += 1  # a damaged packet: skip it and go on, as ffmpeg does
                        continue
                    good += packet.size > 0  # the final flush packet is empty
                    for frame in frames:
                        blocks.extend(out.to_ndarray() for out in resampler.resample(frame))
                        decoded += frame.samples
                    if decoded > cap + MAX_TAIL_PADDING:
                        raise too_long(file, limit_s)
            except av.FFmpegError:
                if not blocks:
                    raise
                # The container is cut short: keep what decoded before the cut.
            blocks.extend(out.to_ndarray() for out in resampler.resample(None))
    except AudioError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise not_audio(file, f"nothing decodes: {reason(exc)}") from exc
    if bad > good:
        # Random bytes can hold a few valid-looking mp3 frame headers; real files, even
        # truncated ones, decode almost every packet.
        raise not_audio(file, f"{bad} of {good + bad} audio packets do not decode")
    samples = np.concatenate(blocks, axis=1) if blocks else np.zeros((1, 0), np.float32)
    if declared is not None and 0 < samples.shape[1] - declared <= MAX_TAIL_PADDING:
        # The container knows the true length; drop the encoder's tail padding (AAC pads the
        # last packet to 1024 samples and FFmpeg does not trim it).
        samples = samples[:, :declared]
    check_shape(file, rate, samples.shape[0])
    check_length(file, samples.shape[1], rate)
    check_finite(file, samples.T, rate)
    return DecodedAudio(np.ascontiguousarray(samples, dtype=np.float32), rate)



def _count_frames(file: Path) -> int:
    """The frames a decode gives, counted block by block (no whole copy in memory)."""
    from stemcast.audio.blocks import BlockStream, read_blocks

    def count(stream: BlockStream) -> int:
        for _ in stream.blocks():
            pass
        return stream.frames

    return read_blocks(file, count)
