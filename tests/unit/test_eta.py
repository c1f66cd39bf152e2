"""The ETA estimator: learned per model and track length, and honest about how sure it is
(a range while early or unsteady, one figure once it narrows)."""

from __future__ import annotations

import time

from stemcast.jobs.eta import EtaEstimator, RunningJob
from stemcast.jobs.models import Job, JobState, SeparationOptions
from stemcast_protocol import Priority, Stage, progress_message


def _job(model: str = "m", duration: float = 100.0) -> Job:
    return Job(id="j", seq=1, cache_key="k", pcm_hash="h", track_id=None, input_path="/x",
               model=model, options=SeparationOptions(), priority=Priority.NORMAL,
               state=JobState.RUNNING, stage="separating", progress=0.0, attempts=0,
               output_dir="/o", created_at="t", duration_seconds=duration)


def _separating(seconds_per_step: list[float], step: float = 0.05) -> RunningJob:
    """A job whose separation moved by `step` after each of these seconds, ending now."""
    now = time.monotonic()
    at = now - sum(seconds_per_step)
    running = RunningJob(_job(), started=at - 1.0)
    running.enter(Stage.SEPARATING, at)
    fraction = 0.0
    for seconds in seconds_per_step:
        at += seconds
        fraction += step
        running.advance(round(fraction, 6), at)
    return running


def test_the_range_narrows_as_separation_advances() -> None:
    eta = EtaEstimator()
    early = eta.running_estimate(_separating([2.0]))
    later = eta.running_estimate(_separating([2.0, 2.0]))
    settled = eta.running_estimate(_separating([2.0] * 10))
    assert early is not None and later is not None and settled is not None
    assert early.range is not None and later.range is not None
    assert early.range[0] < early.seconds < early.range[1]
    assert later.range[1] - later.range[0] < early.range[1] - early.range[0]
    assert settled.range is None  # half way at a steady rate: one figure
    # 10 s per 0.25 of separation, 0.5 left, plus the default half second of writing
    assert abs(settled.seconds - 20.5) < 1.0


def test_an_unsteady_rate_keeps_the_range() -> None:
    estimate = EtaEstimator().running_estimate(_separating([1.0, 3.0] * 5))
    assert estimate is not None and estimate.range is not None


def test_the_range_leaves_the_writing_time_out_of_the_spread() -> None:
    eta = EtaEstimator()
    eta.learn("m", 50.0, 100.0, writing_seconds=10.0)  # 0.1 s of writing per audio second
    estimate = eta.running_estimate(_separating([2.0]))
    assert estimate is not None and estimate.range is not None
    assert estimate.range[0] >= estimate.fixed == 10.0


def test_learned_per_model_and_track_length() -> None:
    eta = EtaEstimator()
    # 5 s of start-up plus 0.2 s per audio second, measured at two lengths
    eta.learn("demucs", 7.0, 10.0)
    eta.learn("demucs", 25.0, 100.0)
    eta.learn("dsp", 1.0, 100.0)
    long = eta.expected(_job("demucs", 200.0))
    short = eta.expected(_job("demucs", 20.0))
    assert long is not None and abs(long - 45.0) < 1e-6
    assert short is not None and abs(short - 9.0) < 1e-6
    # a plain seconds-per-second ratio would be far off at either end
    assert abs(long - 200.0 * eta.realtime_factors["demucs"]) > 10.0
    assert eta.expected(_job("dsp", 50.0)) == 0.5  # one length known: the ratio
    assert eta.expected(_job("other", 50.0)) is None


def test_a_fit_that_makes_no_sense_falls_back_to_the_ratio() -> None:
    eta = EtaEstimator()
    eta.learn("m", 30.0, 10.0)  # the short one was slower: a negative slope
    eta.learn("m", 20.0, 100.0)
    assert eta.expected(_job("m", 100.0)) == 100.0 * eta.realtime_factors["m"]


def test_a_queued_estimate_narrows_with_more_jobs_learned() -> None:
    eta = EtaEstimator()
    eta.learn("m", 20.0, 100.0)
    first = eta.queued_estimate(_job(), [], [], 1)
    for _ in range(7):
        eta.learn("m", 20.0, 100.0)
    many = eta.queued_estimate(_job(), [], [], 1)
    assert first is not None and many is not None
    assert first.range is not None and many.range is not None
    assert many.range[1] - many.range[0] < first.range[1] - first.range[0]


def test_the_wire_has_eta_range_only_while_uncertain() -> None:
    common = dict(request_id=None, track_id="t", job_id="j", stage=Stage.SEPARATING,
                  progress=0.5, eta_seconds=20.0, queue_position=0)
    assert "etaRange" not in progress_message(**common)  # type: ignore[arg-type]
    assert progress_message(**common, eta_range=(15.0, 25.0))[  # type: ignore[arg-type]
        "etaRange"] == [15.0, 25.0]
