"""Decode a file a block at a time: the same samples decode() returns, never all at once.

A long mix (an hour is ~1.3 GB of float32 stereo) is hashed, resampled and separated from
blocks of about a second, so memory does not grow with the track. The checks are those of
decode() (decode_checks.py), made as the blocks pass; the length checks at the end.

libsndfile first, FFmpeg (PyAV) for the rest, as decode(): when libsndfile gives up in
the middle of a file (damaged data), decode() starts over with FFmpeg, whose samples may
differ from the ones already handed out. So `read_blocks` gives its consumer a fresh
start (`consume` is called again, on the FFmpeg stream): what it made of the first
attempt must be thrown away by it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
import soundfile as sf

from stemcast.audio.decode_checks import (
    MAX_HEADER_SECONDS,
    MAX_TAIL_PADDING,
    check_file,
    check_finite,
    check_length,
    check_shape,
    declared_frames,
    decode_limit_seconds,
    not_audio,
    open_stream,
    reason,
    too_long,
)
from stemcast.audio.errors import AudioError

# ~1.3 s at 44.1 kHz: a few MB of float32 whatever the track. A multiple of 1152 because
# libsndfile's mp3 reader gives other samples when a read ends inside an MPEG-1 frame's
# output (measured: 4096- or 65536-frame reads differ from one whole read by up to 0.3;
# multiples of 1152 match it exactly), and the PCM hash must not change.
BLOCK_FRAMES = 1152 * 50
# MPEG-2/2.5 mp3s (below 32 kHz) differ from a whole read in the last float bit whatever
# the read size, which can move a sample across a 16-bit step of the hash: they are read
# in one block, as decode() reads them (small files: low-rate speech and old podcasts).
_MP3_WHOLE_BELOW_HZ = 32000
T = TypeVar("T")


class _StartOver(Exception):
    """libsndfile failed after handing out blocks: decode() would have used FFmpeg."""


@dataclass
class BlockStream:
    """One pass over a file's PCM: `blocks()` yields float32 (channels, n) arrays."""

    path: Path
    sample_rate: int
    channels: int
    _blocks: Iterator[np.ndarray]
    frames: int = 0  # counted as the blocks pass

    def blocks(self) -> Iterator[np.ndarray]:
        for block in self._blocks:
            self.frames += block.shape[1]
            yield block

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate


def read_blocks(path: str | os.PathLike[str], consume: Callable[[BlockStream], T],
                block_frames: int = BLOCK_FRAMES) -> T:
    """consume(stream) over the file's blocks; it may be called twice (see the module's
    note), the second time on FFmpeg's decoding of the whole file."""
    file = Path(path)
    check_file(file)
    try:
        stream = _sf_stream(file, block_frames)
    except (sf.LibsndfileError, RuntimeError):
        return consume(_av_stream(file, block_frames))
    try:
        return consume(stream)
    except _StartOver:
        return consume(_av_stream(file, block_frames))


def _sf_stream(file: Path, block_frames: int) -> BlockStream:
    handle = sf.SoundFile(str(file))
    try:
        rate, channels = int(handle.samplerate), int(handle.channels)
        if handle.frames > MAX_HEADER_SECONDS * rate:
            raise RuntimeError("the header's length is not believed")
        limit_s = decode_limit_seconds()
        if limit_s is not None and handle.frames > limit_s * rate:
            raise too_long(file, limit_s, handle.frames / rate)
        check_shape(file, rate, channels)
        if handle.format == "MP3":
            block_frames = (max(handle.frames, 1) if rate < _MP3_WHOLE_BELOW_HZ
                            else max(block_frames // 1152, 1) * 1152)
        first = handle.read(block_frames, dtype="float32", always_2d=True)
    except BaseException:
        handle.close()
        raise
    return BlockStream(file, rate, channels, _sf_blocks(file, handle, first, block_frames))


def _sf_blocks(file: Path, handle: sf.SoundFile, first: np.ndarray,
               block_frames: int) -> Iterator[np.ndarray]:
    rate = int(handle.samplerate)
    offset = 0
    with handle:
        block = first
        while len(block):
            check_finite(file, block, rate, offset)
            offset += len(block)
            yield np.ascontiguousarray(block.T)
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise _StartOver from exc
    check_length(file, offset, rate)


def _av_stream(file: Path, block_frames: int) -> BlockStream:
    try:
        container = av.open(str(file))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise not_audio(file, f"nothing decodes: {reason(exc)}") from exc
    try:
        stream = open_stream(file, container)
        rate = int(stream.codec_context.sample_rate or 0)
        channels = int(stream.codec_context.channels or 0)
        check_shape(file, rate, channels)
    except BaseException:
        container.close()
        raise
    return BlockStream(file, rate, channels,
                       _av_blocks(file, container, stream, rate, block_frames))


def _av_frames(file: Path, container: av.container.InputContainer, stream: av.AudioStream,
               rate: int) -> Iterator[np.ndarray]:
    """Decoded frames, (channels, n), as _decode_av gathers them: damaged packets skipped,
    a cut-off container ends the stream, more packets bad than good is not audio."""
    good = bad = decoded = 0
    limit_s = decode_limit_seconds() or MAX_HEADER_SECONDS
    cap = round(limit_s * rate)
    resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                bad += 1
                continue
            good += packet.size > 0
            for frame in frames:
                for out in resampler.resample(frame):
                    yield out.to_ndarray()
                decoded += frame.samples
            if decoded > cap + MAX_TAIL_PADDING:
                raise too_long(file, limit_s)
    except av.FFmpegError:
        if decoded == 0:
            raise
    for out in resampler.resample(None):
        yield out.to_ndarray()
    if bad > good:
        raise not_audio(file, f"{bad} of {good + bad} audio packets do not decode")


def _av_blocks(file: Path, container: av.container.InputContainer, stream: av.AudioStream,
               rate: int, block_frames: int) -> Iterator[np.ndarray]:
    declared = declared_frames(container, stream, rate)
    pending: list[np.ndarray] = []
    pending_frames = total = 0
    try:
        with container:
            for piece in _av_frames(file, container, stream, rate):
                check_shape(file, rate, piece.shape[0])
                pending.append(piece)
                pending_frames += piece.shape[1]
                # Past the declared length, hold back up to the padding decode() trims.
                keep = 0 if declared is None else max(0, total + pending_frames - declared)
                if pending_frames - keep >= block_frames:
                    block, pending = _split(pending, pending_frames - keep)
                    pending_frames = keep
                    check_finite(file, block.T, rate, total)
                    total += block.shape[1]
                    yield block
    except AudioError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise not_audio(file, f"nothing decodes: {reason(exc)}") from exc
    if pending_frames:
        block = np.concatenate(pending, axis=1).astype(np.float32, copy=False)
        if declared is not None and 0 < total + pending_frames - declared <= MAX_TAIL_PADDING:
            block = block[:, :max(declared - total, 0)]  # the encoder's tail padding
        if block.shape[1]:
            check_finite(file, block.T, rate, total)
            total += block.shape[1]
            yield np.ascontiguousarray(block)
    check_length(file, total, rate)


def _split(pieces: list[np.ndarray], frames: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The first `frames` of the pieces as one float32 array, and the rest."""
    whole = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
    head = np.ascontiguousarray(whole[:, :frames], dtype=np.float32)
    tail = whole[:, frames:]
    return head, ([np.ascontiguousarray(tail)] if tail.shape[1] else [])
