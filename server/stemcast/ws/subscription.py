"""One client request watching one job: turns job events into that client's messages.

With binary delivery the stems also go out as stemChunk frames. Their audio is read from
the job's files (raw while it runs, WAV once done), never held per client: a pump task
sends what is final, as fast as the client takes it, so a slow client lags without
growing the server's memory, and a late joiner simply starts reading from frame 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from stemcast.jobs.events import JobChunk, JobCompleted, JobEvent, JobFailed, JobProgress
from stemcast.separation.worker import RAW_SUFFIX
from stemcast_protocol import (
    progress_message,
    stem_chunk_message,
    stems_failed_message,
    stems_ready_message,
)

log = logging.getLogger(__name__)

# Frames per stemChunk read from disk (5 s at 44.1 kHz: ~880 kB of stereo 16-bit).
CHUNK_FRAMES = 5 * 44100


def read_frames(stems_dir: str, stem: str, start: int, frames: int, channels: int) -> bytes:
    """Interleaved 16-bit frames [start, start + frames) of a stem, from its raw file while
    the job runs or from its WAV once complete (the same bytes either way)."""
    raw = Path(stems_dir) / f"{stem}{RAW_SUFFIX}"
    try:
        with raw.open("rb") as handle:
            handle.seek(start * channels * 2)
            data = handle.read(frames * channels * 2)
        if len(data) == frames * channels * 2:
            return data
    except FileNotFoundError:
        pass  # renamed into the final WAV meanwhile
    samples, _ = sf.read(Path(stems_dir) / f"{stem}.wav", start=start, frames=frames,
                         dtype="int16", always_2d=True)
    return bytes(samples.astype("<i2").tobytes())


@dataclass(eq=False)
class RequestSubscription:
    """Delivers to a session's outbox; `essential` messages are never dropped."""

    request_id: str | int | None
    track_id: str
    push: Callable[[dict[str, Any], bool], None]
    on_finished: Callable[[RequestSubscription], None]
    binary: bool = False
    wait_for_room: Callable[[], Awaitable[None]] | None = None
    job_id: str | None = None
    finished: bool = False
    # binary delivery: what is final on disk, and how far this client has been sent
    _cursor: int = 0
    _available: int = 0
    _layout: JobChunk | None = None
    _completed: JobCompleted | None = None
    _total: int | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _pump: asyncio.Task[None] | None = None

    def deliver(self, event: JobEvent) -> None:
        if self.finished:
            return
        if isinstance(event, JobProgress):
            self.push(
                progress_message(
                    request_id=self.request_id,
                    track_id=self.track_id,
                    job_id=event.job_id,
                    stage=event.stage,
                    progress=event.progress,
                    eta_seconds=event.eta_seconds,
                    queue_position=event.queue_position,
                ),
                False,
            )
        elif isinstance(event, JobChunk):
            if self.binary:
                self._layout = event
                self._available = max(self._available, event.start_frame + event.frames)
                self._start_pump()
        elif isinstance(event, JobCompleted):
            if self.binary:
                self._completed = event
                self._start_pump()
            else:
                self._ready(event)
        elif isinstance(event, JobFailed):
            self.fail(event.code, event.message, event.job_id)

    def _ready(self, event: JobCompleted) -> None:
        self.finished = True
        self.push(
            stems_ready_message(
                request_id=self.request_id,
                track_id=self.track_id,
                job_id=event.job_id,
                stems=event.stems,
                model=event.model,
                sample_rate=event.sample_rate,
                cached=event.cached,
                processing_time=event.processing_time,
            ),
            True,
        )
        self.on_finished(self)

    def fail(self, code: str, message: str, job_id: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.close()
        self.push(
            stems_failed_message(
                request_id=self.request_id,
                track_id=self.track_id,
                job_id=job_id or self.job_id,
                code=code,
                message=message,
            ),
            True,
        )
        self.on_finished(self)

    def close(self) -> None:
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()

    # ---- binary delivery -------------------------------------------------------------

    def _start_pump(self) -> None:
        self._wake.set()
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self) -> None:
        try:
            while not self.finished:
                await self._wake.wait()
                self._wake.clear()
                await self._send_available()
                if self._completed is not None and self._total is not None \
                        and self._cursor >= self._total:
                    self._ready(self._completed)
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. the files were removed under us
            log.exception("streaming stems to a client failed")
            with contextlib.suppress(Exception):
                self.fail("SEPARATION_FAILED", f"could not stream the stems: {exc}")

    async def _send_available(self) -> None:
        if self._completed is not None and self._total is None:
            await self._learn_layout_from_files(self._completed)
        end = self._total if self._total is not None else self._available
        layout = self._layout
        assert layout is not None or end == 0
        while layout is not None and self._cursor < end and not self.finished:
            frames = min(CHUNK_FRAMES, end - self._cursor)
            for stem in layout.sources:
                if self.wait_for_room is not None:
                    await self.wait_for_room()
                data = await asyncio.to_thread(read_frames, layout.stems_dir, stem,
                                               self._cursor, frames, layout.channels)
                self.push(stem_chunk_message(
                    request_id=self.request_id, track_id=self.track_id,
                    job_id=layout.job_id, stem=stem, start_frame=self._cursor, frames=frames,
                    sample_rate=layout.sample_rate, channels=layout.channels, data=data), True)
            self._cursor += frames
            end = self._total if self._total is not None else self._available

    async def _learn_layout_from_files(self, done: JobCompleted) -> None:
        """A finished job (or a cached one): the WAV files give the layout and length."""
        first = next(iter(done.stems.values()))
        info = await asyncio.to_thread(sf.info, first)
        self._total = int(info.frames)
        self._layout = JobChunk(
            job_id=done.job_id, start_frame=0, frames=int(info.frames),
            stems_dir=str(Path(first).parent), sources=tuple(done.stems),
            sample_rate=int(info.samplerate), channels=int(info.channels))
