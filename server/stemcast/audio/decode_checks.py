"""The checks every decode makes, shared by the whole-file and the block-wise readers:
the file is there and readable, the stream has a sane shape and length, the samples are
numbers, and no decode runs past the server's length limit."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from stemcast.audio.errors import SUPPORTED_HINT, AudioError, AudioErrorCode

MAX_CHANNELS = 8
MIN_RATE, MAX_RATE = 8000, 384000
# Fewer samples than this is a header with a sliver of data (a file cut off near its start),
# not music anyone wants separated.
MIN_SECONDS = 0.01

# FFmpeg names demuxers by lists ("mov,mp4,m4a,3gp,3g2,mj2"); report the name users know.
AV_CONTAINER_NAMES = {"mov": "mp4", "matroska": "mkv"}
# Encoders pad the last packet (AAC: up to 1024 samples, plus a little for resync).
MAX_TAIL_PADDING = 2048
# A header claiming more than this is not believed (a FLAC written without its length
# says 1e15 s): the samples are decoded and counted instead, up to the decode limit.
MAX_HEADER_SECONDS = 24 * 3600.0
# The most audio any decode returns, in seconds; past it decoding stops with
# TRACK_TOO_LONG. The server sets it from --max-duration-s before it starts its worker
# processes, which inherit it; the header's duration is only an estimate for some formats
# (an ADTS AAC can probe at 6 s and decode to 2 hours).
DECODE_LIMIT_ENV = "STEMCAST_DECODE_LIMIT_S"


def set_decode_limit(max_duration_s: float) -> None:
    """Cap every decode in this process and the processes it starts from now on."""
    margin = max(5.0, 0.02 * max_duration_s)  # headers of honest files are a little off
    os.environ[DECODE_LIMIT_ENV] = str(max_duration_s + margin)


def decode_limit_seconds() -> float | None:
    value = os.environ.get(DECODE_LIMIT_ENV)
    return float(value) if value else None


def too_long(path: Path, limit_s: float, header_s: float | None = None) -> AudioError:
    said = f" (its header says {header_s:.0f} s)" if header_s is not None else ""
    return AudioError(AudioErrorCode.TRACK_TOO_LONG,
                      f"'{path}' holds more than {limit_s:.0f} s of audio{said}; this server "
                      "reads tracks up to that length (--max-duration-s): cut the track or "
                      "ask the operator for a higher limit", str(path))


def check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(AudioErrorCode.FILE_NOT_FOUND,
                         f"'{path}' does not exist; check the path (it must be visible to the "
                         "stemcast server, on its machine)", str(path))
    if not path.is_file():
        raise AudioError(AudioErrorCode.FILE_NOT_FOUND,
                         f"'{path}' is not a regular file (a folder?); name an audio file",
                         str(path))
    try:
        with open(path, "rb"):
            pass
    except PermissionError as exc:
        raise AudioError(AudioErrorCode.FILE_NOT_FOUND,
                         f"'{path}' cannot be read by the stemcast server (permission "
                         "denied); make it readable", str(path)) from exc
    if path.stat().st_size == 0:
        raise AudioError(AudioErrorCode.EMPTY_AUDIO,
                         f"'{path}' is empty (0 bytes); the file was not written completely, "
                         "export or copy it again", str(path))


def not_audio(path: Path, why: str) -> AudioError:
    return AudioError(
        AudioErrorCode.NOT_AUDIO,
        f"'{path}' is not an audio file that stemcast can read ({why}). {SUPPORTED_HINT}",
        str(path),
    )


def check_shape(path: Path, rate: int, channels: int) -> None:
    if rate <= 0 or channels <= 0:
        # FFmpeg will "open" random bytes named .mp3 as an mp3 stream with no parameters.
        raise not_audio(path, "no audio stream with a sample rate and channels found")
    if channels > MAX_CHANNELS:
        raise AudioError(AudioErrorCode.UNSUPPORTED_AUDIO,
                         f"'{path}' has {channels} channels; stemcast reads 1 to {MAX_CHANNELS}. "
                         "Export a stereo mix of it.", str(path))
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(AudioErrorCode.UNSUPPORTED_AUDIO,
                         f"'{path}' has a sample rate of {rate} Hz; stemcast reads "
                         f"{MIN_RATE}-{MAX_RATE} Hz. Export it at 44100 or 48000 Hz.", str(path))


def check_length(path: Path, frames: int, rate: int) -> None:
    if frames <= 0:
        raise AudioError(AudioErrorCode.EMPTY_AUDIO,
                         f"'{path}' holds no audio (0 samples); export the track again",
                         str(path))
    if frames < MIN_SECONDS * rate:
        raise AudioError(AudioErrorCode.EMPTY_AUDIO,
                         f"'{path}' holds only {frames} samples ({1000 * frames / rate:.1f} ms) "
                         "of audio, so it looks cut off; export or copy the track again",
                         str(path))


def check_finite(path: Path, frames_by_channel: np.ndarray, rate: int,
                  offset: int = 0) -> None:
    """NaN or infinite samples are not sound: refused, not separated into noise.
    `frames_by_channel` is (frames, channels); `offset` its first frame in the file."""
    finite = np.isfinite(frames_by_channel)
    if finite.all():
        return
    bad = int(finite.size - np.count_nonzero(finite))
    first = offset + int(np.argmin(finite.all(axis=1)))
    raise AudioError(AudioErrorCode.UNSUPPORTED_AUDIO,
                     f"'{path}' holds {bad} samples that are not numbers (NaN or infinity), "
                     f"the first at {first / rate:.2f} s; the file is damaged or was written "
                     "wrongly. Export it again (16- or 24-bit PCM cannot hold such values)",
                     str(path))


def reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def container_name(container: av.container.InputContainer) -> str:
    name = str(container.format.name).split(",")[0]
    return AV_CONTAINER_NAMES.get(name, name)


def open_stream(file: Path, container: av.container.InputContainer) -> av.AudioStream:
    if not container.streams.audio:
        raise not_audio(file, "no audio stream found")
    return container.streams.audio[0]


def declared_frames(container: av.container.InputContainer, stream: av.AudioStream,
                    rate: int) -> int | None:
    # Only mp4's sample tables give an exact length; other demuxers may estimate it from
    # the bitrate, and trimming to an estimate would cut real audio.
    if container_name(container) != "mp4":
        return None
    if stream.duration is None or stream.time_base is None:
        return None
    return round(float(stream.duration * stream.time_base) * rate)
