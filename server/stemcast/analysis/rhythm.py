"""Tempo, beat grid and downbeats of a track, from its onset envelopes (track_spectra).

Methods:
- tempo: librosa's onset strength (mel spectral flux) and its tempogram estimate, folded by
  octaves into 70-180 bpm, the range DJ software shows (60 is shown as 120). librosa's
  dynamic-programming beat tracker then runs at that tempo; its beats are moved onto the
  nearest onset (within 70 ms) and its ends tidied, where the tracker is least sure. bpm is
  refined from the beats: the median inter-beat interval numbers them (a skipped beat
  counts two), and a least-squares line through beat number and time gives the period;
  beats sit on whole 23 ms frames, and the line averages that out.
- bpm confidence: pulse clarity, the autocorrelation of the (mean-removed) onset strength at
  the beat period, normalised by its value at lag 0. Near 1 for a click track, a few tenths
  for music, about 0 for noise; below a floor that grows for short clips (noise correlates
  by chance over a few seconds), there is no steady pulse and bpm is None.
- downbeats: 4/4 assumed. The kick usually falls on 1: of the four bar phases, the one whose
  beats carry the strongest low-band (< 200 Hz) onsets wins, once for the whole track.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.signal
from scipy.ndimage import maximum_filter1d

from stemcast.analysis.grid import HOP, RATE

BPM_RANGE = (70.0, 180.0)
# The tempogram's estimate is on a coarse grid (172.3, 184.6, ...): 70.2 bpm may come out
# as 69.8. It is folded into this wider range, and only the bpm fitted to the beats into
# BPM_RANGE, so that such a track is not tracked at double speed.
TRACKING_RANGE = (BPM_RANGE[0] * 0.95, BPM_RANGE[1] * 1.05)
MIN_BEATS = 4
TEMPO_AC_SECONDS = 8.0  # librosa.feature.tempo's ac_size
TEMPOGRAM_BLOCK = 2048  # tempogram frames at a time (48 s: its FFT ~13 MB)
# Beats are looked for within this many frames (70 ms) of where the grid puts them.
SNAP_FRAMES = 3
# Edge beats weaker than EDGE_WEAK x the mean beat onset sit on nothing and go; an onset
# EDGE_STRONG x the mean one period beyond the edge is a beat the tracker missed.
EDGE_WEAK, EDGE_STRONG = 0.1, 0.5
# Pulse clarity needed for a bpm: at least MIN_CLARITY, and PULSE_Z times the chance level
# of noise (about 1 / sqrt(frames) for an autocorrelation over that many frames).
MIN_CLARITY, PULSE_Z = 0.1, 4.0
BASS_HZ = 200.0
BPM_DECIMALS = 2


@dataclass(frozen=True)
class Rhythm:
    bpm: float | None
    confidence: float
    beats: tuple[float, ...] = ()
    downbeats: tuple[float, ...] = ()
    estimate: float | None = None  # the tempogram's folded tempo, steady pulse or not


NO_RHYTHM = Rhythm(None, 0.0)


def fold_bpm(bpm: float, bpm_range: tuple[float, float] = BPM_RANGE) -> float:
    """Octave-fold a tempo into a range an octave or more wide (by default 70-180):
    60 -> 120, 200 -> 100."""
    low, high = bpm_range
    if not np.isfinite(bpm) or bpm <= 0:
        return bpm
    while bpm < low:
        bpm *= 2.0
    while bpm > high:
        bpm /= 2.0
    return bpm



def measure_rhythm(envelope: np.ndarray, bass: np.ndarray,
                   tempo: Callable[[np.ndarray], float] | None = None) -> Rhythm:
    """Tempo, beats and downbeats from the onset strength on the analysis grid, all mel
    bands and the bass bands (analysis.track_spectra). `tempo`: the tempogram's estimate
    of an envelope (block_tempo unless a test passes librosa's whole-track one)."""
    if not np.any(envelope > 0):
        return NO_RHYTHM  # a steady tone: nothing starts, nothing to count
    estimate = (tempo or block_tempo)(envelope)
    tracked = fold_bpm(estimate, TRACKING_RANGE)
    # The tempogram may have found the pulse at half or double the folded tempo.
    clarity = max(_pulse_clarity(envelope, estimate), _pulse_clarity(envelope, tracked))
    guess = fold_bpm(estimate) if np.isfinite(estimate) and estimate > 0 else None
    if clarity < max(MIN_CLARITY, PULSE_Z / np.sqrt(envelope.size)):
        return Rhythm(None, clarity, estimate=guess)

    frames = _track(envelope, tracked)
    if frames.size < MIN_BEATS:
        return Rhythm(None, clarity, estimate=guess)
    bpm = _fitted_bpm(frames)
    if fold_bpm(bpm) != bpm:
        # Tracked just outside the range (see TRACKING_RANGE): track again an octave over.
        frames = _track(envelope, fold_bpm(bpm))
        if frames.size < MIN_BEATS:
            return Rhythm(None, clarity, estimate=guess)
        bpm = _fitted_bpm(frames)
    times = librosa.frames_to_time(frames, sr=RATE, hop_length=HOP)
    phase = _bar_phase(frames, envelope, bass)
    return Rhythm(round(fold_bpm(bpm), BPM_DECIMALS), clarity, tuple(times.tolist()),
                   tuple(times[phase::4].tolist()))


def block_tempo(envelope: np.ndarray) -> float:
    """librosa.feature.tempo(onset_envelope=envelope, sr=RATE, hop_length=HOP): the mean
    tempogram taken over blocks of TEMPOGRAM_BLOCK frames (whole, the tempogram of an
    hour is 384 lags x 155k frames, and its FFT more), then librosa's own prior."""
    win = int(librosa.time_to_frames(TEMPO_AC_SECONDS, sr=RATE, hop_length=HOP))
    window = scipy.signal.get_window("hann", win, fftbins=True)
    padded = np.pad(envelope, win // 2, mode="linear_ramp", end_values=[0, 0])
    total = np.zeros(win, dtype=np.float64)
    for first in range(0, envelope.size, TEMPOGRAM_BLOCK):
        last = min(first + TEMPOGRAM_BLOCK, envelope.size)
        frames = np.lib.stride_tricks.sliding_window_view(padded[first:last + win - 1], win).T
        tempogram = librosa.util.normalize(librosa.autocorrelate(frames * window[:, None],
                                                                 axis=-2), norm=np.inf, axis=-2)
        total += tempogram.sum(axis=1, dtype=np.float64)
    mean = (total / envelope.size)[:, None]
    return float(librosa.feature.tempo(tg=mean, sr=RATE, hop_length=HOP,
                                       aggregate=None)[0])


def _track(envelope: np.ndarray, bpm: float) -> np.ndarray:
    # trim=False: librosa's trim also drops a real first beat that is quieter than the rest
    # (a kick among clicks); _tidy_edges does that job instead.
    _, frames = librosa.beat.beat_track(onset_envelope=envelope, sr=RATE, hop_length=HOP,
                                        bpm=bpm, units="frames", trim=False)
    return _tidy_edges(np.asarray(frames, dtype=np.int64), envelope)


def _tidy_edges(frames: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Put the tracker's beats on the onsets they mean, drop leading and trailing beats that
    sit on none, and extend the grid over strong onsets one period beyond either end: the
    dynamic program is least sure at the ends, where a DJ cues."""
    if frames.size < MIN_BEATS:
        return frames
    frames = _snapped(frames, envelope)
    strength = maximum_filter1d(envelope, size=2 * SNAP_FRAMES + 1)[frames]
    level = float(strength.mean())
    weak = strength < EDGE_WEAK * level
    frames = frames[int(np.argmin(weak)):frames.size - int(np.argmin(weak[::-1]))]
    if frames.size < MIN_BEATS:
        return frames
    period = round(float(np.median(np.diff(frames))))
    beats = frames.tolist()
    for step in (-period, period):
        while True:
            edge = beats[0] if step < 0 else beats[-1]
            low, high = edge + step - SNAP_FRAMES, edge + step + SNAP_FRAMES + 1
            if low < 0 or high > envelope.size:
                break
            best = low + int(np.argmax(envelope[low:high]))
            if envelope[best] < EDGE_STRONG * level:
                break
            if step < 0:
                beats.insert(0, best)
            else:
                beats.append(best)
    return np.asarray(beats, dtype=np.int64)


def _snapped(frames: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Each beat moved to the strongest onset within SNAP_FRAMES; a beat with no onset near
    (the off beats of a half-time pulse) stays where the grid put it."""
    padded = np.pad(envelope, SNAP_FRAMES)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * SNAP_FRAMES + 1)[frames]
    moved = frames + np.argmax(windows, axis=1) - SNAP_FRAMES
    snapped = np.where(windows.max(axis=1) > 0, moved, frames)
    return np.unique(np.clip(snapped, 0, envelope.size - 1))


def _pulse_clarity(envelope: np.ndarray, bpm: float) -> float:
    if not np.isfinite(bpm) or bpm <= 0:
        return 0.0
    acf = librosa.autocorrelate(envelope - envelope.mean())
    if acf[0] <= 0:
        return 0.0
    lag = 60.0 * RATE / (HOP * bpm)
    # The period is rarely a whole number of frames: take the best of the lags around it.
    low, high = max(int(np.floor(lag)) - 1, 1), min(int(np.ceil(lag)) + 1, acf.size - 1)
    if low > high:
        return 0.0
    return float(np.clip(acf[low:high + 1].max() / acf[0], 0.0, 1.0))


def _fitted_bpm(frames: np.ndarray) -> float:
    times = librosa.frames_to_time(frames, sr=RATE, hop_length=HOP)
    intervals = np.diff(times)
    period = float(np.median(intervals))
    numbers = np.concatenate([[0.0], np.cumsum(np.maximum(np.round(intervals / period), 1.0))])
    slope, offset = np.polyfit(numbers, times, 1)
    # Once more without the beats the line misses by more than a tenth of a beat.
    close = np.abs(times - (slope * numbers + offset)) <= 0.1 * period
    if MIN_BEATS <= int(close.sum()) < times.size:
        slope, offset = np.polyfit(numbers[close], times[close], 1)
    return 60.0 / float(slope) if slope > 0 else 60.0 / period


def _bar_phase(frames: np.ndarray, envelope: np.ndarray, bass: np.ndarray) -> int:
    """Which of every 4 beats starts the bar: the phase with the strongest bass onsets."""
    accent = _at_beats(bass, frames)
    if not np.any(accent > 0):
        accent = _at_beats(envelope, frames)  # no bass at all: the loudest onsets, then
    scores = [float(accent[phase::4].mean()) for phase in range(min(4, accent.size))]
    return int(np.argmax(scores))


def _at_beats(envelope: np.ndarray, frames: np.ndarray) -> np.ndarray:
    # The tracker may sit a frame or two off the onset's peak.
    return np.asarray(maximum_filter1d(envelope, size=2 * SNAP_FRAMES + 1)[frames],
                      dtype=np.float64)
