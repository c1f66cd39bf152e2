"""The beat-grid anchor a DJ engine needs, from a track's stored analysis.

Seed 000's app server (Mismo) stores `firstBeatOffset`, `firstPhraseBeatNo`,
`audibleStartTime`, `audibleEndTime` and calls a track analysed only when `bpm > 0`;
its engine lays the beat grid from the first beat. Here those values come from the
analysis stemcast already keeps (beats, downbeats, audible span, the tempo estimate):

- `bpm`: the tracked bpm when the track has a steady pulse; otherwise the tempogram's
  folded estimate, and DEFAULT_BPM when there is not even that (silence, a clip under
  4 s). Always positive; `bpm_confidence` (pulse clarity, 0..1) says how much to trust it.
- `firstBeatOffset`: seconds of the first tracked beat; where no beats were tracked, the
  audible start (a grid laid at the best-guess bpm starts where the sound does).
- `firstPhraseBeatNo`: which beat (1-4) of the grid starts the first bar: the first
  downbeat's place among the beats. Bars are 4/4; phrases of several bars are not
  detected, so this is the bar anchor. 1 where there are no downbeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BPM = 120.0  # when nothing is known: the commonest DJ tempo, confidence 0
BEATS_PER_BAR = 4


@dataclass(frozen=True)
class BeatGrid:
    bpm: float  # > 0 always
    bpm_confidence: float  # 0..1; 0 means the bpm is a placeholder
    bpm_measured: bool  # False: no steady pulse, bpm is a best guess
    first_beat_offset: float  # seconds
    first_phrase_beat_no: int  # 1..4
    audible_start: float
    audible_end: float


def beat_grid(features: Mapping[str, Any] | None) -> BeatGrid:
    """The grid of a track's stored analysis (BasicFeatures.to_dict()); None: not analysed."""
    data = features or {}
    beats = [float(t) for t in data.get("beats") or ()]
    downbeats = [float(t) for t in data.get("downbeats") or ()]
    measured = _positive(data.get("bpm"))
    guess = measured or _positive(data.get("bpm_estimate")) or DEFAULT_BPM
    audible_start = float(data.get("audible_start") or 0.0)
    audible_end = float(data.get("audible_end") or data.get("duration_seconds") or 0.0)
    confidence = float(data.get("bpm_confidence") or 0.0)
    return BeatGrid(
        bpm=round(guess, 2),
        bpm_confidence=round(min(max(confidence, 0.0), 1.0), 3),
        bpm_measured=measured is not None,
        first_beat_offset=round(beats[0] if beats else audible_start, 3),
        first_phrase_beat_no=_first_phrase_beat_no(beats, downbeats),
        audible_start=round(audible_start, 3),
        audible_end=round(audible_end, 3),
    )


def _positive(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _first_phrase_beat_no(beats: list[float], downbeats: list[float]) -> int:
    if not beats or not downbeats:
        return 1
    first = downbeats[0]
    index = min(range(len(beats)), key=lambda i: abs(beats[i] - first))
    return index % BEATS_PER_BAR + 1
