"""`auto` without Demucs weights: the offline engine at once, and the switch to htdemucs
when its background download lands, through a real worker loop on a real pipe."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from pathlib import Path

import pytest

from stemcast.separation.engines import load_engines
from stemcast.separation.hf_hub import BackgroundFetch, _Fetch
from stemcast.separation.random_model import build_htdemucs
from stemcast.separation.worker import _Worker
from stemcast.separation.worker_messages import (
    SeparateTask,
    Shutdown,
    TaskDone,
    TaskOptions,
    WorkerConfig,
    WorkerReady,
    WorkerToServer,
)
from stemcast.storage.job_folder import JobFolder
from tests.support.audio_fixtures import make_music_like_signal, write_audio

DEADLINE_S = 300.0


@pytest.fixture
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkerConfig:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(variable, raising=False)
    return WorkerConfig(model="auto", model_repo=None, device="cpu", fetch_timeout=20.0,
                        precision="fp32")


def test_auto_without_weights_is_the_offline_engine_and_says_why(
        offline_env: WorkerConfig) -> None:
    engines = load_engines(offline_env)
    assert engines.default == "offline"
    assert list(engines.engines) == ["offline", "spleeter-2stems", "dsp"]
    assert "htdemucs's weights are not on disk" in engines.choice
    assert "HF_HUB_OFFLINE=1" in engines.choice and engines.pending is None
    kinds = {m.name: m.kind for m in engines.describe()}
    assert kinds == {"offline": "spleeter", "spleeter-2stems": "spleeter", "dsp": "dsp"}
    # The command line loads only the engine it runs, and never starts a download.
    one = load_engines(offline_env, offer_dsp=False, background_download=False)
    assert list(one.engines) == ["offline"] and one.pending is None


def test_a_model_named_explicitly_never_falls_back(offline_env: WorkerConfig) -> None:
    from dataclasses import replace

    engines = load_engines(replace(offline_env, model="htdemucs"))
    assert engines.default is None and engines.default_error is not None
    assert "--model-repo" in engines.default_error
    assert list(engines.engines) == ["dsp"]
    spleeter = load_engines(replace(offline_env, model="spleeter-2stems"))
    assert spleeter.default == "spleeter-2stems"
    assert set(spleeter.engines) == {"spleeter-2stems", "offline", "dsp"}


def test_a_landed_download_switches_new_jobs(offline_env: WorkerConfig, tmp_path: Path) -> None:
    """The worker serves `offline` while htdemucs downloads; when the download is done it
    says so (a second WorkerReady) and new jobs naming htdemucs run on it. The download
    itself cannot run here (no network): its result, a small htdemucs the test builds,
    is handed over exactly as the download thread hands over what it fetched."""
    engines = load_engines(offline_env)
    fetch = _Fetch()
    engines.pending = BackgroundFetch("htdemucs", fetch)
    server_end, worker_end = mp.Pipe(duplex=True)
    worker = threading.Thread(target=_Worker(worker_end, engines, offline_env).run, daemon=True)
    worker.start()
    clip = write_audio(tmp_path / "clip.wav", make_music_like_signal(3.0, seed=7), 44100)

    def run(job_id: str, model: str) -> TaskDone:
        server_end.send(SeparateTask(job_id, str(clip), str(tmp_path / job_id),
                                     options=TaskOptions(model=model)))
        return next(m for m in messages() if isinstance(m, TaskDone) and m.job_id == job_id)

    def messages() -> list[WorkerToServer]:
        seen = []
        while server_end.poll(DEADLINE_S):
            message = server_end.recv()
            seen.append(message)
            if isinstance(message, TaskDone | WorkerReady):
                return seen
        raise AssertionError("the worker said nothing within the deadline")

    try:
        before = run("before", "offline")
        assert set(before.stems) == {"drums", "bass", "other", "vocals"}
        fetch.model = build_htdemucs("tiny", seed=3)
        fetch.done.set()
        ready = next(m for m in messages() if isinstance(m, WorkerReady))
        assert ready.default_model == "htdemucs"
        assert "downloaded in the background" in ready.choice
        assert [m.name for m in ready.models][:2] == ["htdemucs", "offline"]
        after = run("after", "htdemucs")
        document = json.loads(JobFolder(tmp_path / "after").stems_json.read_text())
        assert document["model"] == "htdemucs" and set(after.stems) == set(before.stems)
        # Jobs for the offline engine still run on it.
        again = run("again", "offline")
        again_json = JobFolder(tmp_path / "again").stems_json
        assert json.loads(again_json.read_text())["model"] == "offline"
        assert again.stems
    finally:
        server_end.send(Shutdown())
        worker.join(timeout=DEADLINE_S)
    assert not worker.is_alive()
