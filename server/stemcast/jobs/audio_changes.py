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
from dataclasses import dataclass
from typing import Final

from stemcast.audio import AudioError
from stemcast.db.faults import classify
from stemcast.error_text import describe
from stemcast.jobs.events import EventBus, JobFailed, Subscriber
from stemcast.jobs.store import JobStore
from stemcast.jobs.submission import StemRequest

log = logging.getLogger(__name__)

AUDIO_CHANGED: Final = "AUDIO_CHANGED"
MAX_RESUBMITS: Final = 2

# Asks again for a request whose audio changed: hashed anew from its file and submitted
# under its true key. The request pipeline provides it (requests/pipeline.py), so the
# scheduler is only ever asked through the pipeline.
AskAgain = Callable[[StemRequest, Subscriber], Awaitable[None]]


@dataclass
class _Asker:
    subscriber: Subscriber
    request: StemRequest
    changes: int  # how often this request's audio changed under a job already


class AudioChanges:
    def __init__(self, store: JobStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._askers: dict[str, list[_Asker]] = {}  # live job id -> the requests behind it
        self._carried: dict[int, int] = {}  # id(subscriber) -> changes, while resubmitting
        self._tasks: set[asyncio.Task[None]] = set()
        self.ask_again: AskAgain | None = None

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
        await self._store.mark_failed(job_id, AUDIO_CHANGED, reason)
        askers = self._askers.pop(job_id, [])
        for asker in askers:
            self._bus.unsubscribe(job_id, asker.subscriber)
        log.warning("job %s: %s; asking again for its %d request(s)", job_id, reason,
                    len(askers))
        self._bus.publish(JobFailed(job_id, AUDIO_CHANGED, reason))  # anyone else
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
        if self.ask_again is None:
            raise RuntimeError("AudioChanges.ask_again was never wired (app/factory.py)")
        try:
            self._carried[id(asker.subscriber)] = asker.changes + 1
            await self.ask_again(request, asker.subscriber)
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
