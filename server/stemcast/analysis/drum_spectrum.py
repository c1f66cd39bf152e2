"""The signal side of drum transcription (analysis/drums.py): band powers, onset flux,
events, and what each event sounds like (new power per band, decay, pitch, noise).

One band-power matrix (STFT n_fft 2048, hop 256 at 44.1 kHz, in chunks) and a few short
FFTs per event: minutes of drums take a few seconds on one core. The stem's mono mixdown
is a MonoSource (analysis.mono_file): the STFT reads it a chunk at a time and each event
the samples around it (Around), so only the band powers and fluxes (22 values per 5.8 ms
frame, 55 MB an hour) and the events' features grow with the stem.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

from stemcast.analysis.mono_file import MonoSource, frame_blocks, frame_count

RATE = 44100
N_FFT = 2048
HOP = 256  # 5.8 ms
FRAME_SECONDS = HOP / RATE
CHUNK_FRAMES = 4096  # frames per block of the STFT: bounds memory on long tracks
# The flux peaks while an attack enters the 46 ms window, ahead of the attack itself:
# measured on the corpus (FluidSynth, note-on aligned), -7 ms at the median.
TIME_OFFSET = 0.007
EPS = 1e-12


# --- band powers and flux -----------------------------------------------------------------

# Band edges (Hz); band powers are STFT power summed between neighbouring edges.
EDGES = np.array([30, 60, 90, 120, 160, 210, 280, 370, 500, 700, 1000, 1400, 2000, 2800,
                  4000, 5600, 8000, 11000, 16000], dtype=np.float64)


def _bands(low: float, high: float) -> slice:
    return slice(int(np.searchsorted(EDGES, low)), int(np.searchsorted(EDGES, high)))


def _bins(low: float, high: float) -> slice:
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    return slice(int(np.searchsorted(freqs, low)), int(np.searchsorted(freqs, high)))


SUB = _bands(30, 90)  # a kick's fundamental
LOW = _bands(90, 160)  # a kick's or tom's body; a snare has little that lasts here
BODY = _bands(160, 280)  # a snare's body
TONE = _bands(60, 280)  # where toms ring
NOISE = _bands(1400, 5600)  # snare wires, crashes
BURST = _bands(1400, 8000)  # a crash's burst
AIR = _bands(8000, 16000)  # hats and rides

# Detection groups, each hears some drums best: kicks; snares and toms; snare wires and
# crashes; hats and rides. Their onsets are merged into events afterwards.
DETECT_BINS: tuple[slice, ...] = (_bins(30, 90), _bins(90, 500), _bins(1400, 5600),
                                  _bins(7000, 16000))
# A group's flux must reach this at a peak: the mean natural-log rise over its bins, set on
# the corpus above what the tails and reverb of earlier hits give.
DETECT_THRESHOLDS = (1.0, 0.35, 0.25, 0.09)
FLUX_LAG = 2  # frames: each bin against itself 11.6 ms earlier...
# ...and its two neighbours (SuperFlux's max filter: vibrato is no onset).
COMPRESSION = 10000.0  # log(1 + C |X| / full scale): quiet hits count, not only loud ones
PEAK_RADIUS = 2  # frames each side a flux peak must top
MERGE_FRAMES = 4  # peaks of different groups within 23 ms are one event


@dataclass(frozen=True)
class Analysis:
    powers: np.ndarray  # (bands, frames) STFT power summed per band
    flux: np.ndarray  # (groups, frames) log-magnitude flux per detection group


def _mono(samples: np.ndarray) -> np.ndarray:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _band_matrix() -> np.ndarray:
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    matrix = np.zeros((freqs.size, EDGES.size - 1), dtype=np.float32)
    for band in range(EDGES.size - 1):
        matrix[(freqs >= EDGES[band]) & (freqs < EDGES[band + 1]), band] = 1.0
    return matrix


def spectral_analysis(mono: MonoSource) -> Analysis:
    """Band powers and detection fluxes; frame k is centred on sample k * HOP. The
    samples are read a block of CHUNK_FRAMES frames at a time (analysis.mono_file)."""
    frames = frame_count(mono.size, HOP)
    hann = np.hanning(N_FFT).astype(np.float32)
    matrix = _band_matrix()
    # A full-scale sine's peak bin is N_FFT / 4 in this window: scaling against that makes
    # the flux of a hit independent of the rest of the track.
    scale = np.float32(COMPRESSION / (N_FFT / 4))
    powers = np.empty((EDGES.size - 1, frames), dtype=np.float32)
    flux = np.zeros((len(DETECT_BINS), frames), dtype=np.float32)
    history = None  # the last FLUX_LAG frames of the previous block; silence before the first
    for start, samples in frame_blocks(mono, N_FFT, HOP, CHUNK_FRAMES):
        block = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP] * hann
        spectrum = scipy.fft.rfft(block, axis=1)
        power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
        stop = start + block.shape[0]
        powers[:, start:stop] = (power @ matrix).T
        log_mag = np.log1p(scale * np.sqrt(power))
        if history is None:
            history = np.zeros((FLUX_LAG, log_mag.shape[1]), dtype=np.float32)
        lagged = np.pad(np.concatenate([history, log_mag])[:-FLUX_LAG], ((0, 0), (1, 1)),
                        mode="edge")
        reference = np.maximum(np.maximum(lagged[:, :-2], lagged[:, 1:-1]), lagged[:, 2:])
        rise = np.maximum(log_mag - reference, 0.0)
        for group, bins in enumerate(DETECT_BINS):
            flux[group, start:stop] = rise[:, bins].mean(axis=1)
        history = log_mag[-FLUX_LAG:]
    return Analysis(powers, flux)


def _peaks(flux: np.ndarray, threshold: float) -> np.ndarray:
    width = 2 * PEAK_RADIUS + 1
    padded = np.pad(flux, PEAK_RADIUS, constant_values=-np.inf)
    neighbourhood = np.lib.stride_tricks.sliding_window_view(padded, width).max(axis=1)
    return np.flatnonzero((flux >= neighbourhood) & (flux >= threshold))


def detect_events(analysis: Analysis) -> list[int]:
    """Event frames: the groups' flux peaks, those within MERGE_FRAMES taken as one."""
    frames = np.concatenate([_peaks(analysis.flux[group], threshold)
                             for group, threshold in enumerate(DETECT_THRESHOLDS)])
    events: list[int] = []
    for frame in np.sort(frames):
        if not events or frame - events[-1] > MERGE_FRAMES:
            events.append(int(frame))
    return events


