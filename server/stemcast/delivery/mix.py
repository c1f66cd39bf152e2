"""A custom mix rendered from a job's master stems: what a DJ exports from the page (the
instrumental with vocals at -6 dB, four bars of drums at 90% tempo, ...), and what an
engine can ask for the same way.

The math, in order: each stem times its gain (10^(dB/20)), muted stems left out, summed;
the loop region cut out (and repeated); then the tempo changed with the pitch kept
(librosa's phase-vocoder time_stretch) and the key shifted (librosa's pitch_shift, which
stretches and resamples). Without tempo or key change the result is exactly the gained
sum, sample for sample. Blocking, CPU-heavy: run it off the event loop.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

MIN_GAIN_DB: Final = -60.0
MAX_GAIN_DB: Final = 12.0
MIN_TEMPO, MAX_TEMPO = 0.5, 2.0
MAX_SEMITONES: Final = 12.0
MAX_REPEATS: Final = 64
FORMATS: Final = ("wav", "mp3")
_FIELDS: Final = ("gains", "mutes", "loop", "tempo", "semitones", "format", "variant")


class MixError(ValueError):
    """Mix settings that cannot be rendered; the message names the field and the fix."""


@dataclass(frozen=True)
class LoopRegion:
    start: float  # seconds
    end: float  # seconds, after start
    repeats: int = 1  # how many times the region plays in the export


@dataclass(frozen=True)
class MixSettings:
    gains_db: Mapping[str, float] = field(default_factory=dict)  # stem -> dB; 0 when absent
    mutes: frozenset[str] = frozenset()
    loop: LoopRegion | None = None
    tempo: float = 1.0  # playback speed: 0.9 plays at 90% (longer), pitch kept
    semitones: float = 0.0  # key shift, -12..12
    format: str = "wav"  # wav (16-bit) or mp3 (320 kbit/s)
    variant: str | None = None  # the stems the gains name (2stems: vocals, accompaniment)

    @property
    def changes_time(self) -> bool:
        return not math.isclose(self.tempo, 1.0) or not math.isclose(self.semitones, 0.0)


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not low <= value <= high:
        raise MixError(f"{name} must be a number from {low:g} to {high:g}; "
                       f"got {str(value)[:30]!r}")
    return float(value)


def _loop(raw: Any, duration: float) -> LoopRegion | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - {"start", "end", "repeats"}:
        raise MixError("loop must be {\"start\": seconds, \"end\": seconds, \"repeats\": n}")
    start = _number(raw.get("start"), "loop.start", 0.0, duration)
    end = _number(raw.get("end"), "loop.end", 0.0, duration + 0.001)
    if end - start < 0.01:
        raise MixError(f"loop.end ({end:g} s) must be after loop.start ({start:g} s)")
    repeats = raw.get("repeats", 1)
    if isinstance(repeats, bool) or not isinstance(repeats, int) \
            or not 1 <= repeats <= MAX_REPEATS:
        raise MixError(f"loop.repeats must be a whole number from 1 to {MAX_REPEATS}")
    return LoopRegion(start, min(end, duration), repeats)


def parse_settings(body: Any, stems: Sequence[str], duration: float) -> MixSettings:
    """Mix settings from a client's JSON object; `stems`: the names the gains may use."""
    if not isinstance(body, Mapping):
        raise MixError("send a JSON object such as {\"gains\": {\"vocals\": -6}}")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise MixError(f"unknown field {unknown[0]!r}; the mix takes {', '.join(_FIELDS)}")
    gains = body.get("gains") or {}
    if not isinstance(gains, Mapping):
        raise MixError("gains must be an object of stem name -> dB")
    mutes = body.get("mutes") or []
    if not isinstance(mutes, list) or not all(isinstance(m, str) for m in mutes):
        raise MixError("mutes must be a list of stem names")
    for name in [*gains, *mutes]:
        if name not in stems:
            raise MixError(f"no stem {str(name)[:40]!r} here; the stems are "
                           f"{', '.join(stems)}")
    gains_db = {name: _number(value, f"gains.{name}", MIN_GAIN_DB, MAX_GAIN_DB)
                for name, value in gains.items()}
    fmt = body.get("format", "wav")
    if fmt not in FORMATS:
        raise MixError(f"format {str(fmt)[:20]!r} must be wav or mp3")
    return MixSettings(
        gains_db=gains_db, mutes=frozenset(mutes), loop=_loop(body.get("loop"), duration),
        tempo=_number(body.get("tempo", 1.0), "tempo", MIN_TEMPO, MAX_TEMPO),
        semitones=_number(body.get("semitones", 0.0), "semitones", -MAX_SEMITONES,
                          MAX_SEMITONES),
        format=fmt, variant=body.get("variant"))


def gain(db: float) -> float:
    return float(10 ** (db / 20))


def sum_stems(stems: Mapping[str, np.ndarray], settings: MixSettings) -> np.ndarray:
    """(channels, frames) float32: the gained sum of the stems not muted."""
    first = next(iter(stems.values()))
    total = np.zeros_like(first, dtype=np.float64)
    for name, audio in stems.items():
        if name not in settings.mutes:
            total += audio.astype(np.float64) * gain(settings.gains_db.get(name, 0.0))
    return total.astype(np.float32)


def cut_loop(audio: np.ndarray, rate: int, loop: LoopRegion | None) -> np.ndarray:
    if loop is None:
        return audio
    start, end = round(loop.start * rate), round(loop.end * rate)
    return np.tile(audio[:, start:end], (1, loop.repeats))


def change_tempo_and_key(audio: np.ndarray, rate: int, tempo: float,
                         semitones: float) -> np.ndarray:
    """Tempo changed with the pitch kept, then the key shifted with the tempo kept."""
    import librosa

    out = audio
    if not math.isclose(tempo, 1.0):
        out = librosa.effects.time_stretch(out, rate=tempo)
    if not math.isclose(semitones, 0.0):
        out = librosa.effects.pitch_shift(out, sr=rate, n_steps=semitones)
    return np.asarray(out, dtype=np.float32)


def render_mix(stems: Mapping[str, np.ndarray], rate: int,
               settings: MixSettings) -> np.ndarray:
    """(channels, frames) float32, not clipped."""
    audio = cut_loop(sum_stems(stems, settings), rate, settings.loop)
    if settings.changes_time:
        audio = change_tempo_and_key(audio, rate, settings.tempo, settings.semitones)
    return audio


def encode_mix(audio: np.ndarray, rate: int, fmt: str) -> bytes:
    """16-bit WAV or 320 kbit/s MP3 of (channels, frames) float audio, clipped to full
    scale."""
    from stemcast.delivery.encode import encode_mp3

    pcm = np.rint(np.clip(audio.T, -1.0, 1.0) * 32767).astype(np.int16)
    if fmt == "mp3":
        return encode_mp3(pcm, rate, 320)
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, pcm, rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()
