"""API jobs end to end: submit, follow the shared separation job, notify, cancel, recover.

Each live API job subscribes to its separation job's event stream like any WebSocket
client does. Events are handled one at a time by a single consumer task, so each job's
record and callbacks are written in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from stemcast.analysis.service import AnalysisService
from stemcast.apijobs.callback_waveforms import write_callback_waveforms
from stemcast.apijobs.callbacks import CallbackDispatcher
from stemcast.apijobs.mismo_fields import AppFields, error_fields
from stemcast.apijobs.models import AnalysisOptions, ApiJob, ApiJobStatus, DeliveryMode
from stemcast.apijobs.stems_payload import CALLBACK_ZOOM_LEVELS, stems_data
from stemcast.apijobs.store import ApiJobStore
from stemcast.jobs.events import JobCompleted, JobEvent, JobFailed, JobProgress
from stemcast.jobs.scheduler import Scheduler
from stemcast.library.library import TrackLibrary
from stemcast.library.tracks import Track
from stemcast.requests import RequestFailed, StemsAsk, StemsPipeline, failure_for
from stemcast.tasks import cancel_and_wait
from stemcast_protocol import Priority, Stage

log = logging.getLogger(__name__)

PROGRESS_WRITE_INTERVAL = 1.0


@dataclass(eq=False)
class _ApiSubscriber:
    api_job_id: str
    inbox: asyncio.Queue[tuple[str, JobEvent]]

    def deliver(self, event: JobEvent) -> None:
        self.inbox.put_nowait((self.api_job_id, event))


def basic_features_data(track: Track) -> dict[str, Any]:
    """The basic_features callback's data: seed 000's bpm/key/mode, then the rest."""
    analysis = track.analysis_api()
    return {
        "bpm": track.bpm, "key": track.musical_key, "mode": track.mode,
        "duration_seconds": track.duration_seconds,
        "key_name": analysis["keyName"], "camelot": analysis["camelot"],
        "beats": analysis["beats"], "downbeats": analysis["downbeats"],
        "loudness_lufs": analysis["loudnessLufs"], "audible_start": analysis["audibleStart"],
        "audible_end": analysis["audibleEnd"], "analysis": track.analysis_state,
        "error": analysis["error"],
    }


class ApiJobService:
    def __init__(self, store: ApiJobStore, library: TrackLibrary, pipeline: StemsPipeline,
                 scheduler: Scheduler, callbacks: CallbackDispatcher, *,
                 analysis: AnalysisService) -> None:
        """`pipeline` admits and finishes the stems; `scheduler` only for cancelling."""
        self.store = store
        self.analysis = analysis
        self.pipeline = pipeline
        self.library = library
        self.scheduler = scheduler
        self.callbacks = callbacks
        self.app_fields = AppFields(analysis)  # seed 000's app server's fields
        self._inbox: asyncio.Queue[tuple[str, JobEvent]] = asyncio.Queue()
        self._subscribers: dict[str, _ApiSubscriber] = {}
        self._last_write: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._consumer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name="api-jobs")
        for job in await self.store.live():
            track = await self.library.get(job.track_id) if job.track_id else None
            if track is None:
                await self._fail(job.id, "TRACK_NOT_FOUND", "the job's track is gone")
                continue
            log.info("resuming API job %s after a restart", job.id)
            self._spawn(self._start(job, track, resumed=True))

    async def stop(self) -> None:
        await cancel_and_wait([*self._tasks, self._consumer])

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- submit ----------------------------------------------------------------------

    async def submit(self, *, job_id: str, track: Track, track_hash: str | None,
                     options: AnalysisOptions, priority: Priority, callback_url: str | None,
                     mode: DeliveryMode) -> ApiJob:
        existing = await self.store.get(job_id)
        if existing is not None and existing.status.is_live:
            return existing  # the same request again while it runs: one job
        if options.stems:
            self.pipeline.check_duration(track)  # said in the POST's answer, not later
        job = await self.store.create(job_id=job_id, track_id=track.id, track_hash=track_hash,
                                      options=options, priority=priority,
                                      callback_url=callback_url, delivery_mode=mode)
        self._spawn(self._start(job, track, resumed=False))
        return job

    async def _start(self, job: ApiJob, track: Track, *, resumed: bool) -> None:
        try:
            if job.options.basic_features and "basic_features" not in job.stages_completed:
                analysed = await self.analysis.wait(track, job.priority)
                # The data is only sent in a callback (its band waveforms as a reference
                # to their file, read when the body is made: callback_body.py).
                data = await self.app_fields.basic_features(
                    analysed, basic_features_data(analysed)) if job.callback_url else {}
                await self._stage_done(job.id, "basic_features", data)
            if job.options.characteristics and "characteristics" not in job.stages_completed:
                analysed = await self.analysis.wait(track, job.priority)
                await self._stage_done(job.id, "characteristics",
                                       await self.app_fields.characteristics(analysed))
        except TimeoutError:
            await self._fail(job.id, "ANALYSIS_FAILED", "the track's analysis did not finish "
                                                        "in time; see the server log")
            return
        except Exception as exc:
            failed = failure_for(exc)
            await self._fail(job.id, failed.code, failed.message)
            return
        if not job.options.stems:
            await self._complete(job.id)
            return
        subscriber = _ApiSubscriber(job.id, self._inbox)
        self._subscribers[job.id] = subscriber

        async def still_wanted() -> bool:
            current = await self.store.get(job.id)
            return current is not None and current.status.is_live  # not cancelled meanwhile

        options = job.options
        admitted = await self.pipeline.admit(
            StemsAsk(track=track, model=options.model, output=options.output,
                     priority=job.priority), subscriber, still_wanted=still_wanted)
        if isinstance(admitted, RequestFailed):
            self._subscribers.pop(job.id, None)
            await self._fail(job.id, admitted.code, admitted.message)
        elif admitted is not None:
            await self.store.update(job.id, separation_job_id=admitted.job_id)

    # ---- events ----------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            api_job_id, event = await self._inbox.get()
            try:
                await self._on_event(api_job_id, event)
            except Exception:
                log.exception("API job %s: could not handle %s", api_job_id,
                              type(event).__name__)

    async def _on_event(self, api_job_id: str, event: JobEvent) -> None:
        job = await self.store.get(api_job_id)
        if job is None or not job.status.is_live:
            return
        if isinstance(event, JobProgress):
            status = ApiJobStatus.QUEUED if event.stage == Stage.QUEUED.value \
                else ApiJobStatus.PROCESSING
            now = time.monotonic()
            if event.stage != job.stage or status != job.status or \
                    now - self._last_write.get(api_job_id, 0) >= PROGRESS_WRITE_INTERVAL:
                self._last_write[api_job_id] = now
                await self.store.update(api_job_id, status=status, stage=event.stage,
                                        progress=event.progress)
        elif isinstance(event, JobCompleted):
            self._subscribers.pop(api_job_id, None)
            await self.store.update(api_job_id, separation_job_id=event.job_id,
                                    processing_time=event.processing_time)
            # Rendering (mp3, 48 kHz, ...) and transcribing take a while: not in the
            # consumer, which keeps every other job's events moving.
            self._spawn(self._deliver(api_job_id, job, event))
        elif isinstance(event, JobFailed):
            self._subscribers.pop(api_job_id, None)
            await self._fail(api_job_id, event.code, event.message)

    async def _deliver(self, api_job_id: str, job: ApiJob, event: JobCompleted) -> None:
        stems = await self.pipeline.finish(event, job.options.output, ())
        if isinstance(stems, RequestFailed):
            await self._fail(api_job_id, stems.code, stems.message)
            return
        # The peaks only go into the stems callback, as files the outbox row refers to
        # (an hour's took the server process from 160 to 223 MB as Python lists).
        waveforms = await asyncio.to_thread(
            write_callback_waveforms, event.output_dir, stems.delivered,
            CALLBACK_ZOOM_LEVELS) if job.callback_url else None
        await self._stage_done(api_job_id, "stems", stems_data(
            mode=job.delivery_mode, api_job_id=api_job_id, delivered=stems.delivered,
            model=event.model, processing_time=event.processing_time, waveforms=waveforms))
        drums_error: RequestFailed | None = None
        if job.options.drums and job.track_id:
            drums = await self.pipeline.transcribe_drums(event, job.track_id)
            if isinstance(drums, RequestFailed):
                # The stems were delivered: the job completes, its drums stage failed.
                drums_error = drums
                await self._notify(job, "drums", "failed", error_fields(drums.code, drums.message))
            else:
                await self._stage_done(api_job_id, "drums", {
                    "onsets": drums.onsets, "midi": drums.midi,
                    "onset_count": drums.onset_count, "lanes": drums.lanes,
                    "onsets_url": drums.onsets_url, "midi_url": drums.midi_url})
        await self._complete(api_job_id, drums_error)

    async def _stage_done(self, api_job_id: str, stage: str, data: dict[str, Any]) -> None:
        job = await self.store.get(api_job_id)
        assert job is not None
        await self.store.update(api_job_id, stages_completed=[*job.stages_completed, stage])
        await self._notify(job, stage, "completed", data)

    async def _complete(self, api_job_id: str, error: RequestFailed | None = None) -> None:
        """`error`: a stage after the stems failed (the drums); it stays on the record."""
        job = await self.store.get(api_job_id)
        assert job is not None
        await self.store.update(api_job_id, status=ApiJobStatus.COMPLETED,
                                stage=Stage.COMPLETE.value, progress=1.0,
                                **({"error_code": error.code, "error_message": error.message}
                                   if error is not None else {}))
        await self._notify(job, "job_completed", "completed", {
            "stages_completed": job.stages_completed, "processing_time": job.processing_time,
        })

    async def _fail(self, api_job_id: str, code: str, message: str) -> None:
        job = await self.store.get(api_job_id)
        if job is None or not job.status.is_live:
            return
        status = ApiJobStatus.CANCELLED if code == "CANCELLED" else ApiJobStatus.FAILED
        await self.store.update(api_job_id, status=status, error_code=code,
                                error_message=message)
        error = error_fields(code, message)
        if job.options.stems and "stems" not in job.stages_completed:
            await self._notify(job, "stems", "failed", error)
        await self._notify(job, "job_failed", "failed", error)

    async def _notify(self, job: ApiJob, stage: str, status: str, data: dict[str, Any]) -> None:
        if job.callback_url:
            await self.store.add_callback(job.id, job.callback_url, stage, status, data)
            self.callbacks.notify()

    # ---- cancel ----------------------------------------------------------------------

    async def cancel(self, api_job_id: str) -> ApiJob | None:
        """Cancel a live job (the shared separation too, if nobody else follows it) and
        remove the files of its separation."""
        job = await self.store.get(api_job_id)
        if job is None:
            return None
        subscriber = self._subscribers.pop(api_job_id, None)
        separation_id = job.separation_job_id
        if job.status.is_live:
            await self._fail(api_job_id, "CANCELLED", "cancelled by DELETE /jobs/{id}")
            if subscriber is not None and separation_id is not None:
                self.scheduler.unsubscribe(separation_id, subscriber)
                if not self.scheduler.bus.subscriber_count(separation_id):
                    await self.scheduler.cancel(separation_id, "cancelled by DELETE /jobs/{id}")
        if separation_id is not None:
            await self.scheduler.forget(separation_id)
        return await self.store.get(api_job_id)

