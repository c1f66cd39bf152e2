"""Drum transcription of an isolated drum stem onto seed 002's eight lanes.

Onsets are found per frequency band (a kick under a hi-hat is found as well as the hat)
by a log-magnitude spectral flux, merged into events, and each event is given every lane
its sound shows, from the power that arrived in each band (just after the onset against
just before), how fast it dies away, and the pitch of what rings below 350 Hz:

- kick: new power below 90 Hz whose 90-160 Hz part dies within ~50 ms;
- snare: a 160-280 Hz body without a ringing tone under it;
- toms: a tone at 60-300 Hz that rings; high, mid or floor by its pitch among the track's
  toms (a kit is tuned as a set, not to fixed pitches);
- crash: a burst at 1.4-8 kHz that does not die away within 100 ms and is darker than a hat;
- hi-hat or ride: noise filling 3-16 kHz just after the onset (a skin's spectrum falls off
  there), brighter than a snare alone; ride when it rings longer and has partials (a less
  flat spectrum), decided over the neighbouring hits too (a drummer keeps time on one of
  them for a while).

Hits far softer than the loud ones of their lane are dropped: in a separated stem they are
mostly other instruments' attacks that leaked in.

Everything runs on one band-power matrix (STFT n_fft 2048, hop 256 at 44.1 kHz, in chunks)
and a few short FFTs per event: minutes of drums take a few seconds on one core.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft

RATE = 44100
N_FFT = 2048
HOP = 256  # 5.8 ms
FRAME_SECONDS = HOP / RATE
CHUNK_FRAMES = 4096  # frames per block of the STFT: bounds memory on long tracks
# The flux peaks while an attack enters the 46 ms window, ahead of the attack itself:
# measured on the corpus (FluidSynth, note-on aligned), -7 ms at the median.
TIME_OFFSET = 0.007
EPS = 1e-12


@dataclass(frozen=True)
class Lane:
    index: int
    name: str
    notes: tuple[int, ...]  # General MIDI percussion notes; the first is the one written


LANES: tuple[Lane, ...] = (
    Lane(0, "kick", (36,)),
    Lane(1, "snare", (38, 40)),
    Lane(2, "hihat", (42, 44, 46)),
    Lane(3, "high_tom", (48, 50)),
    Lane(4, "mid_tom", (45, 47)),
    Lane(5, "floor_tom", (41, 43)),
    Lane(6, "crash", (49, 52, 55, 57)),
    Lane(7, "ride", (51, 53, 59)),
)
KICK, SNARE, HIHAT, HIGH_TOM, MID_TOM, FLOOR_TOM, CRASH, RIDE = range(8)


@dataclass(frozen=True)
class Onset:
    time: float  # seconds from the start of the stem
    lane: int
    type: str  # the lane's name
    confidence: float  # 0..1
    velocity: int  # 1..127, from the hit's level against the loudest of its lane


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


def spectral_analysis(mono: np.ndarray) -> Analysis:
    """Band powers and detection fluxes; frame k is centred on sample k * HOP."""
    padded = np.pad(mono, (N_FFT // 2, N_FFT // 2))
    frames = 1 + mono.size // HOP
    windows = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:frames]
    hann = np.hanning(N_FFT).astype(np.float32)
    matrix = _band_matrix()
    # A full-scale sine's peak bin is N_FFT / 4 in this window: scaling against that makes
    # the flux of a hit independent of the rest of the track.
    scale = np.float32(COMPRESSION / (N_FFT / 4))
    powers = np.empty((EDGES.size - 1, frames), dtype=np.float32)
    flux = np.zeros((len(DETECT_BINS), frames), dtype=np.float32)
    history = None  # the last FLUX_LAG frames of the previous block; silence before the first
    for start in range(0, frames, CHUNK_FRAMES):
        block = windows[start:start + CHUNK_FRAMES] * hann
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


def _pitch(mono: np.ndarray, start: int, room: int) -> tuple[float, float]:
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


def _flatness(mono: np.ndarray, start: int) -> float:
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


def _air(mono: np.ndarray, start: int) -> float:
    segment = mono[start:start + AIR_SIZE]
    if segment.size < AIR_SIZE:
        return 0.0
    freqs = np.fft.rfftfreq(AIR_SIZE, 1.0 / RATE)
    band = (freqs >= 7000) & (freqs < 16000)
    return float(_spectrum(segment, AIR_SIZE)[band].sum())


def _air_decay(mono: np.ndarray, start: int, next_start: int) -> float:
    """dB per 100 ms above 7 kHz from the first 23 ms to up to 80 ms later."""
    gap = int(min(0.08 * RATE, next_start - start - 0.025 * RATE))
    if gap < int(0.02 * RATE):
        return 0.0
    first = _air(mono, start)
    later = _air(mono, start + gap)
    if first <= EPS or later <= EPS:
        return 0.0
    return float(10 * np.log10(first / later) / (gap / RATE) * 0.1)


def event_features(mono: np.ndarray, analysis: Analysis, events: Sequence[int]) -> list[Features]:
    powers = analysis.powers
    frames = powers.shape[1]
    out = []
    for n, frame in enumerate(events):
        following = events[n + 1] if n + 1 < len(events) else frames + DECAY_FRAMES
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
        out.append(Features(
            time=time,
            new=np.maximum(after - before, 0.0),
            rise=10 * np.log10((after + EPS) / (before + EPS)),
            decay=decay,
            pitch=pitch,
            pitch_decay=pitch_decay,
            flatness=_flatness(mono, start),
            air_decay=_air_decay(mono, start, next_start),
        ))
    return out


# --- which lanes each event shows ----------------------------------------------------------

# Thresholds, set on the corpus's FluidSynth kit (tests/support/corpus.py) with a margin
# each side; each is a property of the drum, not of the kit's tuning.
KICK_SUB_SHARE = 0.06  # of the new power, below 90 Hz
SHORT_LOW_DECAY = 22.0  # dB per 100 ms at 90-160 Hz: kicks and snares die this fast, toms ring
SHORT_PITCH_DECAY = 10.0  # dB per 100 ms of the main partial below 350 Hz, likewise...
# ...when that partial is above 70 Hz: below, it is a kick's, and 80 ms windows do not tell
# its decay from whatever else rings down there (a crash's rumble, reverb).
RINGING_PITCH_MIN = 70.0
SNARE_BODY_SHARE = 0.25  # of the new power, at 160-280 Hz
TOM_TONE_SHARE = 0.4  # of the new power, at 60-280 Hz
TOM_PITCH = (55.0, 350.0)
CRASH_RISE = 12.0  # dB at 1.4-8 kHz over what rang before
CRASH_DECAY = 1.0  # dB per 100 ms at most at 1.4-8 kHz
CRASH_DARKNESS = -3.0  # dB: above 8 kHz against 1.4-5.6 kHz, a crash is darker than a hat
CYMBAL_FLATNESS = 0.16  # 3-16 kHz just after the onset: a hat's or ride's noise fills it
CYMBAL_MIN_BRIGHTNESS = -15.0  # dB above 8 kHz against 1.4-5.6 kHz; a snare alone is ~-18
CYMBAL_ALONE_BRIGHTNESS = -5.5  # brighter than this: the cymbal is all there is to hear
CYMBAL_ALONE_FLATNESS = 0.11
# Ride or hi-hat: a ride rings longer and has partials (a less flat spectrum).
RIDE_FLATNESS = 0.315
RIDE_AIR_DECAY = 9.3  # dB per 100 ms
RIDE_CLEAR_RISE = (6.0, 12.0)  # dB above 8 kHz: a vote counts little below, fully above
RIDE_CONTEXT_SECONDS = 1.0  # neighbours' votes fall off with this time constant
# A hit this far (dB) below the GATE_PERCENTILE of its lane's levels is dropped. Hats and
# snares keep soft strokes (ghost notes); a kick, tom or crash that soft is mostly leakage.
GATE_PERCENTILE = 90.0
GATE_DB = (-15.0, -20.0, -20.0, -15.0, -15.0, -15.0, -15.0, -20.0)
TOM_SPLIT_OCTAVES = 0.2  # toms whose mean pitches lie this far apart are two drums


def _margin(*tests: tuple[float, float, float]) -> float:
    """The smallest (value - threshold) / scale: >= 0 when every test passes."""
    return min((value - threshold) / scale for value, threshold, scale in tests)


def _confidence(margin: float) -> float:
    return float(np.clip(1.0 / (1.0 + np.exp(-2.0 * margin)), 0.0, 1.0))


@dataclass(frozen=True)
class _Hit:
    time: float
    lane: int
    margin: float
    power: float


def _tom_lanes(pitches: Sequence[float]) -> list[int]:
    """High, mid or floor for each tom hit, by where its pitch sits among the track's toms.

    The pitches are split into up to three drums (k-means on log pitch) as long as the
    drums' pitches lie TOM_SPLIT_OCTAVES apart: one drum's pitch wanders with how hard it
    is struck, by more than the gap between two drums' extremes.
    """
    if not pitches:
        return []
    logs = np.log2(np.asarray(pitches, dtype=np.float64))
    for count in (3, 2):
        if len(logs) < count:
            continue
        centres = np.quantile(logs, (np.arange(count) + 0.5) / count)
        for _ in range(20):
            labels = np.argmin(np.abs(logs[:, None] - centres[None, :]), axis=1)
            if len(set(labels.tolist())) < count:
                break
            centres = np.array([logs[labels == k].mean() for k in range(count)])
        else:
            if np.min(np.diff(np.sort(centres))) >= TOM_SPLIT_OCTAVES:
                rank = np.argsort(np.argsort(centres))  # 0 lowest .. count-1 highest
                order = [FLOOR_TOM, MID_TOM, HIGH_TOM] if count == 3 else [FLOOR_TOM, HIGH_TOM]
                return [order[int(rank[label])] for label in labels]
    # One drum: named by its absolute pitch, as on a typical kit.
    pitch = float(2 ** np.median(logs))
    lane = HIGH_TOM if pitch >= 120 else MID_TOM if pitch >= 95 else FLOOR_TOM
    return [lane] * len(pitches)


def _ride_votes(events: Sequence[Features], cymbals: Sequence[int]) -> dict[int, float]:
    """Per cymbal event, > 0 for ride and < 0 for hi-hat, weighing in its neighbours."""
    scores = {}
    for index in cymbals:
        f = events[index]
        score = (RIDE_FLATNESS - f.flatness) / 0.04 + (RIDE_AIR_DECAY - f.air_decay) / 2.0
        # Only a cymbal heard on its own says much about which cymbal it is, and only one
        # that stands out of what rang before (a hat under a crash's wash sounds like a ride).
        alone = f.ratio_db(AIR, NOISE) >= CYMBAL_ALONE_BRIGHTNESS
        clear = float(np.clip((f.band_rise(AIR) - RIDE_CLEAR_RISE[0])
                              / (RIDE_CLEAR_RISE[1] - RIDE_CLEAR_RISE[0]), 0.1, 1.0)) ** 2
        scores[index] = (float(np.clip(score, -3.0, 3.0)), clear * (1.0 if alone else 0.3))
    votes = {}
    times = np.array([events[i].time for i in cymbals])
    values = np.array([scores[i][0] for i in cymbals])
    weights = np.array([scores[i][1] for i in cymbals])
    for k, index in enumerate(cymbals):
        near = np.exp(-np.abs(times - times[k]) / RIDE_CONTEXT_SECONDS) * weights
        votes[index] = float(np.sum(near * values) / max(float(np.sum(near)), EPS))
    return votes


def classify(events: Sequence[Features]) -> list[_Hit]:
    hits: list[_Hit] = []
    toms: list[tuple[Features, float]] = []
    cymbals: list[tuple[int, float]] = []  # (event, margin): hi-hat or ride, decided below
    for index, f in enumerate(events):
        # A kick or a snare dies fast in its low band and in its main partial; a tom rings
        # in one or the other, so the two tests exclude each other.
        dies = (f.band_decay(LOW) - SHORT_LOW_DECAY) / 8.0
        if f.pitch >= RINGING_PITCH_MIN:
            dies = min(dies, (f.pitch_decay - SHORT_PITCH_DECAY) / 4.0)
        kick = min(_margin((f.share(SUB), KICK_SUB_SHARE, 0.05)), dies)
        if kick >= 0:
            hits.append(_Hit(f.time, KICK, kick, f.power(SUB) + f.power(LOW)))
        snare = min(_margin((f.share(BODY), SNARE_BODY_SHARE, 0.1)), dies)
        if snare >= 0:
            hits.append(_Hit(f.time, SNARE, snare, f.power(BODY) + f.power(NOISE)))
        tom = min(_margin((f.share(TONE), TOM_TONE_SHARE, 0.1), (f.pitch, TOM_PITCH[0], 10.0),
                          (TOM_PITCH[1], f.pitch, 30.0)), -dies)
        if tom >= 0:
            toms.append((f, tom))
        brightness = f.ratio_db(AIR, NOISE)
        crash = _margin((f.band_rise(BURST), CRASH_RISE, 6.0),
                        (CRASH_DECAY, f.band_decay(BURST), 2.0),
                        (CRASH_DARKNESS, brightness, 2.0))
        if crash >= 0:
            hits.append(_Hit(f.time, CRASH, crash, f.power(BURST)))
            continue
        # Heard on its own (bright), a cymbal under a crash's wash is less flat than usual.
        flat_enough = (CYMBAL_ALONE_FLATNESS if brightness >= CYMBAL_ALONE_BRIGHTNESS
                       else CYMBAL_FLATNESS)
        cymbal = _margin((f.flatness, flat_enough, 0.05),
                         (brightness, CYMBAL_MIN_BRIGHTNESS, 4.0))
        if cymbal >= 0:
            cymbals.append((index, cymbal))
    tom_lanes = _tom_lanes([f.pitch for f, _ in toms])
    hits.extend(_Hit(f.time, lane, margin, f.power(TONE))
                for (f, margin), lane in zip(toms, tom_lanes, strict=True))
    votes = _ride_votes(events, [index for index, _ in cymbals])
    for index, margin in cymbals:
        f, vote = events[index], votes[index]
        hits.append(_Hit(f.time, RIDE if vote > 0 else HIHAT, min(margin, abs(vote)),
                         f.power(AIR)))
    return hits


def _gate(hits: Sequence[_Hit]) -> list[_Hit]:
    """Drops hits far quieter than their lane's loud ones: in a separated stem those are
    mostly other instruments' attacks that leaked in, not drums."""
    loud: dict[int, float] = {}
    for lane in {h.lane for h in hits}:
        loud[lane] = float(np.percentile([h.power for h in hits if h.lane == lane],
                                         GATE_PERCENTILE))
    return [h for h in hits
            if 10 * np.log10(max(h.power, EPS) / max(loud[h.lane], EPS)) >= GATE_DB[h.lane]]


