"""Audio in and out: decode anything, resample, hash the PCM, write stems atomically."""

from stemcast.audio.decode import (
    AudioInfo,
    DecodedAudio,
    decode,
    probe,
    resample,
    to_channels,
)
from stemcast.audio.errors import AudioError, AudioErrorCode
from stemcast.audio.hashing import PcmHasher, file_sha256, pcm_hash, pcm_hash_file
from stemcast.audio.wav_writer import float_to_pcm16, pcm16_bytes, write_wav_atomic

__all__ = [
    "AudioError",
    "AudioErrorCode",
    "AudioInfo",
    "DecodedAudio",
    "PcmHasher",
    "decode",
    "file_sha256",
    "float_to_pcm16",
    "pcm16_bytes",
    "pcm_hash",
    "pcm_hash_file",
    "probe",
    "resample",
    "to_channels",
    "write_wav_atomic",
]
