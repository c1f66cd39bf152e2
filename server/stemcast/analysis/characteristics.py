"""Track characteristics for seed 000's `characteristics` stage (Mismo's app server).

The app reads danceability, valence, arousal, energy, loudness, acousticness,
instrumentalness, and spectral centroid, rolloff and zero-crossing rate when present.
What each value here is, and how far to trust it:

Measured (a definition, computed exactly):
- loudness: integrated loudness, ITU-R BS.1770 (pyloudnorm), LUFS, about -70..0; None for
  silence or audio under 0.4 s. The figure basic_features measured (loudness_lufs).
- spectral_centroid: the mean spectral centroid of the audible frames, Hz (0..11025:
  mono at 22050 Hz, 2048-point frames). librosa.feature.spectral_centroid.
- spectral_rolloff: the mean frequency under which 85 % of each audible frame's spectral
  energy lies, Hz (0..11025). librosa.feature.spectral_rolloff.
- zero_crossing_rate: the mean fraction of sample pairs that change sign in the mono
  mixdown at 22050 Hz, 0..1 (a 220 Hz sine: 0.02). librosa.feature.zero_crossing_rate.

Heuristics (hand-made formulas from measured parts, not trained on listener ratings; use
them to sort and filter a library, not as ground truth), each 0..1:
- energy: 0.5 x level + 0.25 x onset rate + 0.25 x brightness, where level maps the mean
  RMS of the audible frames from -50..-5 dBFS onto 0..1, onset rate maps 0..8 detected
  onsets a second onto 0..1, brightness maps the centroid 0..4000 Hz onto 0..1. Louder,
  busier and brighter is more energetic; the tests check the ordering on the corpus.
- danceability: pulse clarity (the bpm confidence of basic_features) over 0.5, capped at
  1, times a tempo factor: 1 for 95-135 bpm, down to 0.5 at 70 and 180 bpm. No steady
  pulse (basic_features found no beats to track) gives 0.
- arousal: 0.7 x energy + 0.3 x tempo (60..180 bpm onto 0..1): calm and slow to
  intense and fast, the two cues that carry most of arousal in music-emotion studies.

Not estimated (None, with the reason in `unavailable`): valence, acousticness and
instrumentalness need models trained on labelled music (or a vocal detector); no such
model ships with stemcast, and a formula would pass a guess off as a measurement.
Seed 000's app stores danceability, acousticness and instrumentalness as 0/1 flags
(value ? 1 : 0), so there None reads as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import librosa
import numpy as np
import soxr

from stemcast.analysis.grid import HOP, RATE
from stemcast.analysis.mono_file import ArrayMono
from stemcast.analysis.track_spectra import TrackSpectra, track_spectra

SILENT_DB = -60.0  # frames this far under the loudest are left out of the means
LEVEL_RANGE_DB = (-50.0, -5.0)
MAX_ONSETS_PER_S = 8.0
BRIGHT_HZ = 4000.0
DANCE_TEMPO = (95.0, 135.0)
AROUSAL_TEMPO = (60.0, 180.0)
DECIMALS = 3

NOT_ESTIMATED = {
    "valence": "not estimated: valence needs a model trained on listener ratings, which "
               "stemcast does not ship; mode and tempo formulas track it poorly",
    "acousticness": "not estimated: telling acoustic from electronic sound needs a trained "
                    "classifier, which stemcast does not ship",
    "instrumentalness": "not estimated: needs a vocal detector; stemcast's weightless "
                        "separation cannot tell sung vocals from lead instruments reliably",
}
HEURISTIC = ("energy", "danceability", "arousal")


@dataclass(frozen=True)
class Characteristics:
    danceability: float | None
    valence: float | None
    arousal: float | None
    energy: float | None
    loudness: float | None
    acousticness: float | None
    instrumentalness: float | None
    spectral_centroid: float | None
    spectral_rolloff: float | None
    zero_crossing_rate: float | None
    unavailable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The callback's data: the app's snake_case names, then why any value is None."""
        values = {name: getattr(self, name) for name in (
            "danceability", "valence", "arousal", "energy", "loudness", "acousticness",
            "instrumentalness", "spectral_centroid", "spectral_rolloff", "zero_crossing_rate")}
        return {**values, "unavailable": dict(self.unavailable),
                "heuristic": list(HEURISTIC), "loudness_unit": "LUFS",
                "spectral_unit": "Hz"}


