"""The ETA estimator: learned per model and track length, and honest about how sure it is
(a range while early or unsteady, one figure once it narrows)."""

from __future__ import annotations

import time

from stemcast.jobs.eta import EtaEstimator, RunningJob
from stemcast.jobs.eta_history import JobTiming, StageTiming, TimingKey, length_bucket
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


def _timing(duration: float, decoding: float, separating: float, writing: float,
            curve: tuple[tuple[float, float], ...] = ()) -> JobTiming:
    return JobTiming(duration, {Stage.DECODING: StageTiming(decoding),
                                Stage.SEPARATING: StageTiming(separating, curve),
                                Stage.WRITING: StageTiming(writing)})


def test_learned_per_model_and_track_length() -> None:
    eta = EtaEstimator()
    # 5 s of start-up plus 0.2 s per audio second, measured at two lengths
    eta.learn("demucs", _timing(10.0, 0.0, 7.0, 0.0))
    eta.learn("demucs", _timing(100.0, 0.0, 25.0, 0.0))
    eta.learn("dsp", _timing(100.0, 0.0, 1.0, 0.0))
    long = eta.expected(_job("demucs", 200.0))
    assert long is not None and abs(long - 45.0) < 1e-6  # the line, no job that long
    same = eta.expected(_job("demucs", 110.0))
    assert same is not None and abs(same - 27.5) < 1e-6  # its bucket's job, scaled
    assert eta.expected(_job("dsp", 50.0)) == 0.5  # one length known: scaled from it
    assert eta.expected(_job("other", 50.0)) is None


def test_one_warm_up_outlier_does_not_steer_the_bucket() -> None:
    eta = EtaEstimator()
    eta.learn("m", _timing(15.0, 0.1, 16.0, 0.5))  # the model's first job: warm-up
    for _ in range(3):
        eta.learn("m", _timing(15.0, 0.1, 0.6, 0.5))
    expected = eta.expected(_job("m", 15.0))
    assert expected is not None and abs(expected - 1.2) < 1e-6


def test_the_shape_of_similar_jobs_reads_a_progress_figure() -> None:
    """A short job that spends 90 % of its separation on the first of two halves: at
    half way, little is left, not as much again."""
    eta = EtaEstimator()
    for _ in range(3):
        eta.learn("m", _timing(100.0, 0.0, 10.0, 1.0, curve=((0.5, 0.9),)))
    running = _separating([9.0], step=0.5)
    estimate = eta.running_estimate(running)
    assert estimate is not None
    assert abs(estimate.seconds - 2.0) < 0.1  # 1 s of separation and 1 s of writing
    # without the shape the pace so far says 9 s more
    plain = EtaEstimator().running_estimate(_separating([9.0], step=0.5))
    assert plain is not None and plain.seconds > 9.0


def test_a_slower_job_scales_the_stages_after_it() -> None:
    eta = EtaEstimator()
    for _ in range(3):
        eta.learn("m", _timing(100.0, 0.0, 10.0, 4.0, curve=((0.5, 0.5),)))
    running = _separating([10.0], step=0.5)  # half way in 10 s: twice as slow as learned
    estimate = eta.running_estimate(running)
    assert estimate is not None
    # about 10 s of separation and 8 s of writing left (the learned 4 s, as slow as the
    # rest): half way in, the job's own pace outweighs three jobs' history
    assert abs(estimate.seconds - 18.0) < 0.5


def test_a_queued_estimate_narrows_with_more_jobs_learned() -> None:
    eta = EtaEstimator()
    eta.learn("m", _timing(100.0, 1.0, 18.0, 1.0))
    first = eta.queued_estimate(_job(), [], [], 1)
    for _ in range(7):
        eta.learn("m", _timing(100.0, 1.0, 18.0, 1.0))
    many = eta.queued_estimate(_job(), [], [], 1)
    assert first is not None and many is not None
    assert first.range is not None and many.range is not None
    assert many.range[1] - many.range[0] < first.range[1] - first.range[0]


def test_a_finished_job_gives_its_stage_times_and_curve() -> None:
    running = RunningJob(_job(duration=30.0), started=100.0)
    running.enter(Stage.SEPARATING, 101.0)
    running.advance(0.5, 105.0)
    running.advance(1.0, 109.0)
    running.enter(Stage.WRITING, 109.0)
    running.advance(0.5, 110.0)
    timing = running.timing(111.0)
    assert timing.duration == 30.0
    assert timing.stages[Stage.DECODING] == StageTiming(1.0, ())
    assert timing.stages[Stage.SEPARATING] == StageTiming(8.0, ((0.5, 0.5),))
    assert timing.stages[Stage.WRITING] == StageTiming(2.0, ((0.5, 0.5),))


def test_the_wire_has_eta_range_only_while_uncertain() -> None:
    common = dict(request_id=None, track_id="t", job_id="j", stage=Stage.SEPARATING,
                  progress=0.5, eta_seconds=20.0, queue_position=0)
    assert "etaRange" not in progress_message(**common)  # type: ignore[arg-type]
    assert progress_message(**common, eta_range=(15.0, 25.0))[  # type: ignore[arg-type]
        "etaRange"] == [15.0, 25.0]


