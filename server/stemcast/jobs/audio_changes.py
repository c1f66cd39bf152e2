"""Stems always belong to their audio, even when a file changes while its job waits.

A job is keyed by the hash of the audio as it was when someone asked; the worker decodes
the file when the job runs. The worker therefore hashes the PCM it decoded and refuses
the job (AUDIO_CHANGED) when that differs from the job's hash, so stems are never filed
under another audio's key, not even after a same-size rewrite with its mtime restored.

The requests behind such a job are then asked again, each from its own file: hashed
anew and submitted under its true key. A request that joined from an unchanged copy of
the old audio so gets the old audio's stems; the changed file's gets the new audio's.
A file that keeps changing fails after MAX_RESUBMITS with AUDIO_CHANGED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from stemcast.audio import AudioError, decode, pcm_hash
from stemcast.db.faults import classify
from stemcast.error_text import describe
from stemcast.jobs.events import JobFailed, Subscriber

if TYPE_CHECKING:
    from stemcast.jobs.scheduler import Scheduler, StemRequest

log = logging.getLogger(__name__)

AUDIO_CHANGED: Final = "AUDIO_CHANGED"
MAX_RESUBMITS: Final = 2

# (track id, new hash, decoded duration): the library records the new audio.
RehashListener = Callable[[str, str, float], Awaitable[None]]


def hash_decoded(path: str) -> tuple[str, float]:
    audio = decode(path)
    return pcm_hash(audio), audio.duration_seconds


@dataclass
class _Asker:
    subscriber: Subscriber
    request: StemRequest
    changes: int  # how often this request's audio changed under a job already


class AudioChanges:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._askers: dict[str, list[_Asker]] = {}  # live job id -> the requests behind it
        self._carried: dict[int, int] = {}  # id(subscriber) -> changes, while resubmitting
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_rehashed: RehashListener | None = None

    # ---- who asked for what ----------------------------------------------------------------

    def asked(self, job_id: str, subscriber: Subscriber, request: StemRequest) -> None:
        """A request that a live job now serves (new or joined)."""
        changes = self._carried.pop(id(subscriber), 0)
        self._askers.setdefault(job_id, []).append(_Asker(subscriber, request, changes))

    def forget_subscriber(self, subscriber: Subscriber) -> list[str]:
        """The subscriber left: the job ids it was following (it may have been moved)."""
        jobs = []
        for job_id, askers in list(self._askers.items()):
            kept = [a for a in askers if a.subscriber is not subscriber]
            if len(kept) != len(askers):
                jobs.append(job_id)
                if kept:
                    self._askers[job_id] = kept
                else:
                    del self._askers[job_id]
        return jobs

    def finished(self, job_id: str) -> None:
        self._askers.pop(job_id, None)

    # ---- the worker found other audio ------------------------------------------------------

    async def job_refused(self, job_id: str, reason: str) -> None:
        """The worker refused the job (AUDIO_CHANGED): failed, never completed under its
        key; each request behind it is asked again from its own file."""
        scheduler = self._scheduler
        await scheduler.store.mark_failed(job_id, AUDIO_CHANGED, reason)
        askers = self._askers.pop(job_id, [])
        for asker in askers:
            scheduler.bus.unsubscribe(job_id, asker.subscriber)
        log.warning("job %s: %s; asking again for its %d request(s)", job_id, reason,
                    len(askers))
        scheduler.bus.publish(JobFailed(job_id, AUDIO_CHANGED, reason))  # anyone else
        for asker in askers:
            task = asyncio.create_task(self._resubmit(job_id, asker, reason))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _resubmit(self, old_job_id: str, asker: _Asker, reason: str) -> None:
        request = asker.request
        if asker.changes >= MAX_RESUBMITS:
            asker.subscriber.deliver(JobFailed(old_job_id, AUDIO_CHANGED, (
                f"{reason}; it changed {asker.changes + 1} times while its job waited. Ask "
                "again once the file is no longer being written")))
            return
        try:
            digest, duration = await asyncio.to_thread(hash_decoded, request.input_path)
            if request.track_id is not None and self.on_rehashed is not None:
                await self.on_rehashed(request.track_id, digest, duration)
            self._carried[id(asker.subscriber)] = asker.changes + 1
            await self._scheduler.submit(
                replace(request, pcm_hash=digest, duration_seconds=duration), asker.subscriber)
        except AudioError as exc:
            asker.subscriber.deliver(JobFailed(old_job_id, exc.code.value, str(exc)))
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                log.exception("could not ask again for %s", request.input_path)
            asker.subscriber.deliver(JobFailed(
                old_job_id, fault.code if fault else "SEPARATION_FAILED",
                fault.message if fault else f"{reason}; asking again failed: {describe(exc)}"))
        finally:
            self._carried.pop(id(asker.subscriber), None)
