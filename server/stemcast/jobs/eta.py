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

    @property
    def progress(self) -> float:
        low, high = STAGE_SPANS.get(self.stage, (0.0, 1.0))
        return low + (high - low) * self.stage_fraction


class EtaEstimator:
    def __init__(self) -> None:
        self.realtime_factors: dict[str, float] = {}  # model -> seconds per audio second

    def learn(self, model: str, processing_time: float, duration_seconds: float) -> None:
        if duration_seconds <= 0:
            return
        rtf = processing_time / duration_seconds
        known = self.realtime_factors.get(model)
        self.realtime_factors[model] = rtf if known is None else 0.5 * known + 0.5 * rtf

    def expected(self, job: Job) -> float | None:
        """Seconds this job should take, from the speed measured for its model."""
        rtf = self.realtime_factors.get(job.model)
        return None if rtf is None else rtf * (job.duration_seconds or 0.0)

    def running(self, running: RunningJob) -> float | None:
        now = time.monotonic()
        if running.stage == Stage.SEPARATING and running.separating_started is not None \
                and running.stage_fraction > 0.02:
            spent = now - running.separating_started
            return max(spent / running.stage_fraction * (1 - running.stage_fraction), 0.0)
        if running.stage == Stage.WRITING:
            return 0.5
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
