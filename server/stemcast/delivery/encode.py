"""Encode whole arrays already in memory: a rendered mix (mix.py) and `stemcast separate`'s
stems. The job's renditions are encoded block by block from files (render_files.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemcast.storage.atomic import atomic_target
from stemcast_protocol.options import DEFAULT_MP3_BITRATE

_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


def to_pcm16(data: np.ndarray) -> np.ndarray:
    return data if data.dtype == np.int16 else \
        np.rint(np.clip(data, -1, 1) * 32767).astype(np.int16)


def encode_mp3(pcm: np.ndarray, rate: int, bitrate: int, quality: int = 2) -> bytes:
    """(frames, channels) int16 samples as MP3 bytes; `quality` is LAME's, 2 (best, the
    usual choice for music) to 7 (fastest)."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(int(pcm.shape[1]))
    encoder.set_quality(quality)
    return bytes(encoder.encode(np.ascontiguousarray(pcm).tobytes())) + bytes(encoder.flush())


def encode_stem(path: Path, data: np.ndarray, rate: int, *, format: str, bit_depth: int = 16,
                bitrate: int | None = None, mp3_quality: int = 2) -> None:
    """Write one stem, (frames, channels) int16 or float32, as wav/flac (16, 24 or 32-bit
    float) or mp3 at `bitrate` kbit/s; under a temporary name renamed when complete."""
    import soundfile as sf

    with atomic_target(path) as partial:
        if format == "mp3":
            encoded = encode_mp3(to_pcm16(data), rate, int(bitrate or DEFAULT_MP3_BITRATE),
                                 mp3_quality)
            Path(partial).write_bytes(encoded)
            return
        subtype = _SUBTYPES[bit_depth]
        if subtype == "PCM_16":
            data = to_pcm16(data)
        container = "FLAC" if format == "flac" else "WAV"
        sf.write(str(partial), data, rate, subtype=subtype, format=container)
