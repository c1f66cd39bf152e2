"""The per-frame measures of a track, computed a block of STFT frames at a time.

What analysis keeps of a whole track is only these small arrays (one value per 23 ms
frame: an hour is 155k frames, under a megabyte each), never the samples or a spectrogram.
Each is what the whole-track librosa call gives (tests/support/analysis_reference.py
holds those calls; tests/unit/test_block_analysis.py compares):

- the onset envelopes of rhythm.py (mel flux, all bands and the bass bands) and of
  characteristics' onset count: both clip the mel spectrogram in dB at 80 dB under its
  global maximum, so the mel is computed twice, the first pass finding that maximum;
- the tuning of features._key: librosa.estimate_tuning on every 4th frame's magnitude
  (piptrack is per frame; the pitched peaks are kept and the median of their magnitudes
  taken once all are in);
- characteristics' RMS, spectral centroid and rolloff per frame, and its zero-crossing
  rate (edge-padded frames, as librosa.feature.zero_crossing_rate pads);
- the RMS of 1024-sample frames every 256 that librosa.effects.trim measures.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import librosa
import numpy as np

from stemcast.analysis.grid import HOP, N_FFT, RATE
from stemcast.analysis.mono_file import MonoSource, frame_blocks
from stemcast.analysis.rhythm import BASS_HZ

BLOCK_FRAMES = 1024  # 24 s of STFT frames: 4 MB of magnitudes, ~25 MB in all at once
TUNING_FRAME_STEP = 4  # tuning is global: a quarter of the frames is plenty
ROLL_PERCENT = 0.85
TOP_DB = 80.0  # librosa.power_to_db's default clip
AMIN = 1e-10
SPAN_FRAME, SPAN_HOP = 1024, 256  # 46 ms frames keep the audible span's edges close
ONSET_SHIFT_FRAMES = N_FFT // (4 * HOP)  # rhythm.py's quarter-window shift


@dataclass(frozen=True)
class TrackSpectra:
    frames: int  # STFT frames at HOP
    envelope: np.ndarray  # rhythm's onset strength, all mel bands
    bass: np.ndarray  # the same over the bands under rhythm.BASS_HZ
    onsets: np.ndarray  # librosa.onset.onset_strength(y=mono) (characteristics)
    tuning: float  # librosa.estimate_tuning of every 4th magnitude frame
    rms: np.ndarray  # librosa.feature.rms(S=magnitude)
    centroid: np.ndarray
    rolloff: np.ndarray
    zcr: np.ndarray  # librosa.feature.zero_crossing_rate(mono)
    span_rms: np.ndarray  # librosa.feature.rms(y=mono, 1024, 256)


def _stft_blocks(source: MonoSource) -> Iterator[tuple[int, np.ndarray]]:
    for first, samples in frame_blocks(source, N_FFT, HOP, BLOCK_FRAMES):
        yield first, np.abs(librosa.stft(samples, n_fft=N_FFT, hop_length=HOP, center=False))


def _flux(db: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """librosa's onset strength (lag 1, mean over bands) of these frames; the first
    frame of the track has none (librosa pads it with 0)."""
    if previous is None:
        return np.asarray(librosa.onset.onset_strength(S=db, center=False))
    joined = np.concatenate([previous[:, None], db], axis=1)
    return np.asarray(librosa.onset.onset_strength(S=joined, center=False))[1:]


def track_spectra(source: MonoSource) -> TrackSpectra:
    basis = librosa.filters.mel(sr=RATE, n_fft=N_FFT)
    bass_bands = max(int(np.sum(librosa.mel_frequencies(n_mels=basis.shape[0] + 2,
                                                        fmax=RATE / 2)[1:-1] < BASS_HZ)), 1)
    peak, top = np.float32(0.0), np.float32(-np.inf)
    pitches, magnitudes = [], []
    rms, centroid, rolloff = [], [], []
    for first, magnitude in _stft_blocks(source):
        mel = basis @ magnitude**2
        peak = max(peak, np.max(mel))
        top = max(top, np.max(10.0 * np.log10(np.maximum(AMIN, mel))))
        sparse = magnitude[:, (-first) % TUNING_FRAME_STEP::TUNING_FRAME_STEP]
        pitch, strength = librosa.piptrack(S=sparse, sr=RATE, n_fft=N_FFT)
        pitched = pitch > 0
        pitches.append(pitch[pitched])
        magnitudes.append(strength[pitched])
        rms.append(librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0])
        centroid.append(librosa.feature.spectral_centroid(S=magnitude, sr=RATE)[0])
        rolloff.append(librosa.feature.spectral_rolloff(S=magnitude, sr=RATE,
                                                        roll_percent=ROLL_PERCENT)[0])
    # power_to_db(mel, ref=np.max) for rhythm, power_to_db(mel) (ref 1) for the onset
    # count; both clip at TOP_DB under their maximum, known only now.
    # (The arithmetic is power_to_db's, so that the values are its values.)
    ref_db = 10.0 * np.log10(np.maximum(AMIN, peak))
    relative_floor, absolute_floor = (top - ref_db) - TOP_DB, top - TOP_DB
    envelope, bass, onsets = [], [], []
    last: tuple[np.ndarray, np.ndarray] | None = None
    for _, magnitude in _stft_blocks(source):
        log_mel = 10.0 * np.log10(np.maximum(AMIN, basis @ magnitude**2))
        relative = np.maximum(log_mel - ref_db, relative_floor)
        absolute = np.maximum(log_mel, absolute_floor)
        envelope.append(_flux(relative, None if last is None else last[0][:, -1]))
        bass.append(_flux(relative[:bass_bands], None if last is None
                          else last[0][:bass_bands, -1]))
        onsets.append(_flux(absolute, None if last is None else last[1][:, -1]))
        last = (relative, absolute)
    frames = sum(part.size for part in envelope)
    shift = np.zeros(ONSET_SHIFT_FRAMES, dtype=np.float32)
    # onset_strength(y=..., center=True) shifts by lag + n_fft // (2 hop) frames.
    centre = np.zeros(N_FFT // (2 * HOP), dtype=np.float32)
    zcr = [librosa.feature.zero_crossing_rate(samples, frame_length=N_FFT, hop_length=HOP,
                                              center=False)[0]
           for _, samples in frame_blocks(source, N_FFT, HOP, BLOCK_FRAMES, pad="edge")]
    span = [librosa.feature.rms(y=samples, frame_length=SPAN_FRAME, hop_length=SPAN_HOP,
                                center=False)[0]
            for _, samples in frame_blocks(source, SPAN_FRAME, SPAN_HOP, 4 * BLOCK_FRAMES)]
    return TrackSpectra(
        frames=frames,
        envelope=np.concatenate([shift, *envelope])[:frames],
        bass=np.concatenate([shift, *bass])[:frames],
        onsets=np.concatenate([centre, *onsets])[:frames],
        tuning=_tuning(pitches, magnitudes),
        rms=np.concatenate(rms), centroid=np.concatenate(centroid),
        rolloff=np.concatenate(rolloff), zcr=np.concatenate(zcr),
        span_rms=np.concatenate(span))


def _tuning(pitches: list[np.ndarray], magnitudes: list[np.ndarray]) -> float:
    """librosa.estimate_tuning's last step, on the pitched peaks of every block."""
    pitch, strength = np.concatenate(pitches), np.concatenate(magnitudes)
    threshold = np.median(strength) if strength.size else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "empty frequency set": nothing pitched
        return float(librosa.pitch_tuning(pitch[strength >= threshold]))


def audible_span(spectra: TrackSpectra, size: int) -> tuple[float, float]:
    """librosa.effects.trim(mono, top_db=60, frame_length=1024, hop_length=256)'s span,
    in seconds, from its frames' RMS."""
    db = librosa.amplitude_to_db(spectra.span_rms, ref=np.max, top_db=None)
    loud = np.flatnonzero(db > -60.0)
    if not loud.size:
        return 0.0, 0.0
    start = int(loud[0]) * SPAN_HOP
    end = min(size, (int(loud[-1]) + 1) * SPAN_HOP)
    return start / RATE, end / RATE
