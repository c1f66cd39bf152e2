"""How long a job still needs: learned per model from the jobs that finished.

Seconds of compute per second of audio (the real-time factor) differ by 20x and more
between the DSP engine and Demucs, so each model has its own. While a job separates,
its own progress rate is the better guide.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

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
            self.stage_fraction = fraction
            self.fraction_at = now
            if self.stage == Stage.SEPARATING and self.first_move is None and fraction > 0:
                self.first_move = (fraction, now)

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


def _blend(known: float | None, measured: float) -> float:
    return measured if known is None else 0.5 * known + 0.5 * measured


class EtaEstimator:
    def __init__(self) -> None:
        self.realtime_factors: dict[str, float] = {}  # model -> seconds per audio second
        # model -> seconds of the writing stage (stems, peaks, stems.json) per audio second
        self.writing_factors: dict[str, float] = {}

    def learn(self, model: str, processing_time: float, duration_seconds: float,
              writing_seconds: float | None = None) -> None:
        if duration_seconds <= 0:
            return
        self.realtime_factors[model] = _blend(self.realtime_factors.get(model),
                                              processing_time / duration_seconds)
        if writing_seconds is not None:
            self.writing_factors[model] = _blend(self.writing_factors.get(model),
                                                 writing_seconds / duration_seconds)

    def writing(self, job: Job) -> float:
        """Seconds the writing stage should take (half a second until one was measured)."""
        factor = self.writing_factors.get(job.model)
        return 0.5 if factor is None else factor * (job.duration_seconds or 0.0)

    def expected(self, job: Job) -> float | None:
        """Seconds this job should take, from the speed measured for its model."""
        rtf = self.realtime_factors.get(job.model)
        return None if rtf is None else rtf * (job.duration_seconds or 0.0)

    def running(self, running: RunningJob) -> float | None:
        now = time.monotonic()
        writing = self.writing(running.job)
        left_then = running.separating_left() if running.stage == Stage.SEPARATING else None
        if left_then is not None and running.fraction_at is not None:
            # The rate measured when progress last moved, counted down since: measured
            # from "now", an estimate would climb while a segment runs and drop when it ends.
            return max(left_then - (now - running.fraction_at), 0.0) + writing
        if running.stage == Stage.WRITING and running.writing_started is not None:
            return max(writing - (now - running.writing_started), 0.1)
        expected = self.expected(running.job)
        if expected is not None and running.job.duration_seconds:
            return max(expected - (now - running.started), 0.0)
        return None

    def queued(self, job: Job, running: Iterable[RunningJob], queue: Iterable[Job],
               workers: int) -> float | None:
        """The work ahead of `job` shared over the workers, then its own."""
        own = self.expected(job)
        if own is None:
            return None
        ahead = sum(self.running(r) or 0.0 for r in running)
        for other in queue:
            if other.id == job.id:
                break
            ahead += self.expected(other) or 0.0
        return ahead / max(workers, 1) + own


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
