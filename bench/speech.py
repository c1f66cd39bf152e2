"""Speech over rendered music: espeak-ng voices as the lead vocal, 0 dB against the
FluidSynth accompaniment (drums + bass + other) of a corpus song.

espeak-ng (Debian: apt-get install espeak-ng) speaks a few sentences per voice; they are
laid end to end (0.3 s apart) over the song, centred in stereo, and scaled to the
accompaniment's RMS. The references are the speech and the accompaniment themselves.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

VOICES = ("en-us", "en+f3", "en-gb-x-rp+m3", "de+f2")
SENTENCES = (
    "The quick brown fox jumps over the lazy dog, and then it runs back home again.",
    "Tonight we play the long version of this song for everybody in the room.",
    "Turn the bass up a little, and keep the drums exactly where they are now.",
    "Every record tells a story, if you listen closely to the voice inside it.",
)
GAP_SECONDS = 0.3


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(voice: str, text: str, sample_rate: int) -> np.ndarray:
    """Mono float32 speech at sample_rate."""
    import soxr

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text],
                       check=True, capture_output=True, timeout=60)
        audio, rate = sf.read(path, dtype="float32")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    resampled: np.ndarray = soxr.resample(audio, rate, sample_rate).astype(np.float32)
    return resampled


def speech_track(voice: str, frames: int, sample_rate: int) -> np.ndarray:
    """(2, frames): the voice's sentences end to end, repeated to fill the track."""
    gap = np.zeros(round(GAP_SECONDS * sample_rate), dtype=np.float32)
    parts = [np.concatenate([speak(voice, text, sample_rate), gap]) for text in SENTENCES]
    line = np.concatenate(parts)
    repeats = int(np.ceil(frames / line.shape[0]))
    mono = np.tile(line, repeats)[:frames]
    return np.stack([mono, mono])


def at_0_db(speech: np.ndarray, accompaniment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(speech scaled to the accompaniment's RMS, the mix), peak-limited together."""
    gain = np.sqrt(np.mean(accompaniment**2) / max(float(np.mean(speech**2)), 1e-12))
    speech = (speech * gain).astype(np.float32)
    mix = speech + accompaniment
    peak = float(np.abs(mix).max())
    scale = min(1.0, 0.89 / peak) if peak > 0 else 1.0
    return speech * scale, mix * scale
