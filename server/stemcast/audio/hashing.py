"""Content hashes: the cache keys on what the audio sounds like, not on the file's bytes."""

from __future__ import annotations

import hashlib
import os
import struct

import numpy as np

from stemcast.audio.decode import DecodedAudio

_BLOCK_FRAMES = 1 << 18


def pcm_hash(audio: DecodedAudio) -> str:
    """sha256 of the PCM quantised to 16 bit, with its rate and channel count.

    Quantising to int16 makes the same PCM hash equal whatever container and sample format
    carried it (wav 16/24/float, flac, aiff). Lossy re-encodings (mp3, aac, ogg) are
    different audio and hash differently, as they separate differently.
    """
    digest = hashlib.sha256(b"stemcast-pcm-v1")
    digest.update(struct.pack("<II", audio.sample_rate, audio.channels))
    for start in range(0, audio.frames, _BLOCK_FRAMES):
        block = audio.samples[:, start:start + _BLOCK_FRAMES]
        # x32768 is how libsndfile and FFmpeg map int16 to float, so a 16-bit file hashes
        # its own integers back exactly. Half-way values round away from zero.
        scaled = block.astype(np.float64) * 32768.0
        rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
        quantised = np.clip(rounded, -32768, 32767).astype("<i2")
        digest.update(np.ascontiguousarray(quantised.T).tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
