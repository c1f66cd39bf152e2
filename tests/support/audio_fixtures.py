"""Deterministic test audio, encoded with real codecs (libsndfile or FFmpeg via PyAV)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

_SOUNDFILE_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".aiff": ("AIFF", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}
_AV_CODECS = {".m4a": ("ipod", "aac", None), ".opus": ("ogg", "libopus", 48000)}


def make_music_like_signal(seconds: float, sample_rate: int = 44100, channels: int = 2,
                           seed: int = 0) -> np.ndarray:
    """A few sine partials and decaying noise bursts every 0.5 s; peak about 0.5."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * sample_rate)
    t = np.arange(frames) / sample_rate
    out = np.zeros((channels, frames), dtype=np.float64)
    for channel in range(channels):
        for _ in range(4):
            freq = rng.uniform(60, 2000)
            out[channel] += rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * freq * t
                                                             + rng.uniform(0, np.pi))
        burst = np.exp(-np.mod(t, 0.5) * 30) * rng.standard_normal(frames) * 0.15
        out[channel] += burst
    out *= 0.5 / max(np.max(np.abs(out)), 1e-9)
    return out.astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Encode (channels, frames) float samples by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix in _SOUNDFILE_FORMATS:
        fmt, subtype = _SOUNDFILE_FORMATS[suffix]
        data: np.ndarray = samples.T
        if subtype == "PCM_16":
            # Quantise once, here, so every lossless file of a signal holds the same integers.
            data = np.rint(np.clip(samples.T, -1, 1) * 32767).astype(np.int16)
        sf.write(str(path), data, sample_rate, format=fmt, subtype=subtype)
        return path
    if suffix not in _AV_CODECS:
        raise ValueError(f"no encoder for {suffix}")
    container_format, codec, rate = _AV_CODECS[suffix]
    if rate and rate != sample_rate:
        # Opus only runs at 48 kHz.
        samples = soxr.resample(samples.T, sample_rate, rate).T.astype(np.float32)
        sample_rate = rate
    layouts = {1: "mono", 2: "stereo"}
    if samples.shape[0] not in layouts:
        raise ValueError(f"{suffix} fixtures are mono or stereo, not {samples.shape[0]} channels")
    layout = layouts[samples.shape[0]]
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sample_rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        frame_size = 1024
        for start in range(0, samples.shape[1], frame_size):
            block = np.ascontiguousarray(samples[:, start:start + frame_size], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def make_known_groove(seconds: float = 12.0, bpm: float = 120.0, sample_rate: int = 44100,
                      ) -> tuple[np.ndarray, list[float]]:
    """A clip whose tempo, key and drum hits are known: a kick on every beat and a noise
    hit between beats at `bpm`, over a held C major chord (C3 C4 E4 G4: key C major,
    Camelot 8B). Returns the stereo samples (peak 0.5) and the times of the hits."""
    frames = round(seconds * sample_rate)
    t = np.arange(frames) / sample_rate
    rng = np.random.default_rng(120)
    chord = sum(np.sin(2 * np.pi * 261.63 * 2 ** (semitones / 12) * t) * level
                for semitones, level in ((-12, 0.5), (0, 0.35), (4, 0.3), (7, 0.3)))
    out = 0.5 * chord * np.minimum(t / 0.3, 1.0)
    beat = 60.0 / bpm
    hits = [round(k * beat / 2, 6) for k in range(int(seconds / (beat / 2)))]
    for index, at in enumerate(hits):
        start = round(at * sample_rate)
        length = min(round(0.25 * sample_rate), frames - start)
        local = np.arange(length) / sample_rate
        if index % 2 == 0:  # kick: a falling low sine and a click
            sweep = 2 * np.pi * (50 * local + 60 * (1 - np.exp(-local * 30)) / 30)
            hit = 1.6 * np.sin(sweep) * np.exp(-local * 12)
            hit[:64] += rng.standard_normal(min(64, length)) * 0.5
        else:  # a short bright noise hit
            noise = rng.standard_normal(length)
            hit = 0.5 * np.diff(noise, prepend=0.0) * np.exp(-local * 60)
        out[start:start + length] += hit
    stereo = np.stack([out, out])
    stereo *= 0.5 / np.max(np.abs(stereo))
    return stereo.astype(np.float32), hits


def write_clips(folder: Path, seconds_by_name: dict[str, float], seed: int) -> dict[str, Path]:
    """A distinct music-like WAV per name (seeds seed, seed+1, ...) in a new `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write_audio(folder / f"{name}.wav",
                              make_music_like_signal(seconds, seed=seed + i), 44100)
            for i, (name, seconds) in enumerate(seconds_by_name.items())}
