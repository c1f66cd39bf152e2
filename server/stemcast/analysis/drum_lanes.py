"""Which of seed 002's eight lanes each drum event shows (analysis/drums.py), from its
features (analysis/drum_spectrum.py); then the soft leakage gated out, and velocities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stemcast.analysis.drum_spectrum import (
    AIR,
    BODY,
    BURST,
    EPS,
    LOW,
    NOISE,
    SUB,
    TONE,
    Features,
)


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
