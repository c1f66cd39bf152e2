"""The separation worker process: loads the model once, then separates job after job.

It runs in its own process (spawned, never forked: torch and threads don't fork well)
so a slow model never freezes the server and a crash takes down only this process;
the server restarts it and retries the job.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from stemcast.separation.worker_messages import (
    SeparateTask,
    Shutdown,
    TaskDone,
    TaskFailed,
    TaskProgress,
    WorkerConfig,
    WorkerModelUnavailable,
    WorkerReady,
)

log = logging.getLogger("stemcast.worker")

STEMS_JSON = "stems.json"
# Progress goes to the server at most this often; more only costs pickling.
PROGRESS_INTERVAL_S = 0.2


def _exit_with_parent(parent_pid: int) -> None:
    """A worker whose server died (kill -9, OOM) must not keep separating for nobody."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def worker_main(conn: Connection, config: WorkerConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="parent-watch").start()
    # Imported here so the server process never pays for torch.
    import torch

    from stemcast.separation.demucs_engine import DemucsEngine
    from stemcast.separation.errors import DeviceUnavailableError, ModelUnavailableError

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    engine: DemucsEngine | None = None
    unavailable: str | None = None
    try:
        engine = DemucsEngine.load(
            config.model, config.model_repo, device=config.device,
            fetch_timeout=config.fetch_timeout,
        )
        info = engine.info
        # The first forward pass pays one-off costs (allocator, kernels: ~3 s on a CPU);
        # pay them now, so the first track a DJ loads does not.
        engine.separate(np.zeros((info.channels, info.sample_rate), dtype=np.float32))
        conn.send(WorkerReady(config.model, tuple(info.sources), info.sample_rate, info.device,
                              os.getpid()))
    except (ModelUnavailableError, DeviceUnavailableError) as exc:
        unavailable = str(exc)
        conn.send(WorkerModelUnavailable(config.model, unavailable, os.getpid()))

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        if isinstance(message, Shutdown):
            return
        if not isinstance(message, SeparateTask):
            continue
        if engine is None:
            conn.send(TaskFailed(message.job_id, "MODEL_UNAVAILABLE", unavailable or "no model"))
            continue
        conn.send(_run_task(engine, message, conn))


def _run_task(engine: object, task: SeparateTask, conn: Connection) -> TaskDone | TaskFailed:
    from stemcast.audio import AudioError, decode, resample, to_channels, write_wav_atomic
    from stemcast.separation.demucs_engine import DemucsEngine

    assert isinstance(engine, DemucsEngine)
    started = time.monotonic()
    last_sent = 0.0

    def report(stage: str, fraction: float, force: bool = False) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if force or now - last_sent >= PROGRESS_INTERVAL_S:
            last_sent = now
            conn.send(TaskProgress(task.job_id, stage, min(max(fraction, 0.0), 1.0)))

    output_dir = Path(task.output_dir)
    stems_dir = output_dir / "stems"
    try:
        report("decoding", 0.0, force=True)
        audio = decode(task.input_path)
        duration = audio.duration_seconds
        audio = to_channels(resample(audio, engine.info.sample_rate), engine.info.channels)
        report("separating", 0.0, force=True)
        sources = engine.separate(audio.samples, on_progress=lambda f: report("separating", f))
        report("writing", 0.0, force=True)
        # A retried job starts from a clean folder: no stem of an earlier attempt survives.
        shutil.rmtree(output_dir, ignore_errors=True)
        stems_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[str, str] = {}
        for index, (name, samples) in enumerate(sources.items()):
            path = stems_dir / f"{name}.wav"
            write_wav_atomic(path, samples, engine.info.sample_rate)
            paths[name] = str(path.resolve())
            report("writing", (index + 1) / len(sources))
        processing_time = time.monotonic() - started
        _write_stems_json(output_dir, task, paths, engine.info.sample_rate, processing_time,
                          duration, engine.info.name)
        return TaskDone(task.job_id, paths, duration, processing_time, engine.info.sample_rate)
    except AudioError as exc:
        return TaskFailed(task.job_id, str(exc.code.value if hasattr(exc.code, "value")
                                           else exc.code), str(exc))
    except OSError as exc:
        shutil.rmtree(output_dir, ignore_errors=True)
        return TaskFailed(task.job_id, "SEPARATION_FAILED",
                          f"could not write the stems to {output_dir}: {exc}")
    except Exception as exc:  # anything else is reported, not left to kill the worker
        log.exception("job %s failed", task.job_id)
        shutil.rmtree(output_dir, ignore_errors=True)
        return TaskFailed(task.job_id, "SEPARATION_FAILED",
                          f"separation failed: {type(exc).__name__}: {exc}")


def _write_stems_json(output_dir: Path, task: SeparateTask, paths: dict[str, str],
                      sample_rate: int, processing_time: float, duration: float,
                      model: str) -> None:
    """stems.json beside the stems, as in seed 000's job folder."""
    document = {
        "job_id": task.job_id,
        "model": model,
        "format": "wav",
        "sample_rate": sample_rate,
        "duration_seconds": duration,
        "processing_time": processing_time,
        "stems": paths,
    }
    target = output_dir / STEMS_JSON
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(document, indent=2))
    os.replace(partial, target)
