"""The whole-track forms of analysis and drum transcription, for tests only.

stemcast analyses a track a block at a time (analysis.track_spectra, key_chroma,
rhythm.block_tempo, drum_spectrum over analysis.mono_file); these are the same measures
taken the way they were before, with librosa's calls on the whole mono mixdown. The
block-wise results must equal them (tests/unit/test_block_analysis.py).
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import scipy.fft

from stemcast.analysis import drum_spectrum as ds
from stemcast.analysis.drum_lanes import LANES, Onset, _confidence, _gate, _velocities, classify
from stemcast.analysis.features import (
    _NO_KEY,
    MIN_KEY_SECONDS,
    MIN_TEMPO_SECONDS,
    NO_RHYTHM,
    SILENCE_TOP_DB,
    _as_channels,
    _key,
    _loudness,
    _mono,
    assemble,
)
from stemcast.analysis.grid import HOP, N_FFT, RATE
from stemcast.analysis.key_chroma import HPSS_KERNEL, KEY_BINS_PER_OCTAVE, KEY_HOP, KEY_OCTAVES
from stemcast.analysis.rhythm import BASS_HZ, measure_rhythm
from stemcast.analysis.track_spectra import ONSET_SHIFT_FRAMES, ROLL_PERCENT, TrackSpectra


def _onset_strength(mel_db: np.ndarray) -> np.ndarray:
    envelope = librosa.onset.onset_strength(S=mel_db, sr=RATE, hop_length=HOP, center=False)
    return np.concatenate([np.zeros(ONSET_SHIFT_FRAMES), envelope])[:mel_db.shape[1]]


def reference_spectra(mono: np.ndarray) -> TrackSpectra:
    magnitude = np.abs(librosa.stft(mono, n_fft=N_FFT, hop_length=HOP))
    mel = librosa.filters.mel(sr=RATE, n_fft=N_FFT) @ magnitude**2
    mel_db = librosa.power_to_db(mel, ref=np.max)
    bass_bands = int(np.sum(librosa.mel_frequencies(n_mels=mel_db.shape[0] + 2,
                                                    fmax=RATE / 2)[1:-1] < BASS_HZ))
    tuning = float(librosa.estimate_tuning(S=magnitude[:, ::4], sr=RATE, n_fft=N_FFT))
    return TrackSpectra(
        frames=mel.shape[1], envelope=_onset_strength(mel_db),
        bass=_onset_strength(mel_db[:max(bass_bands, 1)]),
        onsets=librosa.onset.onset_strength(y=mono, sr=RATE, hop_length=HOP),
        tuning=tuning,
        rms=librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0],
        centroid=librosa.feature.spectral_centroid(S=magnitude, sr=RATE)[0],
        rolloff=librosa.feature.spectral_rolloff(S=magnitude, sr=RATE,
                                                 roll_percent=ROLL_PERCENT)[0],
        zcr=librosa.feature.zero_crossing_rate(mono, frame_length=N_FFT, hop_length=HOP)[0],
        span_rms=librosa.feature.rms(y=mono, frame_length=1024, hop_length=256)[0])


def reference_chroma(mono: np.ndarray, tuning: float) -> np.ndarray:
    cqt = np.abs(librosa.cqt(mono, sr=RATE, hop_length=KEY_HOP, tuning=tuning,
                             n_bins=KEY_BINS_PER_OCTAVE * KEY_OCTAVES,
                             bins_per_octave=KEY_BINS_PER_OCTAVE))
    harmonic, _ = librosa.decompose.hpss(cqt, kernel_size=HPSS_KERNEL)
    return np.asarray(librosa.feature.chroma_cqt(C=harmonic, sr=RATE,
                                                 bins_per_octave=KEY_BINS_PER_OCTAVE,
                                                 norm=None).mean(axis=1))


def _librosa_tempo(envelope: np.ndarray) -> float:
    return float(librosa.feature.tempo(onset_envelope=envelope, sr=RATE, hop_length=HOP)[0])


def reference_analyze(samples: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """features.analyze as it was: every measure on the whole mixdown."""
    audio = _as_channels(samples)
    peak = float(np.max(np.abs(audio)))
    mono = _mono(audio, sample_rate)
    rhythm, key = NO_RHYTHM, _NO_KEY
    _, (start, end) = librosa.effects.trim(mono, top_db=SILENCE_TOP_DB, frame_length=1024,
                                           hop_length=256)
    if mono.size >= MIN_KEY_SECONDS * RATE:
        spectra = reference_spectra(mono)
        key = _key(reference_chroma(mono, spectra.tuning))
        if mono.size >= MIN_TEMPO_SECONDS * RATE:
            rhythm = measure_rhythm(spectra.envelope, spectra.bass, _librosa_tempo)
    return assemble(rhythm, key, (float(start) / RATE, float(end) / RATE),
                    audio.shape[1] / sample_rate, peak,
                    _loudness(audio, sample_rate)).to_dict()


def reference_drum_analysis(mono: np.ndarray) -> ds.Analysis:
    """drum_spectrum.spectral_analysis as it was: windows of the whole padded track."""
    padded = np.pad(mono, (ds.N_FFT // 2, ds.N_FFT // 2))
    frames = 1 + mono.size // ds.HOP
    windows = np.lib.stride_tricks.sliding_window_view(padded, ds.N_FFT)[::ds.HOP][:frames]
    hann = np.hanning(ds.N_FFT).astype(np.float32)
    scale = np.float32(ds.COMPRESSION / (ds.N_FFT / 4))
    power = scipy.fft.rfft(windows * hann, axis=1)
    power = (power.real ** 2 + power.imag ** 2).astype(np.float32)
    log_mag = np.log1p(scale * np.sqrt(power))
    lagged = np.pad(np.concatenate([np.zeros((ds.FLUX_LAG, log_mag.shape[1]), np.float32),
                                    log_mag])[:-ds.FLUX_LAG], ((0, 0), (1, 1)), mode="edge")
    reference = np.maximum(np.maximum(lagged[:, :-2], lagged[:, 1:-1]), lagged[:, 2:])
    rise = np.maximum(log_mag - reference, 0.0)
    flux = np.stack([rise[:, bins].mean(axis=1) for bins in ds.DETECT_BINS])
    return ds.Analysis((power @ ds._band_matrix()).T, flux)


def reference_transcribe(mono: np.ndarray) -> list[Onset]:
    """drums.transcribe as it was, of a mono stem at drum_spectrum.RATE held whole."""
    analysis = reference_drum_analysis(mono)
    events = ds.detect_events(analysis)
    frames = analysis.powers.shape[1]
    features = [ds.event_at(mono, analysis, frame,
                            events[n + 1] if n + 1 < len(events) else frames + ds.DECAY_FRAMES)
                for n, frame in enumerate(events)]
    hits = sorted(_gate(classify(features)), key=lambda h: (h.time, h.lane))
    return [Onset(time=round(h.time, 4), lane=h.lane, type=LANES[h.lane].name,
                  confidence=round(_confidence(h.margin), 3), velocity=v)
            for h, v in zip(hits, _velocities(hits), strict=True)]
