"""How long a job still needs: learned per model, device and track length, then the job's own pace.

Seconds of compute per second of audio differ by 20x and more between the DSP engine and
Demucs, and a job has fixed parts (decode set-up, model warm-up, the first segment, file
writing) that make most of a short track's time. So the history (eta_history) keeps each
stage's seconds and progress shape per model, device and length bucket, and the server
keeps it across restarts (eta_store). With a fleet the device is the node's that ran the
job (a GPU node's timings would make a CPU node's estimates far too short, and back).
A running job's estimate is its current stage's learned length less the time spent,
leaning more on the pace the job itself shows as its progress moves; the stages after it
are the learned ones, scaled by how much slower than learned this job runs (a busy machine
is slower at all of them). Every estimate carries a relative uncertainty; while it is wide
the wire gets a range (etaRange) too.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from stemcast.jobs.eta_history import (
    STAGES,
    JobTiming,
    StageTiming,
    TimingHistory,
    TimingKey,
    length_bucket,
)
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
    stage_started: float | None = None  # None: `started` (the job began decoding)
    separating_started: float | None = None
    writing_started: float | None = None
    fraction_at: float | None = None  # when stage_fraction last moved (time.monotonic())
    # The current stage's progress moves (fraction, time.monotonic()), rising.
    moves: list[tuple[float, float]] = field(default_factory=list)
    # The stages left behind: stage -> (start, end, moves), for the history (eta_history).
    finished: dict[Stage, tuple[float, float, list[tuple[float, float]]]] = field(
        default_factory=dict)
    # Seconds per unit of stage fraction, one per progress move after the first: their
    # spread says how steady the rate is.
    segment_rates: list[float] = field(default_factory=list)
    # The device of the fleet node running it, once the node said (None: not known yet,
    # or this server's own workers).
    device: str | None = None

    @property
    def stage_start(self) -> float:
        return self.started if self.stage_started is None else self.stage_started

    def enter(self, stage: Stage, now: float) -> None:
        self.finished[self.stage] = (self.stage_start, now, self.moves)
        self.stage = stage
        self.stage_started = now
        self.stage_fraction = 0.0
        self.fraction_at = None
        self.moves = []
        self.segment_rates = []
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
            if fraction > 0:
                self.moves.append((fraction, now))
            if before_at is not None and fraction > before:
                self.segment_rates.append((now - before_at) / (fraction - before))

    def rate_spread(self) -> float:
        """How unsteady the stage's rate is: the segments' coefficient of variation
        (0 until two segments were timed)."""
        rates = self.segment_rates[-8:]
        if len(rates) < 2:
            return 0.0
        mean = statistics.fmean(rates)
        return statistics.pstdev(rates) / mean if mean > 0 else 0.0

    def linear_total(self) -> float | None:
        """The current stage's seconds at the rate its progress moved (after the first
        move, which carries the stage's one-off start-up), None before it moved."""
        if not self.moves or self.stage_fraction <= 0.02:
            return None
        fraction, at = self.moves[-1]
        elapsed = at - self.stage_start
        first, first_at = self.moves[0]
        if fraction > first:
            return elapsed + (at - first_at) / (fraction - first) * (1 - fraction)
        return elapsed / fraction

    def timing(self, now: float, duration: float | None = None) -> JobTiming:
        """What this job teaches the history, its last stage ending `now`; `duration`: the
        audio's length as the worker found it (the job's own until then)."""
        stages = {**self.finished, self.stage: (self.stage_start, now, self.moves)}
        out = {}
        for stage, (start, end, moves) in stages.items():
            seconds = max(end - start, 0.0)
            curve = tuple((f, (at - start) / seconds) for f, at in moves
                          if 0 < f < 1 and seconds > 0)
            out[stage] = StageTiming(seconds, curve)
        return JobTiming(duration or self.job.duration_seconds or 0.0, out)

    @property
    def progress(self) -> float:
        low, high = STAGE_SPANS.get(self.stage, (0.0, 1.0))
        return low + (high - low) * self.stage_fraction


