"""The corpus's lead vocal: a human-like voice from espeak-ng singing the melody, one
syllable a note, instead of a General MIDI "voice" patch (which is an instrument, and which
a trained vocal model rightly leaves in the accompaniment).

Each note's syllable is spoken by espeak-ng (Debian: apt-get install espeak-ng), held level
(SSML prosody range 0), at the espeak pitch setting whose voice is nearest the note, then
resampled so its median f0 lands on the note (at most a few semitones of formant shift),
trimmed to the note's length with a short fade, and placed at the note-on time. Renders are
cached per (voice, syllable, pitch setting, speed), so a song costs a few dozen espeak-ng
calls.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# (espeak-ng voice, semitones the melody is sung at): female voices an octave under the
# lead line, male voices two, as a singer's comfortable range puts it.
VOICES: tuple[tuple[str, int], ...] = (("en+f3", -12), ("en-us+m3", -24), ("en+f4", -12))
LYRICS = tuple(" ".join((
    "hold on to the night we are dancing a-lone",
    "under the city light you are never gone",
    "oh oh la la sing it a-gain to me",
    "every road leads home where I want to be")).split())
PITCH_SETTINGS = (0, 25, 50, 75, 99)  # espeak-ng -p values, each measured once per voice
FADE_SECONDS = 0.03
SILENCE = 1e-3  # below this (of the peak) the start and end of a syllable are cut


@dataclass(frozen=True)
class SungNote:
    seconds: float  # note-on
    duration: float  # seconds
    pitch: int  # MIDI note of the melody (before the voice's transposition)
    velocity: int


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.cache
def espeak_version() -> str:
    result = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True,
                            text=True, timeout=30)
    return result.stdout.strip()


def voice_for(seed: int) -> tuple[str, int]:
    # From the seed, not the composition's random stream: the other parts stay as they were.
    return VOICES[seed % len(VOICES)]


@functools.cache
def _speak(voice: str, text: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """espeak-ng's mono output, leading and trailing silence cut, and its sample rate."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "syllable.wav"
        # SSML's zero pitch range: a held, level note, not a spoken word's falling contour.
        ssml = f'<speak><prosody range="0%">{text.replace("-", "")}</prosody></speak>'
        subprocess.run(["espeak-ng", "-m", "-v", voice, "-p", str(pitch), "-s", str(speed),
                        "-w", str(path), ssml],
                       check=True, capture_output=True, timeout=60)
        audio, rate = sf.read(str(path), dtype="float32")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    loud = np.flatnonzero(np.abs(audio) > SILENCE * max(float(np.abs(audio).max()), 1e-9))
    if loud.size:
        audio = audio[loud[0]:loud[-1] + 1]
    return np.ascontiguousarray(audio), int(rate)


@functools.cache
def _median_f0(voice: str, text: str, pitch: int, speed: int) -> float:
    import librosa

    audio, rate = _speak(voice, text, pitch, speed)
    if audio.size < 2048:
        audio = np.pad(audio, (0, 2048 - audio.size))
    f0 = librosa.yin(audio.astype(np.float64), fmin=50, fmax=600, sr=rate,
                     frame_length=2048)
    # Voiced frames only: yin answers on silence and fricatives too, far off.
    frame_level = librosa.feature.rms(y=audio, frame_length=2048, hop_length=512)[0]
    voiced = f0[: frame_level.size][frame_level[: f0.size] > 0.3 * frame_level.max()]
    return float(np.median(voiced if voiced.size else f0))


def _speed(duration: float) -> int:
    # Long notes are sung slowly: espeak-ng's words a minute, within its range.
    return int(np.clip(round(60.0 / max(duration, 0.1) * 0.5), 80, 260))


def sing(notes: Sequence[SungNote], voice: str, transpose: int, frames: int,
         sample_rate: int) -> np.ndarray:
    """(2, frames) float32, centred: each note's syllable at its pitch and time."""
    import soxr

    out = np.zeros(frames, dtype=np.float32)
    for index, note in enumerate(notes):
        text = LYRICS[index % len(LYRICS)]
        target = 440.0 * 2.0 ** ((note.pitch + transpose - 69) / 12.0)
        speed = _speed(note.duration)
        setting = min(PITCH_SETTINGS, key=lambda p: abs(
            np.log(_median_f0(voice, "la", p, 160) / target)))
        audio, rate = _speak(voice, text, setting, speed)
        ratio = target / _median_f0(voice, text, setting, speed)
        # Played back faster by `ratio`: the pitch moves by it (and the length by 1/ratio).
        shifted = soxr.resample(audio, rate * ratio, sample_rate).astype(np.float32)
        length = min(shifted.size, round(note.duration * sample_rate))
        shifted = shifted[:length] * np.float32(note.velocity / 127)
        fade = min(length, round(FADE_SECONDS * sample_rate))
        shifted[length - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        start = round(note.seconds * sample_rate)
        end = min(start + length, frames)
        if end > start:
            out[start:end] += shifted[:end - start]
    return np.stack([out, out])