# --- what each event sounds like ---------------------------------------------------------

PRE_FRAMES = (6, 3)  # "before": frames i-6 .. i-4, whose windows end before the attack
POST_FRAMES = (1, 5)  # "after": the loudest of frames i+1 .. i+4
DECAY_FRAMES = 16  # decay from the peak over up to ~70 ms (less when the next hit is sooner)
PITCH_RANGE = (45.0, 350.0)
PITCH_FFT = 8192  # 5.4 Hz bins, refined by interpolation


@dataclass(frozen=True)
class Features:
    time: float
    new: np.ndarray  # per band: power that arrived
    rise: np.ndarray  # per band: dB after against before
    decay: np.ndarray  # per band: dB per 100 ms from the peak
    pitch: float  # Hz, the strongest new partial at 45-350 Hz (0: none)
    pitch_decay: float  # dB per 100 ms of that partial
    flatness: float  # 0..1 at 3-16 kHz just after the onset: noise near 0.5, partials lower
    air_decay: float  # dB per 100 ms above 7 kHz, from a short-window envelope

    def share(self, bands: slice) -> float:
        return float(self.new[bands].sum() / max(float(self.new.sum()), EPS))

    def power(self, bands: slice) -> float:
        return float(self.new[bands].sum())

    def ratio_db(self, top: slice, bottom: slice) -> float:
        return float(10 * np.log10((self.new[top].sum() + EPS) / (self.new[bottom].sum() + EPS)))

    def band_decay(self, bands: slice) -> float:
        return float(np.median(self.decay[bands]))

    def band_rise(self, bands: slice) -> float:
        return float(np.max(self.rise[bands]))


@functools.lru_cache(maxsize=16)
def _hann(length: int) -> np.ndarray:
    return np.hanning(length).astype(np.float32)


def _spectrum(segment: np.ndarray, size: int) -> np.ndarray:
    spectrum = scipy.fft.rfft(segment * _hann(segment.size), size)
    out: np.ndarray = spectrum.real ** 2 + spectrum.imag ** 2
    return out


class Around:
    """The samples near one hit, indexed as the whole track's: the event's features read
    no further than REACH_BEFORE samples before its start and REACH_AFTER after it."""

    REACH_BEFORE, REACH_AFTER = 4096, 8192  # 93 and 186 ms: _pitch's and _air's reach

    def __init__(self, source: MonoSource, start: int) -> None:
        self.size = source.size
        self.first = max(start - self.REACH_BEFORE, 0)
        self.data = source.read(self.first, min(start + self.REACH_AFTER, source.size))

    def __getitem__(self, span: slice) -> np.ndarray:
        low, high = span.start, min(span.stop, self.size)
        if high > low and (low < self.first or high > self.first + self.data.size):
            raise IndexError(f"samples {low}:{high} are beyond the hit's reach")
        return self.data[low - self.first:high - self.first]


Samples = np.ndarray | Around