def characteristics(samples: np.ndarray, sample_rate: int, *, bpm: float | None,
                    bpm_confidence: float, loudness_lufs: float | None,
                    steady_pulse: bool = True) -> Characteristics:
    """Characteristics of float (channels, frames) audio (or mono (frames,)).

    `bpm` (best guess), `bpm_confidence` (pulse clarity) and `loudness_lufs` come from the
    track's basic features (stemcast.analysis.features), measured once there;
    `steady_pulse` is False when that analysis found no beat to track."""
    audio = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    spectra = None
    if audio.size and np.any(audio):
        mono = audio.mean(axis=0)
        if sample_rate != RATE:
            mono = soxr.resample(mono, sample_rate, RATE, quality="HQ")
        spectra = track_spectra(ArrayMono(mono))
    return characteristics_of(spectra, bpm=bpm, bpm_confidence=bpm_confidence,
                              loudness_lufs=loudness_lufs, steady_pulse=steady_pulse)


def characteristics_of(spectra: TrackSpectra | None, *, bpm: float | None,
                       bpm_confidence: float, loudness_lufs: float | None,
                       steady_pulse: bool = True) -> Characteristics:
    """characteristics() from the per-frame measures of the track's mono mixdown at RATE
    (analysis.track_spectra, taken a block at a time); None: the mixdown is empty."""
    unavailable = dict(NOT_ESTIMATED)
    if spectra is None or not np.any(spectra.span_rms > 0):
        reason = "the audio is silent or empty"
        for name in ("danceability", "arousal", "energy", "loudness", "spectral_centroid",
                     "spectral_rolloff", "zero_crossing_rate"):
            unavailable[name] = reason
        return Characteristics(None, None, None, None, None, None, None, None, None, None,
                               unavailable)
    loudness = loudness_lufs
    if loudness is None:
        unavailable["loudness"] = "BS.1770 loudness needs at least 0.4 s of sound"
    rms = spectra.rms
    audible = rms >= rms.max() * 10 ** (SILENT_DB / 20)
    centroid = float(spectra.centroid[audible].mean())
    rolloff = float(spectra.rolloff[audible].mean())
    zcr = float(spectra.zcr[:audible.size][audible].mean())
    level_db = 20 * np.log10(max(float(np.sqrt(np.mean(rms[audible] ** 2))), 1e-10))
    onsets = librosa.onset.onset_detect(onset_envelope=spectra.onsets, sr=RATE,
                                        hop_length=HOP, units="time")
    seconds = max(audible.sum() * HOP / RATE, 1.0)
    energy = (0.5 * _scale(level_db, *LEVEL_RANGE_DB)
              + 0.25 * _scale(len(onsets) / seconds, 0.0, MAX_ONSETS_PER_S)
              + 0.25 * _scale(centroid, 0.0, BRIGHT_HZ))
    danceability = (min(bpm_confidence / 0.5, 1.0) * _dance_tempo(bpm)
                    if bpm and steady_pulse else 0.0)
    arousal = 0.7 * energy + 0.3 * (_scale(bpm, *AROUSAL_TEMPO) if bpm else 0.0)
    return Characteristics(
        danceability=_round(danceability), valence=None, arousal=_round(arousal),
        energy=_round(energy), loudness=None if loudness is None else _round(loudness),
        acousticness=None, instrumentalness=None, spectral_centroid=_round(centroid, 1),
        spectral_rolloff=_round(rolloff, 1), zero_crossing_rate=_round(zcr, 4),
        unavailable=unavailable)


def _scale(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _dance_tempo(bpm: float) -> float:
    low, high = DANCE_TEMPO
    if low <= bpm <= high:
        return 1.0
    distance = (low - bpm) / (low - 70.0) if bpm < low else (bpm - high) / (180.0 - high)
    return float(np.clip(1.0 - 0.5 * distance, 0.5, 1.0))


def _round(value: float, decimals: int = DECIMALS) -> float:
    return round(float(value), decimals) + 0.0
