"""How long a job still needs: learned per model and track length from the jobs that finished.

Seconds of compute per second of audio (the real-time factor) differ by 20x and more
between the DSP engine and Demucs, so each model has its own; and a job has a fixed
start-up on top, so a short track takes longer per second of audio than a long one:
each model's recent jobs give a line, seconds = start-up + per-second x length. While a
job separates, its own progress rate is the better guide. Every estimate carries a
relative uncertainty; while it is wide the wire gets a range (etaRange) too.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from stemcast.jobs.models import Job
from stemcast_protocol import Stage

# Share of the whole job each stage stands for, for one 0..1 progress figure.
STAGE_SPANS = {
    Stage.DECODING: (0.0, 0.05),
    Stage.SEPARATING: (0.05, 0.95),
    Stage.WRITING: (0.95, 1.0),
}


@dataclass
class RunningJob:
    """A job on a worker, as far as the scheduler has heard."""

    job: Job
    started: float  # time.monotonic()
    stage: Stage = Stage.DECODING
    stage_fraction: float = 0.0
    separating_started: float | None = None
    fraction_at: float | None = None  # when stage_fraction last moved (time.monotonic())
    # The first point separation reached (fraction, time): the rate after it leaves out
    # the first segment's one-off start-up (model warm-up, the first decode).
    first_move: tuple[float, float] | None = None
    writing_started: float | None = None
    # Seconds per unit of stage fraction, one per progress move after the first: their
    # spread says how steady the rate is.
    segment_rates: list[float] = field(default_factory=list)

    def enter(self, stage: Stage, now: float) -> None:
        self.stage = stage
        self.stage_fraction = 0.0
        self.fraction_at = None
        if stage == Stage.SEPARATING:
            self.separating_started = now
        elif stage == Stage.WRITING:
            self.writing_started = now

    def advance(self, fraction: float, now: float) -> None:
        """The worker's figure for the current stage; the time it moved is what the ETA
        extrapolates from (progress moves a segment at a time)."""
        if fraction != self.stage_fraction:
            before, before_at = self.stage_fraction, self.fraction_at
            self.stage_fraction = fraction
            self.fraction_at = now
            if self.stage == Stage.SEPARATING and self.first_move is None and fraction > 0:
                self.first_move = (fraction, now)
            elif self.stage == Stage.SEPARATING and before_at is not None and fraction > before:
                self.segment_rates.append((now - before_at) / (fraction - before))

    def rate_spread(self) -> float:
        """How unsteady the separation rate is: the segments' coefficient of variation
        (0 until two segments were timed)."""
        rates = self.segment_rates[-8:]
        if len(rates) < 2:
            return 0.0
        mean = statistics.fmean(rates)
        return statistics.pstdev(rates) / mean if mean > 0 else 0.0

    def separating_left(self) -> float | None:
        """Seconds of separation left when progress last moved, at the rate measured."""
        if self.fraction_at is None or self.separating_started is None \
                or self.stage_fraction <= 0.02:
            return None
        fraction, at = self.stage_fraction, self.fraction_at
        if self.first_move is not None and fraction > self.first_move[0]:
            rate = (at - self.first_move[1]) / (fraction - self.first_move[0])
        else:
            rate = (at - self.separating_started) / fraction
        return rate * (1 - fraction)

    @property
    def progress(self) -> float:
        low, high = STAGE_SPANS.get(self.stage, (0.0, 1.0))
        return low + (high - low) * self.stage_fraction


# Above this relative uncertainty an estimate goes out with a range (etaRange).
RANGE_ABOVE = 0.15
MAX_UNCERTAINTY = 0.6
SAMPLES_KEPT = 8  # recent jobs per model the length fit uses


@dataclass(frozen=True)
class Estimate:
    seconds: float
    uncertainty: float  # relative: the time left is likely within seconds x (1 +- this)
    # Seconds of the estimate that are writing, outside the uncertainty (measured apart).
    fixed: float = 0.0

    @property
    def range(self) -> tuple[float, float] | None:
        if self.uncertainty < RANGE_ABOVE:
            return None
        spread = (self.seconds - self.fixed) * min(self.uncertainty, MAX_UNCERTAINTY)
        return max(self.seconds - spread, 0.0), self.seconds + spread


def _blend(known: float | None, measured: float) -> float:
    return measured if known is None else 0.5 * known + 0.5 * measured


def _line(samples: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares seconds = start-up + per-second x duration over (duration, seconds);
    None while the durations are too alike to tell the two apart."""
    points = list(samples)
    durations = [d for d, _ in points]
    if len(points) < 2 or max(durations) < 1.5 * min(durations):
        return None
    slope, intercept = statistics.linear_regression(durations, [s for _, s in points])
    if slope <= 0 or intercept < 0:  # noise on a busy machine: the plain ratio is safer
        return None
    return intercept, slope


