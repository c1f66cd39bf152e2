"""What finished jobs teach the ETA: each stage's seconds and the shape of its progress.

A job is decoding, separating, then writing; each stage has a fixed part (model warm-up,
opening files, the first segment's set-up) and a part that grows with the track, and on a
short track the fixed parts are most of it. So the history keeps, per model, device and
length bucket, the recent jobs' stage times and how far into each stage its progress
figures came (the "curve"): a short dsp job spends 85 % of its separation on the first of
two halves, a long Demucs job moves evenly. A job of the same bucket then predicts both
how long each stage takes and what share of it a progress figure stands for.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from stemcast_protocol import Stage

STAGES = (Stage.DECODING, Stage.SEPARATING, Stage.WRITING)
KEPT = 8  # recent jobs per model, device and bucket
# Upper bounds (audio seconds) of the length buckets; a job past the last is in one more.
BUCKET_BOUNDS = (10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0)


def length_bucket(duration: float) -> int:
    """0: under 10 s, 1: 10-20 s, ... each bucket twice as long as the one before."""
    return bisect.bisect_right(BUCKET_BOUNDS, duration)


@dataclass(frozen=True)
class StageTiming:
    seconds: float
    # (stage fraction, share of the stage's seconds spent when it was reached), rising
    curve: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class JobTiming:
    """One finished job: its audio length and each stage's seconds and curve."""

    duration: float
    stages: dict[Stage, StageTiming]

    @property
    def total(self) -> float:
        return sum(stage.seconds for stage in self.stages.values())


@dataclass(frozen=True)
class TimingKey:
    model: str
    device: str
    bucket: int


def _interpolate(curve: Sequence[tuple[float, float]], fraction: float) -> float | None:
    """The share of the stage spent by `fraction`, on a curve from (0, 0) to (1, 1)."""
    points = [(0.0, 0.0), *curve, (1.0, 1.0)]
    for (f0, s0), (f1, s1) in pairwise(points):
        if f0 <= fraction <= f1:
            return s0 if f1 == f0 else s0 + (s1 - s0) * (fraction - f0) / (f1 - f0)
    return None


def _spread(values: Sequence[float]) -> float:
    """Relative spread (median absolute deviation over the median), 0 for one value."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    if middle <= 0:
        return 0.0
    return statistics.median(abs(v - middle) for v in values) / middle


@dataclass
class TimingHistory:
    jobs: dict[TimingKey, deque[JobTiming]] = field(default_factory=dict)

    def add(self, key: TimingKey, timing: JobTiming) -> None:
        self.jobs.setdefault(key, deque(maxlen=KEPT)).append(timing)

    def same_bucket(self, model: str, device: str, duration: float) -> Sequence[JobTiming]:
        return self.jobs.get(TimingKey(model, device, length_bucket(duration)), ())

    def _of_model(self, model: str, device: str) -> list[tuple[int, JobTiming]]:
        return [(key.bucket, timing) for key, jobs in self.jobs.items()
                if key.model == model and key.device == device for timing in jobs]

    def stage_seconds(self, model: str, device: str, duration: float,
                      stage: Stage) -> float | None:
        """The seconds `stage` should take on a track this long: the median of this bucket's
        jobs scaled to the length (robust to one warm-up outlier), else the start-up +
        per-second line over the model's other buckets, else the nearest bucket scaled."""
        own = [t.stages[stage].seconds * duration / t.duration
               for t in self.same_bucket(model, device, duration)
               if stage in t.stages and t.duration > 0]
        if own:
            return statistics.median(own)
        if stage != Stage.SEPARATING:
            # Reading the file and writing the stems hardly depend on the model: another
            # model's jobs of this length know more than this model's of other lengths.
            alike = [t.stages[stage].seconds * duration / t.duration
                     for key, jobs in self.jobs.items()
                     if key.device == device and key.bucket == length_bucket(duration)
                     for t in jobs if stage in t.stages and t.duration > 0]
            if alike:
                return statistics.median(alike)
        others = [(bucket, t) for bucket, t in self._of_model(model, device)
                  if stage in t.stages and t.duration > 0]
        if not others:
            return None
        line = _line((t.duration, t.stages[stage].seconds) for _, t in others)
        if line is not None:
            return line[0] + line[1] * duration
        bucket = length_bucket(duration)
        nearest = min(abs(b - bucket) for b, _ in others)
        return statistics.median(t.stages[stage].seconds * duration / t.duration
                                 for b, t in others if abs(b - bucket) == nearest)

    def share(self, model: str, device: str, duration: float, stage: Stage,
              fraction: float) -> tuple[float, float] | None:
        """The share of `stage` this bucket's jobs had spent when progress reached
        `fraction` (their median) and how much it varied between them (relative), None
        where none was timed."""
        shares = [s for t in self.same_bucket(model, device, duration)
                  if stage in t.stages and t.stages[stage].curve
                  for s in [_interpolate(t.stages[stage].curve, fraction)] if s is not None]
        return (statistics.median(shares), _spread(shares)) if shares else None

    def uncertainty(self, model: str, device: str, duration: float) -> float | None:
        """How far a prediction from this history may be off (relative), None with none:
        wide from one job or from another bucket, narrower with more alike jobs."""
        own = self.same_bucket(model, device, duration)
        if not own:
            return None if not self._of_model(model, device) else 0.6
        count = len(own)
        by_count = 0.6 if count == 1 else 0.6 / math.sqrt(count)
        rates = [t.total / t.duration for t in own if t.duration > 0]
        return max(0.2, by_count, _spread(rates))

    def count(self, model: str, device: str) -> int:
        return len(self._of_model(model, device))


def _line(samples: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares seconds = start-up + per-second x duration over (duration, seconds);
    None while the durations are too alike to tell the two apart."""
    points = list(samples)
    durations = [d for d, _ in points]
    if len(points) < 2 or max(durations) < 1.5 * min(durations):
        return None
    slope, intercept = statistics.linear_regression(durations, [s for _, s in points])
    if slope <= 0 or intercept < 0:  # noise on a busy machine: the nearest bucket is safer
        return None
    return intercept, slope
