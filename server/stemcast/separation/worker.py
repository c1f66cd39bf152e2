"""The separation worker process: loads the model once, then separates, segment by segment.

It runs in its own process (spawned, never forked: torch and threads don't fork well)
so a slow model never freezes the server and a crash takes down only this process;
the server restarts it and retries the job.

A worker may hold several jobs at once. Between two segments it reads its pipe and then
advances its most urgent job; while a segment runs it also peeks at the pipe between the
model's layers, and a more urgent job abandons that segment (it runs again later). So a
high-priority track waits for about one layer, not a whole segment, and a suspended job
later resumes exactly where it stopped (its output equals an uninterrupted run). Each
final region is appended to the stems' raw files and announced (TaskChunk) at once: the
server streams it to clients while separation runs.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from stemcast.audio.raw_pcm import S16, PcmLayout, layout_for
from stemcast.error_text import describe
from stemcast.lifeline import bind_to_parent, name_process
from stemcast.separation.stem_finish import finish_stems
from stemcast.separation.worker_messages import (
    CancelTask,
    Reprioritize,
    SeparateTask,
    ServerToWorker,
    Shutdown,
    TaskChunk,
    TaskDone,
    TaskFailed,
    TaskProgress,
    WorkerConfig,
    WorkerReady,
)
from stemcast.storage.atomic import write_text_atomic
from stemcast.storage.job_folder import JobFolder
from stemcast_protocol import Stage

if TYPE_CHECKING:
    from stemcast.audio.prepared import FileSource
    from stemcast.separation.engine import SeparationEngine
    from stemcast.separation.engines import EngineSet
    from stemcast.separation.streaming import Region

log = logging.getLogger("stemcast.worker")


def raw_stem_path(output_dir: str | Path, stem: str, layout: PcmLayout = S16) -> Path:
    """Interleaved samples in `layout`, exactly the WAV's data chunk, while a job runs."""
    return JobFolder.of(output_dir).raw_stem(stem, layout.raw_suffix)


def final_stem_path(output_dir: str | Path, stem: str) -> Path:
    return JobFolder.of(output_dir).stem(stem)


@dataclass
class _ActiveJob:
    task: SeparateTask
    engine: SeparationEngine
    layout: PcmLayout
    rank: int
    started: float
    duration: float = 0.0
    separation: object | None = None  # the engine's; None when shifts > 0 (done in one go)
    raw_files: dict[str, IO[bytes]] = field(default_factory=dict)
    frames_written: int = 0
    mix: FileSource | None = None  # the prepared input (a file), read by region

    @property
    def order(self) -> tuple[int, int]:
        return (self.rank, self.task.seq)


# How often an idle worker looks whether a background download has landed (seconds).
DOWNLOAD_CHECK_INTERVAL = 1.0