# Above this relative uncertainty an estimate goes out with a range (etaRange).
RANGE_ABOVE = 0.15
MAX_UNCERTAINTY = 0.6
# The job's own pace after its stage's first move only, where no learned curve says how
# much of that move was start-up: observed up to three times the real pace.
FIRST_MOVE_UNCERTAINTY = 1.0
WRITING_UNKNOWN = 0.5  # seconds of writing assumed until a job of the model was timed
# How far the current job's pace may scale the learned later stages (a busy machine is
# slower at all of them; one slow segment is not a machine three times slower).
LOAD_LIMITS = (0.5, 3.0)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    uncertainty: float  # relative: the time left is likely within seconds x (1 +- this)
    # Seconds of the estimate outside the uncertainty (a stage's known remainder).
    fixed: float = 0.0

    @property
    def range(self) -> tuple[float, float] | None:
        if self.uncertainty < RANGE_ABOVE:
            return None
        spread = (self.seconds - self.fixed) * min(self.uncertainty, MAX_UNCERTAINTY)
        if spread < 0.05:
            return None  # nothing left to be unsure of
        return max(self.seconds - spread, 0.0), self.seconds + spread


@dataclass(frozen=True)
class _StageLeft:
    seconds: float  # of the current stage, counted to now
    load: float  # how much slower than learned this job runs (1: as learned)
    weight: float  # 0..1: how much of it is the job's own pace rather than the history
    uncertainty: float  # of the job's own pace


