"""Basic track features: tempo and beat grid, key, loudness, peak and the audible span.

Everything but loudness and peak is measured on a mono mixdown at 22050 Hz; loudness is
ITU-R BS.1770 (pyloudnorm) over the original channels at the original rate.

Methods:
- tempo, beats, bpm confidence and downbeats: see analysis/rhythm.py.
- key: constant-Q spectrum, harmonic part by median-filter HPSS on it, mean chroma of the
  track, Pearson correlation with the 24 rotations of the Krumhansl-Kessler profiles.
  Confidence is the margin of the best over the second best, (r1 - r2) / (1 - r2).
- audible span: librosa.effects.trim, frames quieter than 60 dB under the loudest are silent.

Nothing here holds the track whole: the mono mixdown is a MonoSource (analysis.mono_file,
a temporary file for a file's track) read a block at a time by track_spectra (onset
envelopes, tuning, span), key_chroma (the CQT in chunks) and rhythm.block_tempo; only
per-frame arrays of the whole track stay in memory (about 1 MB an hour each).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyloudnorm
import soxr

from stemcast.analysis import keys
from stemcast.analysis.grid import RATE
from stemcast.analysis.key_chroma import mean_chroma
from stemcast.analysis.mono_file import ArrayMono, MonoSource
from stemcast.analysis.rhythm import BPM_DECIMALS, NO_RHYTHM, Rhythm, measure_rhythm
from stemcast.analysis.track_spectra import TrackSpectra, audible_span, track_spectra

# Fewer seconds than this hold too few beats to show a steady pulse.
MIN_TEMPO_SECONDS = 4.0
# Below this the constant-Q transform's lowest octaves (C1 and up, run on a downsampled
# signal) are shorter than their own filters.
MIN_KEY_SECONDS = 3.0
# Chroma flatter than this (std / mean) is noise or a drum loop, not harmony.
MIN_CHROMA_CONTRAST = 0.15
SILENCE_TOP_DB = 60.0  # the audible span (track_spectra.audible_span)
# Digital silence has no finite peak in dB; this is below 24-bit resolution (-144 dBFS).
PEAK_FLOOR_DBFS = -150.0
LOUDNESS_BLOCK_SECONDS = 0.4  # BS.1770 gating block: shorter audio has no loudness
LOUDNESS_MAX_CHANNELS = 5  # pyloudnorm weights L, R, C, Ls, Rs
DECIMALS = 3

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class BasicFeatures:
    duration_seconds: float
    bpm: float | None  # None when there is no steady pulse (silence, noise, a short clip)
    bpm_confidence: float  # 0..1
    beats: tuple[float, ...]  # beat times, seconds
    downbeats: tuple[float, ...]  # first beat of each bar (4/4 assumed), seconds
    key: int | None  # pitch class 0-11, C = 0
    mode: int | None  # 1 major, 0 minor
    key_name: str | None  # "F major"
    camelot: str | None  # "7B"
    key_confidence: float  # 0..1
    loudness_lufs: float | None  # integrated, BS.1770; None if shorter than 0.4 s or silent
    peak_dbfs: float  # sample peak; PEAK_FLOOR_DBFS for digital silence
    audible_start: float  # seconds: the first non-silent moment
    audible_end: float  # seconds: the end of the last non-silent moment
    # The tempogram's folded estimate even where there is no steady pulse (bpm is None):
    # a best guess for clients that need some bpm (seed 000's app server needs bpm > 0).
    bpm_estimate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: snake_case keys, lists for tuples, rounded floats, no NaN or inf."""
        return {
            "duration_seconds": _num(self.duration_seconds),
            "bpm": _opt_num(self.bpm, BPM_DECIMALS),
            "bpm_confidence": _num(self.bpm_confidence),
            "beats": [_num(t) for t in self.beats],
            "downbeats": [_num(t) for t in self.downbeats],
            "key": self.key,
            "mode": self.mode,
            "key_name": self.key_name,
            "camelot": self.camelot,
            "key_confidence": _num(self.key_confidence),
            "loudness_lufs": _opt_num(self.loudness_lufs),
            "peak_dbfs": _num(self.peak_dbfs, default=PEAK_FLOOR_DBFS),
            "audible_start": _num(self.audible_start),
            "audible_end": _num(self.audible_end),
            "bpm_estimate": _opt_num(self.bpm_estimate, BPM_DECIMALS),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BasicFeatures:
        """The inverse of to_dict; key names are derived when a stored dict lacks them."""
        key = _opt_int(data.get("key"))
        mode = _opt_int(data.get("mode"))
        name, wheel = _key_names(key, mode)
        return cls(
            duration_seconds=float(data["duration_seconds"]),
            bpm=_opt_float(data.get("bpm")),
            bpm_confidence=float(data.get("bpm_confidence", 0.0)),
            beats=tuple(float(t) for t in data.get("beats", ())),
            downbeats=tuple(float(t) for t in data.get("downbeats", ())),
            key=key,
            mode=mode,
            key_name=data.get("key_name") or name,
            camelot=data.get("camelot") or wheel,
            key_confidence=float(data.get("key_confidence", 0.0)),
            loudness_lufs=_opt_float(data.get("loudness_lufs")),
            peak_dbfs=float(data.get("peak_dbfs", PEAK_FLOOR_DBFS)),
            audible_start=float(data.get("audible_start", 0.0)),
            audible_end=float(data.get("audible_end", 0.0)),
            bpm_estimate=_opt_float(data.get("bpm_estimate")),
        )


@dataclass(frozen=True)
class _Key:
    key: int | None
    mode: int | None
    confidence: float


_NO_KEY = _Key(None, None, 0.0)


def analyze(samples: np.ndarray, sample_rate: int) -> BasicFeatures:
    """Features of float (channels, frames) audio (or mono (frames,)) at any rate.

    Silence, noise and clips of any length give a result, with None where a feature is not
    there; it never raises for audio content. Values are rounded as to_dict writes them."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    audio = _as_channels(samples)
    if not np.isfinite(audio).all():
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0:
        return analyze_mono(None, audio.shape[1], sample_rate, peak, None)
    return analyze_mono(ArrayMono(_mono(audio, sample_rate)), audio.shape[1], sample_rate, peak,
                        _loudness(audio, sample_rate))


def analyze_mono(mono: MonoSource | None, frames: int, sample_rate: int, peak: float,
                 loudness: float | None, spectra: TrackSpectra | None = None) -> BasicFeatures:
    """analyze() from its parts: the mono mixdown at RATE (None for silence), the track's
    length in frames at sample_rate, its sample peak and loudness (measured block-wise
    on a long track: analysis.stream_input). The mixdown is read a block at a time
    (analysis.track_spectra, key_chroma); `spectra`: its measures, when already taken."""
    rhythm, key, span = NO_RHYTHM, _NO_KEY, (0.0, 0.0)
    if peak > 0 and mono is not None:
        spectra = spectra or track_spectra(mono)
        span = audible_span(spectra, mono.size)
        if mono.size >= MIN_KEY_SECONDS * RATE:
            key = _key(mean_chroma(mono, spectra.tuning))
            if mono.size >= MIN_TEMPO_SECONDS * RATE:
                rhythm = measure_rhythm(spectra.envelope, spectra.bass)
    return assemble(rhythm, key, span, frames / sample_rate, peak, loudness)


def assemble(rhythm: Rhythm, key: _Key, span: tuple[float, float], seconds: float,
             peak: float, loudness: float | None) -> BasicFeatures:
    """The features from their measured parts, rounded as to_dict writes them."""
    name, wheel = _key_names(key.key, key.mode)
    return BasicFeatures(
        duration_seconds=_num(seconds),
        bpm=rhythm.bpm,
        bpm_confidence=_num(rhythm.confidence),
        beats=tuple(_num(t) for t in rhythm.beats),
        downbeats=tuple(_num(t) for t in rhythm.downbeats),
        key=key.key,
        mode=key.mode,
        key_name=name,
        camelot=wheel,
        key_confidence=_num(key.confidence),
        loudness_lufs=_opt_num(loudness),
        peak_dbfs=_num(max(20.0 * np.log10(peak), PEAK_FLOOR_DBFS) if peak > 0
                       else PEAK_FLOOR_DBFS),
        audible_start=_num(span[0]),
        audible_end=_num(span[1]),
        bpm_estimate=_opt_num(rhythm.bpm if rhythm.bpm is not None else rhythm.estimate,
                              BPM_DECIMALS),
    )


# --- signal -------------------------------------------------------------------------------


def _as_channels(samples: np.ndarray) -> np.ndarray:
    array = np.asarray(samples)
    if not np.issubdtype(array.dtype, np.floating):
        # int16 PCM read as numbers would come out 90 dB too loud.
        raise TypeError(f"samples must be float audio in [-1, 1], not {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"samples must be (channels, frames) or (frames,), not {array.shape}")
    return np.atleast_2d(array).astype(np.float32, copy=False)


def _mono(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    mono = audio.mean(axis=0) if audio.shape[0] > 1 else audio[0]
    if sample_rate != RATE:
        mono = soxr.resample(mono, sample_rate, RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    if audio.shape[1] <= LOUDNESS_BLOCK_SECONDS * sample_rate:
        return None
    # Beyond five channels pyloudnorm has no weights: measure the mixdown instead.
    data = audio.T if audio.shape[0] <= LOUDNESS_MAX_CHANNELS else audio.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all blocks gated: log10(0)
        lufs = float(pyloudnorm.Meter(sample_rate).integrated_loudness(data.astype(np.float64)))
    return lufs if np.isfinite(lufs) else None


# --- key --------------------------------------------------------------------------------------


def _key(chroma: np.ndarray) -> _Key:
    """The key whose profile the track's mean chroma (key_chroma.mean_chroma) fits best."""
    mean = float(chroma.mean())
    if mean <= 0 or float(chroma.std()) / mean < MIN_CHROMA_CONTRAST:
        return _NO_KEY
    scores = _KEY_TEMPLATES @ ((chroma - mean) / chroma.std()) / chroma.size
    order = np.argsort(scores)[::-1]
    best, second = float(scores[order[0]]), float(scores[order[1]])
    key, mode = _KEY_LABELS[int(order[0])]
    confidence = (best - second) / (1.0 - second) if second < 1.0 else 0.0
    return _Key(key, mode, float(np.clip(confidence, 0.0, 1.0)))


def _templates() -> tuple[np.ndarray, tuple[tuple[int, int], ...]]:
    """The 24 key profiles, z-scored, one per row, and (pitch class, mode) for each row."""
    rows, labels = [], []
    for mode, profile in ((keys.MAJOR, _MAJOR_PROFILE), (keys.MINOR, _MINOR_PROFILE)):
        z = (profile - profile.mean()) / profile.std()
        for key in range(12):
            rows.append(np.roll(z, key))
            labels.append((key, mode))
    return np.array(rows), tuple(labels)


_KEY_TEMPLATES, _KEY_LABELS = _templates()


def _key_names(key: int | None, mode: int | None) -> tuple[str | None, str | None]:
    if key is None or mode is None:
        return None, None
    return keys.key_name(key, mode), keys.camelot(key, mode)


# --- output -----------------------------------------------------------------------------------


def _num(value: float, decimals: int = DECIMALS, default: float = 0.0) -> float:
    # + 0.0 writes -0.0 as 0.0.
    return round(float(value), decimals) + 0.0 if np.isfinite(value) else default


def _opt_num(value: float | None, decimals: int = DECIMALS) -> float | None:
    return None if value is None or not np.isfinite(value) else _num(value, decimals)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