class _Worker:
    def __init__(self, conn: Connection, engines: EngineSet, config: WorkerConfig) -> None:
        self.conn = conn
        self.engines = engines
        self.config = config
        self.active: dict[str, _ActiveJob] = {}
        # Messages read while a segment ran (to decide whether it gives way), not yet handled.
        self._pending: deque[ServerToWorker | None] = deque()

    def run(self) -> None:
        while True:
            self._adopt_download()
            if not self.active and not self._pending:
                if self.engines.pending is not None \
                        and not self.conn.poll(DOWNLOAD_CHECK_INTERVAL):
                    continue
                if not self._handle(self._recv()):
                    return
                continue
            while self._pending or self.conn.poll(0):
                message = self._pending.popleft() if self._pending else self._recv()
                if not self._handle(message):
                    return
            if self.active:
                job = min(self.active.values(), key=lambda j: j.order)
                self._guarded(job, self._advance)

    def _adopt_download(self) -> None:
        """Between jobs' steps: switch to htdemucs once its background download landed."""
        engine = self.engines.adopt_download(self.config)
        if engine is not None:
            _warm_up(engine)
            self.conn.send(_ready_message(self.config, self.engines))

    def _recv(self) -> ServerToWorker | None:
        try:
            message: ServerToWorker = self.conn.recv()
            return message
        except (EOFError, OSError):
            return None  # the server went away

    def _urgent_arrived(self, running: _ActiveJob) -> bool:
        """Asked between the running segment's layers: read what the server sent (kept in
        order for run()) and say whether it must stop for it."""
        while self.conn.poll(0):
            message = self._recv()
            self._pending.append(message)
            if self._preempts(message, running):
                return True
        return False

    def _preempts(self, message: ServerToWorker | None, running: _ActiveJob) -> bool:
        if message is None or isinstance(message, Shutdown):
            return True
        if isinstance(message, SeparateTask):
            return (message.priority_rank, message.seq) < running.order
        if isinstance(message, CancelTask):
            return message.job_id == running.task.job_id
        if isinstance(message, Reprioritize) and message.job_id in self.active:
            other = self.active[message.job_id]
            return (message.priority_rank, other.task.seq) < running.order
        return False

    def _handle(self, message: ServerToWorker | None) -> bool:
        if message is None or isinstance(message, Shutdown):
            return False
        if isinstance(message, SeparateTask):
            self._begin(message)
        elif isinstance(message, Reprioritize) and message.job_id in self.active:
            self.active[message.job_id].rank = message.priority_rank
        elif isinstance(message, CancelTask) and message.job_id in self.active:
            job = self.active.pop(message.job_id)
            self._close(job)
            shutil.rmtree(job.task.output_dir, ignore_errors=True)
        return True

    def _guarded(self, job: _ActiveJob, action: object) -> None:
        """Run a step of a job; any failure fails that job only, with a clear reason."""
        from stemcast.audio import AudioError

        assert callable(action)
        try:
            action(job)
        except AudioError as exc:
            self._fail(job, exc.code.value, str(exc))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                self._fail(job, "DISK_FULL",
                           f"no space left to write the stems in {job.task.output_dir} ({exc}); "
                           "free disk space or lower --cache-max-gb")
            else:
                self._fail(job, "SEPARATION_FAILED",
                           f"could not write the stems to {job.task.output_dir}: {exc}")
        except Exception as exc:  # reported, never left to kill the worker
            log.exception("job %s failed", job.task.job_id)
            self._fail(job, "SEPARATION_FAILED", f"separation failed: {describe(exc)}")

    def _fail(self, job: _ActiveJob, code: str, message: str) -> None:
        self.active.pop(job.task.job_id, None)
        self._close(job)
        shutil.rmtree(job.task.output_dir, ignore_errors=True)
        self.conn.send(TaskFailed(job.task.job_id, code, message))

    @staticmethod
    def _close(job: _ActiveJob) -> None:
        for handle in job.raw_files.values():
            handle.close()
        job.raw_files.clear()

    # ---- a job's life --------------------------------------------------------------

    def _begin(self, task: SeparateTask) -> None:
        model = task.options.model or self.engines.default or ""
        engine = self.engines.engines.get(model) or self.engines.late_engine(model, self.config)
        if engine is None:
            self.conn.send(TaskFailed(task.job_id, "MODEL_UNAVAILABLE",
                                      self.engines.unavailable(model)))
            return
        layout = layout_for(task.options.subtype)
        job = _ActiveJob(task, engine, layout, task.priority_rank, time.monotonic())
        self.active[task.job_id] = job

        def prepare(job: _ActiveJob) -> None:
            from stemcast.audio.prepared import MIX_FILE, prepare_mix

            self.conn.send(TaskProgress(task.job_id, Stage.DECODING, 0.0))
            info = engine.info
            # A retried job starts from a clean folder: nothing of an earlier attempt stays.
            shutil.rmtree(task.output_dir, ignore_errors=True)
            JobFolder.of(task.output_dir).stems_dir.mkdir(parents=True)
            # Decoded, hashed and resampled block by block into a file in the job's folder;
            # the engine reads it by region (memory does not grow with the track).
            prepared = prepare_mix(task.input_path, Path(task.output_dir) / MIX_FILE,
                                   info.sample_rate, info.channels)
            if task.pcm_hash and prepared.pcm_hash != task.pcm_hash:
                # Stems of other audio must never be filed under this job's key.
                self.active.pop(task.job_id, None)
                shutil.rmtree(task.output_dir, ignore_errors=True)
                self.conn.send(TaskFailed(task.job_id, "AUDIO_CHANGED", (
                    f"'{task.input_path}' changed after this job was queued: it no longer "
                    "holds the audio that was asked for")))
                return
            job.duration = prepared.duration_seconds
            job.mix = prepared.source
            job.raw_files = {name: raw_stem_path(task.output_dir, name, layout).open("wb")
                             for name in info.sources}
            self.conn.send(TaskProgress(task.job_id, Stage.SEPARATING, 0.0))
            # Demucs's shifts run side by side, segment by segment (separation/shifted.py).
            job.separation = engine.start(job.mix, shifts=task.options.shifts, seed=task.seed)

        self._guarded(job, prepare)

    def _advance(self, job: _ActiveJob) -> None:
        from stemcast.separation.streaming import SegmentInterrupted

        separation: Any = job.separation
        assert separation is not None
        try:
            region = job.engine.step(separation, lambda: self._urgent_arrived(job))
        except SegmentInterrupted:
            return  # its state is untouched: the segment runs again when the job resumes
        if region is not None:
            self._write_region(job, region)
        self.conn.send(TaskProgress(job.task.job_id, Stage.SEPARATING, float(separation.progress)))
        if separation.done:
            self._finish(job)

    def _write_region(self, job: _ActiveJob, region: Region) -> None:
        for index, name in enumerate(job.engine.info.sources):
            handle = job.raw_files[name]
            handle.write(job.layout.encode(region.stems[index]))
            handle.flush()  # on disk (page cache) before the server is told
        job.frames_written = region.start + region.frames
        self.conn.send(TaskChunk(job.task.job_id, region.start, region.frames))

    def _finish(self, job: _ActiveJob) -> None:
        """WAV files from the raw data (the same bytes), renamed into place, the waveform
        peaks, then stems.json."""

        task = job.task
        info = job.engine.info
        layout = job.layout
        self.conn.send(TaskProgress(task.job_id, Stage.WRITING, 0.0))
        self._close(job)
        paths = finish_stems(Path(task.output_dir), info.sources, layout, info.channels,
                             info.sample_rate, job.mix, lambda index: self.conn.send(
                                 TaskProgress(task.job_id, Stage.WRITING,
                                              (index + 1) / len(info.sources))))
        if job.mix is not None:
            job.mix.path.unlink(missing_ok=True)
        processing_time = time.monotonic() - job.started
        _write_stems_json(Path(task.output_dir), task, paths, info.sample_rate,
                          processing_time, job.duration, info.name, layout)
        self.active.pop(task.job_id, None)
        self.conn.send(TaskDone(task.job_id, paths, job.duration, processing_time,
                                info.sample_rate))


