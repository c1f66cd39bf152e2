"""One client request watching one job: turns job events into that client's messages.

With binary delivery the stems also go out as stemChunk frames. Their audio is read from
the job's files (raw while it runs, WAV once done), never held per client: a pump task
sends what is final, as fast as the client takes it, so a slow client lags without
growing the server's memory, and a late joiner simply starts reading from frame 0.

When the job is done the request's output options (format, rate, variant, subset) are
applied by the Renditions service, then `stemsReady` goes out; a request that asked for
`drums` then gets `drumsReady` (or `drumsFailed`) last.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from stemcast.audio.raw_pcm import PcmLayout, layout_for, read_frames
from stemcast.delivery.outputs import combine, plan_outputs
from stemcast.delivery.renditions import PUSHED_ZOOM_LEVEL
from stemcast.jobs.events import JobChunk, JobCompleted, JobEvent, JobFailed, JobProgress
from stemcast.requests import (
    DrumsReady,
    RequestFailed,
    StemsPipeline,
    StemsReady,
    undeliverable,
)
from stemcast_protocol import (
    ErrorCode,
    OutputRequest,
    drums_failed_message,
    drums_ready_message,
    progress_message,
    stem_chunk_message,
    stems_failed_message,
    stems_ready_message,
)

# Frames per stemChunk read from disk (5 s at 44.1 kHz: ~880 kB of stereo 16-bit).
CHUNK_FRAMES = 5 * 44100


def read_output_frames(stems_dir: str, parts: tuple[str, ...], start: int, frames: int,
                       channels: int, layout: PcmLayout) -> bytes:
    """One output stem's frames: a master stem, or the sum of several (outputs.combine)."""
    if len(parts) == 1:
        return read_frames(stems_dir, parts[0], start, frames, channels, layout)
    blocks = [np.frombuffer(read_frames(stems_dir, part, start, frames, channels, layout),
                            dtype=layout.dtype) for part in parts]
    return bytes(combine(blocks).astype(layout.dtype).tobytes())


@dataclass(eq=False)
class RequestSubscription:
    """Delivers to a session's outbox; `essential` messages are never dropped."""

    request_id: str | int | None
    track_id: str
    push: Callable[[dict[str, Any], bool], None]
    on_finished: Callable[[RequestSubscription], None]
    pipeline: StemsPipeline
    output: OutputRequest = field(default_factory=OutputRequest)
    drums: bool = False
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
    _finishing: asyncio.Task[None] | None = None

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
                    eta_range=event.eta_range,
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

    # ---- the end of a request ----------------------------------------------------------

    def _ready(self, event: JobCompleted) -> None:
        if self._finishing is None:
            self._finishing = asyncio.get_running_loop().create_task(self._finish(event))

    async def _finish(self, event: JobCompleted) -> None:
        stems = await self.pipeline.finish(event, self.output, (PUSHED_ZOOM_LEVEL,))
        if isinstance(stems, RequestFailed):
            self.fail(stems.code, stems.message, stems.job_id)
            return
        if self.finished:
            return
        self.push(self._stems_ready(stems), True)
        if self.drums:
            drums = await self.pipeline.transcribe_drums(event, self.track_id)
            if self.finished:
                return  # cancelled while transcribing
            self.push(self._drums_message(drums), True)
        self.finished = True
        self.on_finished(self)

    def _stems_ready(self, ready: StemsReady) -> dict[str, Any]:
        event, spec = ready.completed, ready.delivered.spec
        return stems_ready_message(
            request_id=self.request_id, track_id=self.track_id, job_id=event.job_id,
            stems=ready.delivered.stems, model=event.model, sample_rate=spec.sample_rate,
            cached=event.cached, processing_time=event.processing_time, format=spec.format,
            bit_depth=spec.stated_bit_depth, bitrate=spec.bitrate, variant=spec.variant,
            waveforms=ready.delivered.waveforms)

    def _drums_message(self, drums: DrumsReady | RequestFailed) -> dict[str, Any]:
        if isinstance(drums, RequestFailed):
            return drums_failed_message(request_id=self.request_id, track_id=self.track_id,
                                        job_id=drums.job_id, code=ErrorCode(drums.code),
                                        message=drums.message)
        return drums_ready_message(
            request_id=self.request_id, track_id=self.track_id, job_id=drums.job_id,
            onsets=drums.onsets, midi=drums.midi, onsets_url=drums.onsets_url,
            midi_url=drums.midi_url, onset_count=drums.onset_count, lanes=drums.lanes)

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
        current = asyncio.current_task()
        for task in (self._pump, self._finishing):
            if task is not None and task is not current:
                task.cancel()

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
        except Exception as exc:  # options the model cannot give, files removed under us
            failed = undeliverable(exc, self.job_id or "")
            with contextlib.suppress(Exception):
                self.fail(failed.code, failed.message)

    async def _send_available(self) -> None:
        if self._completed is not None and self._total is None:
            await self._learn_layout_from_files(self._completed)
        end = self._total if self._total is not None else self._available
        layout = self._layout
        assert layout is not None or end == 0
        if layout is None:
            return
        pcm = layout_for(layout.subtype)
        plan = plan_outputs(self.output, layout.sources)
        while self._cursor < end and not self.finished:
            frames = min(CHUNK_FRAMES, end - self._cursor)
            for stem, parts in plan.items():
                if self.wait_for_room is not None:
                    await self.wait_for_room()
                data = await asyncio.to_thread(read_output_frames, layout.stems_dir, parts,
                                               self._cursor, frames, layout.channels, pcm)
                self.push(stem_chunk_message(
                    request_id=self.request_id, track_id=self.track_id,
                    job_id=layout.job_id, stem=stem, start_frame=self._cursor, frames=frames,
                    sample_rate=layout.sample_rate, channels=layout.channels, data=data,
                    encoding=pcm.encoding), True)
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
            sample_rate=int(info.samplerate), channels=int(info.channels),
            subtype=done.subtype)
