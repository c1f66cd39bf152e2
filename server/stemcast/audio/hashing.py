"""Content hashes: the cache keys on what the audio sounds like, not on the file's bytes."""

from __future__ import annotations

import hashlib
import os
import struct

import numpy as np

from stemcast.audio.blocks import BlockStream, read_blocks
from stemcast.audio.decode import DecodedAudio

# ~2 MB of float32 stereo per block: hashing a 10-minute track never copies all of it.
_BLOCK_FRAMES = 1 << 18


class PcmHasher:
    """pcm_hash fed a block at a time: the same digest, whatever the blocks' sizes.

    Layout: b"stemcast-pcm-v1", rate and channels as little-endian uint32, then the samples
    clipped to [-1, 1], times 32768, rounded half away from zero, capped at 32767, as
    little-endian int16 interleaved frame by frame.
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        self._digest = hashlib.sha256(b"stemcast-pcm-v1")
        self._digest.update(struct.pack("<II", sample_rate, channels))

    def update(self, samples: np.ndarray) -> None:
        """samples: float (channels, frames)."""
        for start in range(0, samples.shape[1], _BLOCK_FRAMES):
            block = samples[:, start:start + _BLOCK_FRAMES]
            # x32768 is how libsndfile and FFmpeg map int16 to float, so a 16-bit file
            # hashes its own integers back exactly.
            scaled = np.clip(block.astype(np.float64), -1.0, 1.0) * 32768.0
            rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
            quantised = np.minimum(rounded, 32767).astype("<i2")
            self._digest.update(np.ascontiguousarray(quantised.T).tobytes())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def pcm_hash(audio: DecodedAudio) -> str:
    """sha256 of the PCM quantised to 16 bit, with its rate and channel count.

    Why int16: the same PCM carried by wav 16-bit, wav float, flac or aiff decodes to floats
    that differ (if at all) far below one 16-bit step, so quantising makes them hash equal,
    and the stems cached for one serve them all. Lossy re-encodings (mp3, aac, ogg) change
    the samples by much more than a step: they are different audio, separate differently,
    and hash differently. The layout is PcmHasher's.
    """
    hasher = PcmHasher(audio.sample_rate, audio.channels)
    hasher.update(audio.samples)
    return hasher.hexdigest()


def _hash_stream(stream: BlockStream) -> tuple[str, float]:
    hasher = PcmHasher(stream.sample_rate, stream.channels)
    for block in stream.blocks():
        hasher.update(block)
    return hasher.hexdigest(), stream.duration_seconds


def pcm_hash_file(path: str | os.PathLike[str]) -> tuple[str, float]:
    """pcm_hash(decode(path)) and the decoded duration, read a block at a time: memory
    stays a few MB for a track of any length."""
    return read_blocks(path, _hash_stream)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of the file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