def worker_main(conn: Connection, config: WorkerConfig, parent_pid: int | None = None,
                use_death_signal: bool = False) -> None:
    # First: a worker whose server died (kill -9, OOM) must not keep separating for nobody.
    bind_to_parent(parent_pid or os.getppid(), use_death_signal)
    name_process("stem-worker")
    config.log.apply()  # the server's level and format (--log-json: JSON lines here too)
    log.info("worker %d loading model %s (device %s, precision %s)", os.getpid(),
             config.model, config.device, config.precision)
    if config.numba_cache:
        # Before librosa (the DSP engine) imports numba: see stemcast.cpu_pool.
        os.environ["NUMBA_CACHE_DIR"] = config.numba_cache
    # Imported here so the server process never pays for torch.
    import torch

    from stemcast.separation.engines import load_engines

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    engines = load_engines(config)
    # Only the default engine is warmed before the worker says it is ready: a second pass
    # over Spleeter's networks (spleeter-2stems beside offline) would double the wait for
    # a server that must be ready in seconds; an engine named by a request pays its
    # one-off costs on its first track.
    default = engines.engines.get(engines.default or "")
    if default is not None and getattr(default, "warm_up_pays", True):
        _warm_up(default)
    conn.send(_ready_message(config, engines))
    _Worker(conn, engines, config).run()


def _warm_up(engine: SeparationEngine) -> None:
    """The first pass pays one-off costs (allocator, kernels: ~3 s for Demucs on a CPU);
    pay them now, so the first track a DJ loads does not."""
    info = engine.info
    engine.separate(np.zeros((info.channels, info.sample_rate), dtype=np.float32))


def _ready_message(config: WorkerConfig, engines: EngineSet) -> WorkerReady:
    """Sent at start, and again when the worker switches to a downloaded model."""
    return WorkerReady(requested_model=config.model, default_model=engines.default,
                       models=engines.describe(), pid=os.getpid(), choice=engines.choice,
                       default_error=engines.default_error)


def _write_stems_json(output_dir: Path, task: SeparateTask, paths: dict[str, str],
                      sample_rate: int, processing_time: float, duration: float,
                      model: str, layout: PcmLayout) -> None:
    """stems.json beside the stems, as in seed 000's job folder."""
    document = {
        "job_id": task.job_id,
        "model": model,
        "format": "wav",
        "subtype": layout.wav_subtype,
        "sample_rate": sample_rate,
        "duration_seconds": duration,
        "processing_time": processing_time,
        "stems": paths,
    }
    write_text_atomic(JobFolder(output_dir).stems_json, json.dumps(document, indent=2))
