"""Encoders: a whole array already in memory as MP3 (a rendered mix, mix.py), and files
written a block at a time (`BlockEncoder`: the job's renditions, render_files.py, and
`stemcast separate`'s stems, separate_writer.py). LAME fed in blocks writes the same bytes
as fed at once (tests/unit/test_render_files.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
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


class BlockEncoder:
    """One output file, written block by block into its atomic target: wav/flac (16, 24 or
    32-bit float) or mp3 at `bitrate` kbit/s, LAME `mp3_quality` 2 (best) to 7 (fastest).

    `write` takes (frames, channels) int16 or float32 blocks; the file is complete (and
    renamed into place) when `stack` closes."""

    def __init__(self, stack: ExitStack, path: Path, rate: int, channels: int, *,
                 format: str, bit_depth: int = 16, bitrate: int | None = None,
                 mp3_quality: int = 2) -> None:
        import soundfile as sf

        partial = stack.enter_context(atomic_target(path))
        self.write: Callable[[np.ndarray], object]
        if format == "mp3":
            import lameenc

            encoder = lameenc.Encoder()
            encoder.set_bit_rate(int(bitrate or DEFAULT_MP3_BITRATE))
            encoder.set_in_sample_rate(rate)
            encoder.set_channels(channels)
            encoder.set_quality(mp3_quality)
            handle = stack.enter_context(open(partial, "wb"))  # noqa: SIM115 (the stack closes it)
            self.write = lambda data: handle.write(bytes(encoder.encode(
                np.ascontiguousarray(to_pcm16(data)).tobytes())))
            stack.callback(lambda: handle.write(bytes(encoder.flush())))
            return
        subtype = _SUBTYPES[bit_depth]
        container = "FLAC" if format == "flac" else "WAV"
        out = stack.enter_context(sf.SoundFile(str(partial), "w", rate, channels, subtype,
                                               format=container))
        self.write = (lambda data: out.write(to_pcm16(data))) if subtype == "PCM_16" \
            else out.write