class EtaEstimator:
    def __init__(self) -> None:
        self.realtime_factors: dict[str, float] = {}  # model -> seconds per audio second
        # model -> seconds of the writing stage (stems, peaks, stems.json) per audio second
        self.writing_factors: dict[str, float] = {}
        # model -> recent (audio seconds, processing seconds): the per-length fit
        self.samples: dict[str, deque[tuple[float, float]]] = {}

    def learn(self, model: str, processing_time: float, duration_seconds: float,
              writing_seconds: float | None = None) -> None:
        if duration_seconds <= 0:
            return
        self.realtime_factors[model] = _blend(self.realtime_factors.get(model),
                                              processing_time / duration_seconds)
        self.samples.setdefault(model, deque(maxlen=SAMPLES_KEPT)).append(
            (duration_seconds, processing_time))
        if writing_seconds is not None:
            self.writing_factors[model] = _blend(self.writing_factors.get(model),
                                                 writing_seconds / duration_seconds)

    def writing(self, job: Job) -> float:
        """Seconds the writing stage should take (half a second until one was measured)."""
        factor = self.writing_factors.get(job.model)
        return 0.5 if factor is None else factor * (job.duration_seconds or 0.0)

    def expected(self, job: Job) -> float | None:
        """Seconds this job should take, from the speed measured for its model at this
        length (the start-up + per-second line once lengths differ, else the ratio)."""
        duration = job.duration_seconds or 0.0
        line = _line(self.samples.get(job.model, ()))
        if line is not None:
            return line[0] + line[1] * duration
        rtf = self.realtime_factors.get(job.model)
        return None if rtf is None else rtf * duration

    def learned_uncertainty(self, model: str) -> float:
        """How far a learned figure may be off: wide after one job, narrower with more
        (the machine's load still moves it, so never below 20%)."""
        count = len(self.samples.get(model, ()))
        return MAX_UNCERTAINTY if count <= 1 else max(0.2, MAX_UNCERTAINTY / count ** 0.5)

    def running(self, running: RunningJob) -> float | None:
        return seconds_of(self.running_estimate(running))

    def running_estimate(self, running: RunningJob) -> Estimate | None:
        now = time.monotonic()
        writing = self.writing(running.job)
        left_then = running.separating_left() if running.stage == Stage.SEPARATING else None
        if left_then is not None and running.fraction_at is not None:
            # The rate measured when progress last moved, counted down since: measured
            # from "now", an estimate would climb while a segment runs and drop when it ends.
            # Early on one segment's rate says little; an unsteady rate says little too.
            uncertainty = 0.02 / running.stage_fraction + running.rate_spread()
            return Estimate(max(left_then - (now - running.fraction_at), 0.0) + writing,
                            uncertainty, writing)
        if running.stage == Stage.WRITING and running.writing_started is not None:
            return Estimate(max(writing - (now - running.writing_started), 0.1), 0.0)
        expected = self.expected(running.job)
        if expected is not None and running.job.duration_seconds:
            return Estimate(max(expected - (now - running.started), 0.0),
                            self.learned_uncertainty(running.job.model))
        return None

    def queued(self, job: Job, running: Iterable[RunningJob], queue: Iterable[Job],
               workers: int) -> float | None:
        """The work ahead of `job` shared over the workers, then its own."""
        return seconds_of(self.queued_estimate(job, running, queue, workers))

    def queued_estimate(self, job: Job, running: Iterable[RunningJob], queue: Iterable[Job],
                        workers: int) -> Estimate | None:
        own = self.expected(job)
        if own is None:
            return None
        ahead = sum(self.running(r) or 0.0 for r in running)
        for other in queue:
            if other.id == job.id:
                break
            ahead += self.expected(other) or 0.0
        return Estimate(ahead / max(workers, 1) + own, self.learned_uncertainty(job.model))


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def rounded_range(estimate: Estimate | None) -> tuple[float, float] | None:
    span = None if estimate is None else estimate.range
    return None if span is None else (round(span[0], 2), round(span[1], 2))


def seconds_of(estimate: Estimate | None) -> float | None:
    return None if estimate is None else estimate.seconds