def _pitch(mono: Samples, start: int, room: int) -> tuple[float, float]:
    """(Hz, dB per 100 ms) of the strongest partial at 45-350 Hz that the hit brought."""
    length = int(np.clip((room - int(0.015 * RATE)) // 2, int(0.025 * RATE), int(0.08 * RATE)))
    head = start + int(0.015 * RATE)
    if head + 2 * length > mono.size:
        return 0.0, 0.0
    lead = start - int(0.005 * RATE)
    # Before the start of the stem there is silence.
    earlier = np.pad(mono[max(0, lead - length):max(0, lead)], (max(0, length - lead), 0))
    before = _spectrum(earlier, PITCH_FFT)
    early = _spectrum(mono[head:head + length], PITCH_FFT)
    late = _spectrum(mono[head + length:head + 2 * length], PITCH_FFT)
    freqs = np.fft.rfftfreq(PITCH_FFT, 1.0 / RATE)
    lo, hi = np.searchsorted(freqs, PITCH_RANGE)
    new = np.maximum(early[lo:hi] - before[lo:hi], 0.0)
    if new.max() <= EPS:
        return 0.0, 0.0
    peak = int(np.argmax(new))
    pitch = float(freqs[lo + peak])
    if 0 < peak < new.size - 1:
        # Parabolic interpolation on log power between the neighbouring bins.
        a, b, c = np.log(new[peak - 1:peak + 2] + EPS)
        denominator = a - 2 * b + c
        if denominator < 0:
            pitch += float(0.5 * (a - c) / denominator) * RATE / PITCH_FFT
    band = (freqs > pitch * 0.94) & (freqs < pitch * 1.06)
    drop = 10 * np.log10((early[band].sum() + EPS) / (late[band].sum() + EPS))
    return pitch, float(drop / (length / RATE) * 0.1)


def _flatness(mono: Samples, start: int) -> float:
    """Spectral flatness at 3-16 kHz just after the onset: noise fills it evenly, the falling
    spectrum of a drum's skin does not."""
    segment = mono[start:start + N_FFT]
    if segment.size < N_FFT:
        return 0.0
    power = _spectrum(segment, N_FFT)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    top = power[(freqs >= 3000) & (freqs < 16000)] + EPS
    return float(np.exp(np.mean(np.log(top))) / np.mean(top))


AIR_SIZE = 1024


def _air(mono: Samples, start: int) -> float:
    segment = mono[start:start + AIR_SIZE]
    if segment.size < AIR_SIZE:
        return 0.0
    freqs = np.fft.rfftfreq(AIR_SIZE, 1.0 / RATE)
    band = (freqs >= 7000) & (freqs < 16000)
    return float(_spectrum(segment, AIR_SIZE)[band].sum())


def _air_decay(mono: Samples, start: int, next_start: int) -> float:
    """dB per 100 ms above 7 kHz from the first 23 ms to up to 80 ms later."""
    gap = int(min(0.08 * RATE, next_start - start - 0.025 * RATE))
    if gap < int(0.02 * RATE):
        return 0.0
    first = _air(mono, start)
    later = _air(mono, start + gap)
    if first <= EPS or later <= EPS:
        return 0.0
    return float(10 * np.log10(first / later) / (gap / RATE) * 0.1)


def event_features(mono: MonoSource, analysis: Analysis,
                   events: Sequence[int]) -> list[Features]:
    """Each event's features, from its band powers and the samples around it (read from
    `mono` one event at a time)."""
    frames = analysis.powers.shape[1]
    out = []
    for n, frame in enumerate(events):
        following = events[n + 1] if n + 1 < len(events) else frames + DECAY_FRAMES
        start = round((frame * FRAME_SECONDS + TIME_OFFSET) * RATE)
        out.append(event_at(Around(mono, start), analysis, frame, following))
    return out


def event_at(mono: Samples, analysis: Analysis, frame: int, following: int) -> Features:
    """The features of the event at `frame`; `following`: the next event's frame."""
    powers = analysis.powers
    frames = powers.shape[1]
    pre = powers[:, max(0, frame - PRE_FRAMES[0]):max(1, frame - PRE_FRAMES[1])]
    before = pre.mean(axis=1) if frame >= PRE_FRAMES[1] else np.zeros(powers.shape[0])
    post = powers[:, min(frame + POST_FRAMES[0], frames - 1):frame + POST_FRAMES[1]]
    after = post.max(axis=1)
    peak = min(frame + POST_FRAMES[0], frames - 1) + np.argmax(post, axis=1)
    end = np.minimum(np.maximum(min(frame + DECAY_FRAMES, following - 2, frames - 1),
                                peak + 1), frames - 1)
    span = np.maximum(end - peak, 1) * FRAME_SECONDS
    bands = np.arange(powers.shape[0])
    decay = 10 * np.log10((powers[bands, peak] + EPS) / (powers[bands, end] + EPS)) \
        / span * 0.1
    time = frame * FRAME_SECONDS + TIME_OFFSET
    start = round(time * RATE)
    next_start = round((following * FRAME_SECONDS + TIME_OFFSET) * RATE)
    pitch, pitch_decay = _pitch(mono, start, next_start - start)
    return Features(
        time=time,
        new=np.maximum(after - before, 0.0),
        rise=10 * np.log10((after + EPS) / (before + EPS)),
        decay=decay,
        pitch=pitch,
        pitch_decay=pitch_decay,
        flatness=_flatness(mono, start),
        air_decay=_air_decay(mono, start, next_start),
    )
