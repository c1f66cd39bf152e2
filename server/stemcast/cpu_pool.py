"""CPU work the event loop must not do: analysis, drum transcription, stem renditions.

One spawned process (a ProcessPoolExecutor of one) takes these jobs in order, so they
run beside the event loop and beside the separation workers, not inside either. A crash
of that process (BrokenProcessPool) is survived: the pool is made anew and the job tried
once more before its error is reported.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from stemcast.lifeline import bind_to_parent, name_process, started_from_main_thread
from stemcast.logging_setup import LogSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


def _start_pool_process(folder: str, parent_pid: int, use_death_signal: bool,
                        log_settings: LogSettings | None, role: str) -> None:
    """Runs first in each pool process: it dies with the server (stemcast.lifeline), logs
    as the server does, and uses its own numba cache."""
    bind_to_parent(parent_pid, use_death_signal)
    name_process(f"stem-{role}")
    if log_settings is not None:
        log_settings.apply()
    _use_numba_cache(folder)


def _use_numba_cache(folder: str) -> None:
    """Before librosa imports numba.

    numba caches compiled functions beside their source (librosa's, in site-packages),
    and that cache is not safe for two processes writing at once: a race leaves files
    that crash the next process to load them (a segfault in librosa's beat tracker). Each
    pool therefore compiles into a folder of its own under the data dir."""
    os.environ["NUMBA_CACHE_DIR"] = folder


class CpuPool:
    def __init__(self, numba_cache: Path, workers: int = 1,
                 log_settings: LogSettings | None = None, role: str = "cpu") -> None:
        """role: the pool's process name after "stem-" (analysis, delivery), for ps."""
        self._workers = workers
        self._role = role
        self._log_settings = log_settings
        self._numba_cache = numba_cache
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._numba_cache.mkdir(parents=True, exist_ok=True)
            # Processes start on submit, from the event loop's (main) thread: see lifeline.
            self._executor = ProcessPoolExecutor(
                self._workers, mp_context=mp.get_context("spawn"),
                initializer=_start_pool_process,
                initargs=(str(self._numba_cache), os.getpid(), started_from_main_thread(),
                          self._log_settings, self._role))
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the pool process; fn and args must be picklable."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._pool()
            try:
                return await loop.run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                if self._executor is pool:
                    self._executor = None
                    self.restarts += 1
                    pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise
                log.warning("the CPU worker process died during %s; starting a new one",
                            getattr(fn, "__name__", fn))
        raise AssertionError("unreachable")

    def warm(self, fn: Callable[[], object]) -> None:
        """Start the process now and run fn in it, in the background (no one waits)."""
        self._pool().submit(fn).add_done_callback(_log_failure)

    def shutdown(self) -> None:
        """Stop now: a long analysis still running is killed, not waited for (the server
        is going; its process must not outlive it)."""
        if self._executor is not None:
            # ProcessPoolExecutor has no public "terminate": its process table is the way.
            table: dict[int, BaseProcess] = dict(getattr(self._executor, "_processes", None)
                                                 or {})
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            for process in table.values():
                if process.is_alive():
                    process.terminate()
            for process in table.values():
                process.join(2.0)


def _log_failure(future: Future[object]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("CPU pool warm-up failed: %s", future.exception())