class EtaEstimator:
    def __init__(self, device: str = "cpu",
                 node_devices: Callable[[str], Sequence[str]] | None = None) -> None:
        """`device`: where this server's workers separate; timings learned on another
        device (a GPU, the CPU) are kept apart. `node_devices`: with a fleet, the device of
        each live node holding a model (one entry per node)."""
        self.device = device
        self.node_devices = node_devices
        self.history = TimingHistory()
        self.realtime_factors: dict[str, float] = {}  # model -> seconds per audio second

    def learn(self, model: str, timing: JobTiming,
              device: str | None = None) -> TimingKey | None:
        """A finished job's stage times, filed under the device that ran it (None: this
        server's); returns the key (None: a job with no audio length teaches nothing)."""
        if timing.duration <= 0:
            return None
        key = TimingKey(model, device or self.device, length_bucket(timing.duration))
        self.restore(key, timing)
        return key

    def restore(self, key: TimingKey, timing: JobTiming) -> None:
        """A timing learned before (the database's, at start)."""
        self.history.add(key, timing)
        rtf = timing.total / timing.duration
        known = self.realtime_factors.get(key.model)
        self.realtime_factors[key.model] = rtf if known is None else 0.5 * (known + rtf)

    def device_for(self, job: Job, running: RunningJob | None = None) -> str:
        """The device whose history estimates `job`: its node's once known. Before that
        (waiting in the fleet's queue), the nodes pull jobs as they free up, so each device
        takes a share of the queue in proportion to its live nodes times their speed (one
        GPU beside three CPUs takes most jobs): the device with the largest share is where
        the job most likely runs. A mean over devices would be right for none of them.
        Without a fleet, or with no node's device timed yet: this server's."""
        if running is not None and running.device:
            return running.device
        nodes = Counter(self.node_devices(job.model)) if self.node_devices else Counter()
        shares = {device: count / seconds for device, count in nodes.items()
                  for seconds in [self._expected(job, device)] if seconds}
        return max(shares, key=shares.__getitem__) if shares else self.device

    def _prior(self, job: Job, stage: Stage, device: str) -> float | None:
        seconds = self.history.stage_seconds(job.model, device,
                                             job.duration_seconds or 0.0, stage)
        if seconds is None and stage == Stage.WRITING:
            return WRITING_UNKNOWN
        return seconds

    def writing(self, job: Job, device: str | None = None) -> float:
        """Seconds the writing stage should take (on `device`; None: where it likely runs)."""
        seconds = self._prior(job, Stage.WRITING, device or self.device_for(job))
        return WRITING_UNKNOWN if seconds is None else seconds

    def expected(self, job: Job, device: str | None = None) -> float | None:
        """Seconds this job should take from the start, from the jobs of its model (and
        length) that finished on `device` (None: where it likely runs); None before any did."""
        return self._expected(job, device or self.device_for(job))

    def _expected(self, job: Job, device: str) -> float | None:
        if not job.duration_seconds:
            return None
        separating = self._prior(job, Stage.SEPARATING, device)
        if separating is None:
            return None
        return ((self._prior(job, Stage.DECODING, device) or 0.0) + separating
                + self.writing(job, device))

    def _same_length_known(self, job: Job, device: str) -> bool:
        return bool(self.history.same_bucket(job.model, device, job.duration_seconds or 0.0))

    def learned_uncertainty(self, job: Job, device: str | None = None) -> float:
        found = self.history.uncertainty(job.model, device or self.device_for(job),
                                         job.duration_seconds or 0.0)
        return MAX_UNCERTAINTY if found is None else found

    def running(self, running: RunningJob) -> float | None:
        return seconds_of(self.running_estimate(running))

    def running_estimate(self, running: RunningJob) -> Estimate | None:
        now = time.monotonic()
        job = running.job
        if running.stage not in STAGES:
            return None
        device = self.device_for(job, running)
        current = self._stage_left(running, now, device)
        if current is None:
            return None
        later = 0.0
        for stage in STAGES[STAGES.index(running.stage) + 1:]:
            prior = self._prior(job, stage, device)
            if prior is None:
                return None  # nothing learned of this model's separation yet
            later += prior * current.load
        learned = self.learned_uncertainty(job, device)
        uncertainty = current.weight * current.uncertainty + (1 - current.weight) * learned
        fixed = current.seconds if running.stage == Stage.WRITING else 0.0
        return Estimate(max(current.seconds + later, 0.1), uncertainty, fixed)

    def _stage_left(self, running: RunningJob, now: float, device: str) -> _StageLeft | None:
        """The current stage's seconds left: its learned length less the time spent, and
        as progress moves, more and more the pace measured (the share of the stage that
        similar jobs had spent at this figure says how far along it is)."""
        job, stage = running.job, running.stage
        prior = self._prior(job, stage, device)
        if not running.moves:
            if prior is None:
                return None if stage != Stage.DECODING else _StageLeft(0.0, 1.0, 0.0, 0.0)
            spent = now - running.stage_start
            load = (min(max(spent / prior, 1.0), LOAD_LIMITS[1])
                    if prior > 0 and self._same_length_known(job, device) else 1.0)
            return _StageLeft(max(prior - spent, 0.0), load, 0.0, 0.0)
        fraction, at = running.moves[-1]
        spent = at - running.stage_start
        share = self.history.share(job.model, device, job.duration_seconds or 0.0,
                                   stage, fraction)
        # How unsure the job's own pace is: early in the stage, segments of unsteady
        # times, or similar jobs that reached this figure at unlike shares of the stage.
        uncertainty = running.rate_spread()
        if share is not None and share[0] >= 0.02:
            own, along = spent / share[0], share[0]
            uncertainty += share[1]
        else:
            linear, along = running.linear_total(), fraction
            own = spent / max(fraction, 0.02) if linear is None else linear
            if len(running.moves) < 2:
                # One move is one segment's time with the stage's start-up in it (a model
                # warming up): extrapolated, it can say three times the real length.
                uncertainty += FIRST_MOVE_UNCERTAINTY
        uncertainty += 0.02 / along
        if prior is None or prior <= 0:
            total, load, weight = own, 1.0, 1.0
        else:
            # Each side weighed by how sure it is (inverse variance): early on one
            # segment's pace says little; half way in, it says more than the history.
            learned = self.learned_uncertainty(job, device) ** 2
            weight = learned / (learned + uncertainty ** 2)
            total = weight * own + (1 - weight) * prior
            # A prior from other lengths is off by the fixed parts: no measure of load.
            load = (min(max(total / prior, LOAD_LIMITS[0]), LOAD_LIMITS[1])
                    if self._same_length_known(job, device) else 1.0)
        # Counted down from when progress last moved: measured from "now", an estimate
        # would climb while a segment runs and drop when it ends.
        return _StageLeft(max(total - spent - (now - at), 0.0), load, weight, uncertainty)

    def queued(self, job: Job, running: Iterable[RunningJob], queue: Iterable[Job],
               workers: int) -> float | None:
        """The work ahead of `job` shared over the workers, then its own."""
        return seconds_of(self.queued_estimate(job, running, queue, workers))

    def queued_estimate(self, job: Job, running: Iterable[RunningJob], queue: Iterable[Job],
                        workers: int) -> Estimate | None:
        device = self.device_for(job)
        own = self._expected(job, device)
        if own is None:
            return None
        ahead = sum(self.running(r) or 0.0 for r in running)
        for other in queue:
            if other.id == job.id:
                break
            ahead += self.expected(other) or 0.0
        return Estimate(ahead / max(workers, 1) + own, self.learned_uncertainty(job, device))


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def rounded_range(estimate: Estimate | None) -> tuple[float, float] | None:
    span = None if estimate is None else estimate.range
    return None if span is None else (round(span[0], 2), round(span[1], 2))


def seconds_of(estimate: Estimate | None) -> float | None:
    return None if estimate is None else estimate.seconds
