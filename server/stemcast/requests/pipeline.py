"""Admitting a stems request and finishing it, the same way for every front door.

Admit: the duration check, the model resolved once (and the output options checked
against it once), the audio's PCM hash, then a shielded submit to the scheduler, which
answers from the cache, joins the live job for the same work or queues a new one.
Finish: the job's master stems rendered as the request asked, then, if asked, the drum
transcription. Each step ends in a typed outcome; the front doors only translate them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from stemcast.analysis.drum_service import DrumTranscriber
from stemcast.audio import pcm_hash_file
from stemcast.delivery.outputs import plan_outputs
from stemcast.delivery.renditions import Renditions, spec_for
from stemcast.jobs.events import JobCompleted, Subscriber
from stemcast.jobs.models import SeparationOptions
from stemcast.jobs.scheduler import Scheduler
from stemcast.jobs.submission import StemRequest, Submission
from stemcast.jobs.worker_pool import ModelStatus
from stemcast.library.library import TrackLibrary
from stemcast.library.tracks import Track
from stemcast.requests.failures import (
    TrackTooLongError,
    failure_for,
    transcription_failed,
    undeliverable,
)
from stemcast.requests.outcomes import DrumsReady, RequestFailed, StemsAsk, StemsReady
from stemcast.requests.scratch_space import check_scratch_space
from stemcast_protocol import OutputRequest


class StemsPipeline:
    def __init__(self, scheduler: Scheduler, library: TrackLibrary, renditions: Renditions,
                 drums: DrumTranscriber, *, max_duration_s: float) -> None:
        """`max_duration_s`: the longest track separated (--max-duration-s)."""
        self.scheduler = scheduler
        self.library = library
        self.renditions = renditions
        self.drums = drums
        self.max_duration_s = max_duration_s

    # ---- admit -------------------------------------------------------------------------

    def check_duration(self, track: Track) -> None:
        """Raises TrackTooLongError for a track longer than the server separates."""
        if track.duration_seconds > self.max_duration_s:
            raise TrackTooLongError(
                f"'{track.title or track.path}' is {track.duration_seconds / 60:.1f} minutes "
                f"long; this server separates tracks up to {self.max_duration_s / 60:.0f} "
                "minutes (--max-duration-s)")

    def _check_disk(self, track: Track, model: str) -> None:
        """Raises OSError(ENOSPC) when the jobs folder cannot hold this track's job."""
        described = self.scheduler.catalog.status.find(model)
        stems = len(described.sources) if described is not None and described.sources else 6
        check_scratch_space(self.scheduler.settings.jobs_dir, track.duration_seconds, stems)

    async def stems_cached(self, track: Track, model: str | None,
                           output: OutputRequest) -> bool:
        """Whether the stems this request would get are on disk already (no waiting)."""
        if not track.pcm_hash:
            return False
        key = self.scheduler.catalog.cached_key(track.pcm_hash, model, output)
        return key is not None and \
            await self.scheduler.store.completed_for_key(key) is not None

    async def admit(self, ask: StemsAsk, subscriber: Subscriber, *,
                    still_wanted: Callable[[], Awaitable[bool]],
                    on_hashing: Callable[[], None] | None = None,
                    ) -> Submission | RequestFailed | None:
        """Queue (or join, or answer from the cache) the separation `ask` needs.

        `subscriber` gets the job's events from then on. `on_hashing` is called before
        the file is read to identify its audio (which takes a while); `still_wanted` is
        asked after it: None means the request was dropped meanwhile and nothing was done.
        """
        track = ask.track
        try:
            self.check_duration(track)
            model = await self._model_for(ask)
            if not track.pcm_hash and on_hashing is not None:
                on_hashing()
            digest = await self.library.ensure_pcm_hash(track)
            if not await still_wanted():
                return None
            if not await self.stems_cached(track, model, ask.output):
                self._check_disk(track, model)
            # Shielded: a client that disconnects mid-submit must not leave a job
            # half-made (in the database but not in the queue).
            return await asyncio.shield(self.scheduler.submit(
                StemRequest(pcm_hash=digest, input_path=track.path, track_id=track.id,
                            duration_seconds=track.duration_seconds, priority=ask.priority,
                            options=SeparationOptions.for_output(ask.output), model=model),
                subscriber))
        except Exception as exc:
            return failure_for(exc)

    async def ask_again(self, request: StemRequest, subscriber: Subscriber) -> None:
        """A request whose job the worker refused because the file's audio changed
        (jobs/audio_changes.py): hashed anew from its file, the library told of the new
        audio, and submitted under its true key. Raises what hashing or submitting raised."""
        digest, duration = await asyncio.to_thread(_hash_decoded, request.input_path)
        if request.track_id is not None:
            await self.library.audio_replaced(request.track_id, digest, duration)
        await asyncio.shield(self.scheduler.submit(
            replace(request, pcm_hash=digest, duration_seconds=duration), subscriber))

    async def _model_for(self, ask: StemsAsk) -> str:
        """The model `ask` gets, resolved once; raises ModelChoiceError for one not on
        offer and OptionError for output options it cannot give (before any work is
        queued). A configured model that could not be loaded passes: its job fails fast
        saying why."""
        model = await self.scheduler.catalog.resolve(ask.model)
        described = self.scheduler.catalog.status.find(model)
        if described is not None:
            plan_outputs(ask.output, described.sources)
        return model

    def models(self) -> ModelStatus:
        """The models the workers hold now (or that they are still loading)."""
        return self.scheduler.catalog.status

    def unsubscribe(self, job_id: str, subscriber: Subscriber) -> None:
        self.scheduler.unsubscribe(job_id, subscriber)

    async def cancel_for(self, job_id: str, subscriber: Subscriber) -> bool:
        """A follower explicitly gave up its request: it stops following, and when nobody
        else follows the job (no other client, no API job), the job is stopped too, so a
        cancelled upload frees the worker. Returns whether the job was stopped."""
        self.scheduler.unsubscribe(job_id, subscriber)
        if self.scheduler.bus.subscriber_count(job_id) > 0:
            return False
        return await self.scheduler.cancel(job_id, "cancelled by the client that asked for it")

    # ---- finish ------------------------------------------------------------------------

    async def finish(self, completed: JobCompleted, output: OutputRequest,
                     levels: tuple[int, ...]) -> StemsReady | RequestFailed:
        """The stems as `output` asks, with the waveform peaks at zoom `levels`."""
        try:
            delivered = await self.renditions.deliver(completed, spec_for(output, completed),
                                                      levels=levels)
        except Exception as exc:
            return undeliverable(exc, completed.job_id)
        return StemsReady(completed, delivered)

    async def transcribe_drums(self, completed: JobCompleted,
                               track_id: str) -> DrumsReady | RequestFailed:
        """The drum transcription; a failure here never takes the stems back."""
        try:
            track = await self.library.get(track_id)
            summary = await self.drums.transcribe(completed, track.bpm if track else None)
        except Exception as exc:
            return transcription_failed(exc, completed.job_id)
        return DrumsReady(job_id=completed.job_id, track_id=track_id, onsets=summary.onsets,
                          midi=summary.midi, onset_count=summary.onset_count,
                          lanes=dict(summary.lanes))


def _hash_decoded(path: str) -> tuple[str, float]:
    return pcm_hash_file(path)