def test_writing_is_learned_from_any_model_of_the_same_length() -> None:
    eta = EtaEstimator()
    eta.learn("a", _timing(15.0, 0.1, 1.0, 1.0))
    eta.learn("a", _timing(180.0, 1.0, 10.0, 9.0))
    eta.learn("b", _timing(15.0, 0.1, 3.0, 1.0))
    # b never wrote a 3-minute track, a did: its 9 s, not b's 1 s x 12
    assert eta.writing(_job("b", 180.0)) == 9.0


def test_the_first_move_alone_does_not_outweigh_the_history_of_other_lengths() -> None:
    """A first segment's time carries the stage's start-up: extrapolated alone, it says far
    more than the real length, so what other lengths taught still counts until a second."""
    eta = EtaEstimator()
    for duration in (20.0, 40.0, 80.0):  # 1 s of start-up + 0.1 s per second of audio
        eta.learn("m", _timing(duration, 0.0, 1.0 + 0.1 * duration, 0.5))
    first = eta.running_estimate(_separating([3.0], step=0.1))  # 10 % in 3 s, start-up in it
    assert first is not None
    alone = 3.0 / 0.1 - 3.0  # 27 s left by the one move's pace
    learned = (1.0 + 0.1 * 100.0) - 3.0  # 8 s left by the history
    assert abs(first.seconds - learned) < abs(first.seconds - alone) / 2, first
    assert first.range is not None  # and unsure: a range goes with it
    # Once the stage moved twice, its own pace between the moves leads.
    second = eta.running_estimate(_separating([3.0, 0.5], step=0.1))
    assert second is not None and second.seconds < first.seconds


def _running_on(device: str | None) -> RunningJob:
    """A job that has just begun separating (no pace of its own yet) on `device`."""
    now = time.monotonic()
    running = RunningJob(_job(), started=now - 1.0, device=device)
    running.enter(Stage.SEPARATING, now)
    return running


def test_timings_are_kept_and_used_per_node_device() -> None:
    """A GPU node and a CPU node of one fleet: each job is learned and estimated with the
    history of the device that runs it, not the API server's --device."""
    eta = EtaEstimator("auto")
    for _ in range(3):
        assert eta.learn("m", _timing(100.0, 1.0, 10.0, 1.0), "cuda:0") == \
            TimingKey("m", "cuda:0", length_bucket(100.0))
        eta.learn("m", _timing(100.0, 1.0, 200.0, 1.0), "cpu")
    assert set(eta.history.jobs) == {TimingKey("m", "cuda:0", length_bucket(100.0)),
                                     TimingKey("m", "cpu", length_bucket(100.0))}
    gpu = eta.running_estimate(_running_on("cuda:0"))
    cpu = eta.running_estimate(_running_on("cpu"))
    assert gpu is not None and cpu is not None
    # the learned separation and writing of each device: 10 + 1 s, 200 + 1 s
    assert abs(gpu.seconds - 11.0) < 0.5 and abs(cpu.seconds - 201.0) < 0.5
    # No node named yet and no fleet: the server's own device, which ran nothing here.
    assert eta.running_estimate(_running_on(None)) is None
    # Embedded mode: no device given files under the server's.
    assert eta.learn("m", _timing(100.0, 1.0, 20.0, 1.0)) == \
        TimingKey("m", "auto", length_bucket(100.0))


def _fleet_eta(nodes: list[str], gpu_seconds: float) -> EtaEstimator:
    eta = EtaEstimator("auto", node_devices=lambda model: nodes if model == "m" else [])
    eta.learn("m", _timing(100.0, 0.0, gpu_seconds, 0.0), "cuda:0")
    eta.learn("m", _timing(100.0, 0.0, 100.0, 0.0), "cpu")
    return eta


def test_a_waiting_job_is_estimated_where_it_most_likely_runs() -> None:
    """Nodes take the queue's jobs as they free up: a device's share is its live nodes
    times their speed."""
    job = _job("m", 100.0)
    # One GPU 20x as fast beside three CPUs takes most jobs (20 : 3).
    assert _fleet_eta(["cpu", "cpu", "cpu", "cuda:0"], 5.0).device_for(job) == "cuda:0"
    assert _fleet_eta(["cpu", "cpu", "cpu", "cuda:0"], 5.0).expected(job) == 5.0
    # One only twice as fast: the three CPUs take more (3 : 2).
    assert _fleet_eta(["cpu", "cpu", "cpu", "cuda:0"], 50.0).device_for(job) == "cpu"
    # A node's device that ran nothing of this model tells nothing; a model no node
    # holds (or no fleet) falls back to the server's device.
    assert _fleet_eta(["cpu", "cuda:1"], 5.0).device_for(job) == "cpu"
    assert _fleet_eta(["cpu"], 5.0).device_for(_job("other", 100.0)) == "auto"
    # Once a node runs it, that node's device, whatever the queue's likeliest is.
    running = _running_on("cpu")
    assert _fleet_eta(["cuda:0"], 5.0).device_for(running.job, running) == "cpu"