def _velocities(hits: Sequence[_Hit]) -> list[int]:
    """127 for a lane's loudest hit, a softer one 10^(dB / 40) of that (-20 dB: 40)."""
    loudest: dict[int, float] = {}
    for hit in hits:
        loudest[hit.lane] = max(loudest.get(hit.lane, 0.0), hit.power)
    return [int(np.clip(round(127 * (max(h.power, EPS) / max(loudest[h.lane], EPS)) ** 0.25),
                        1, 127)) for h in hits]


def transcribe(drums: np.ndarray, sample_rate: int) -> list[Onset]:
    """Onsets of an isolated drum stem, float (channels, frames) or (frames,), by time."""
    mono = _mono(drums)
    if sample_rate != RATE:
        import soxr

        mono = np.ascontiguousarray(soxr.resample(mono, sample_rate, RATE), dtype=np.float32)
    if mono.size < 2 * N_FFT or not np.isfinite(mono).all() or np.max(np.abs(mono)) <= 0:
        return []
    analysis = spectral_analysis(mono)
    events = event_features(mono, analysis, detect_events(analysis))
    hits = sorted(_gate(classify(events)), key=lambda h: (h.time, h.lane))
    return [Onset(time=round(h.time, 4), lane=h.lane, type=LANES[h.lane].name,
                  confidence=round(_confidence(h.margin), 3), velocity=v)
            for h, v in zip(hits, _velocities(hits), strict=True)]


def onsets_document(onsets: Sequence[Onset], *, bpm: float | None,
                    duration_seconds: float) -> dict[str, Any]:
    """Seed 002's onsets.json: the lanes, then one entry per onset, by time."""
    return {
        "version": 1,
        "bpm": bpm,
        "duration_seconds": round(float(duration_seconds), 3),
        "onset_count": len(onsets),
        "lanes": [{"lane": lane.index, "type": lane.name, "notes": list(lane.notes)}
                  for lane in LANES],
        "onsets": [{"time": round(o.time, 3), "lane": o.lane, "type": o.type,
                    "confidence": round(o.confidence, 2), "velocity": o.velocity}
                   for o in sorted(onsets, key=lambda o: (o.time, o.lane))],
    }
