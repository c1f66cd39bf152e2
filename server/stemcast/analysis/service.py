"""Track analysis in the background: bpm, beats, key, loudness, the mix's waveform.

Every track the server learns of (added, uploaded, scanned, named by path) is analysed
once per version of its file, at normal priority; a client waiting at the deck lifts its
track to high. Results go to the tracks table (bpm/key/mode where trackInfo reads them,
the rest as JSON), so a restart loses nothing: tracks still `pending` are queued again at
start, and tracks registered by `stemcast add` while the server runs are picked up by a
periodic look at the table. The work runs in the CPU pool, never in the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from stemcast.cpu_pool import CpuPool
from stemcast.db.faults import classify as classify_fault
from stemcast.error_text import describe
from stemcast.library.tracks import Track, TrackStore
from stemcast.tasks import cancel_and_wait
from stemcast_protocol import Priority

log = logging.getLogger(__name__)

RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}
# How long a job waits for its track's analysis: 5 minutes, plus 2 s per second of track.
# A fixed 300 s failed every track past ~10 minutes (an hour's analysis takes longer than
# that on 2 cores), and tracks may be 3 hours long (--max-duration-s).
WAIT_BASE_S = 300.0
WAIT_PER_TRACK_SECOND = 2.0


def wait_limit(track: Track) -> float:
    return WAIT_BASE_S + WAIT_PER_TRACK_SECOND * max(track.duration_seconds or 0.0, 0.0)
PENDING_POLL_S = 30.0

Listener = Callable[[Track], None]


class AnalysisService:
    def __init__(self, store: TrackStore, pool: CpuPool, analysis_dir: Path) -> None:
        self.store = store
        self.pool = pool
        self.analysis_dir = analysis_dir
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._ranks: dict[str, int] = {}  # queued track id -> best rank asked
        self._seq = itertools.count()
        self._listeners: dict[str, list[Listener]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.analysed = 0
        self.failed = 0

    def waveform_path(self, track_id: str) -> Path:
        return self.analysis_dir / track_id / "waveform.json"

    async def start(self) -> None:
        await self._queue_pending()
        self._tasks = [asyncio.create_task(self._consume(), name="analysis"),
                       asyncio.create_task(self._poll_pending(), name="analysis-poll")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    # ---- asking -------------------------------------------------------------------------

    def request(self, track: Track, priority: Priority = Priority.NORMAL) -> None:
        """Queue the track unless it is analysed; a better priority lifts a queued one."""
        if track.analysis_state != "pending":
            return
        rank = RANK[priority]
        if self._ranks.get(track.id, 99) <= rank:
            return
        self._ranks[track.id] = rank
        self._queue.put_nowait((rank, next(self._seq), track.id))

    def when_done(self, track_id: str, listener: Listener) -> Callable[[], None]:
        """Call listener(track) once the track's analysis ends (done or failed).
        Returns a function that removes the listener."""
        self._listeners.setdefault(track_id, []).append(listener)

        def remove() -> None:
            listeners = self._listeners.get(track_id, [])
            if listener in listeners:
                listeners.remove(listener)

        return remove

    async def wait(self, track: Track, priority: Priority = Priority.NORMAL,
                   timeout: float | None = None) -> Track:
        """The track once analysed (or failed); queues it if needed. TimeoutError after
        `timeout` s (by default wait_limit(track), which grows with the track)."""
        if track.analysis_state != "pending":
            return track
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[Track] = loop.create_future()

        def listener(done: Track) -> None:
            if not finished.done():
                finished.set_result(done)

        remove = self.when_done(track.id, listener)
        try:
            fresh = await self.store.get(track.id)
            if fresh is not None and fresh.analysis_state != "pending":
                return fresh
            self.request(track, priority)
            return await asyncio.wait_for(
                finished, wait_limit(track) if timeout is None else timeout)
        finally:
            remove()

    # ---- working ------------------------------------------------------------------------

    async def _queue_pending(self) -> None:
        for track in await self.store.pending_analysis():
            self.request(track)

    async def _poll_pending(self) -> None:
        while True:
            await asyncio.sleep(PENDING_POLL_S)
            try:
                await self._queue_pending()
            except Exception:
                log.exception("could not look for tracks to analyse")

    async def _consume(self) -> None:
        while True:
            rank, _seq, track_id = await self._queue.get()
            if self._ranks.get(track_id) != rank:
                continue  # a stale entry: the track was lifted, or is done
            del self._ranks[track_id]
            try:
                await self._analyse(track_id)
            except Exception:
                log.exception("analysis of track %s failed unexpectedly", track_id)

    async def _analyse(self, track_id: str) -> None:
        from stemcast.analysis.tasks import analyze_file

        track = await self.store.get(track_id)
        if track is None or track.analysis_state != "pending":
            return
        try:
            features: dict[str, Any] = await self.pool.run(
                analyze_file, track.path, str(self.waveform_path(track.id)))
        except Exception as exc:  # not audio any more, gone, a crash twice: say why
            fault = classify_fault(exc)
            reason = f"{fault.code}: {fault.message}" if fault else describe(exc)
            log.warning("analysis of %s failed: %s", track.path, reason)
            self.failed += 1
            try:
                await self.store.set_analysis_failed(track.id, reason)
            except Exception as write_error:
                # The database is full or locked too: those waiting still hear why; the
                # track stays pending in the database and is analysed again later.
                log.warning("could not record the failed analysis of %s: %s", track.path,
                            describe(write_error))
                failed = replace(track, analysis_state="failed", analysis_error=reason)
                self._tell_listeners(failed)
                return
        else:
            current = await self.store.get(track.id)
            if current is None or current.file_mtime != track.file_mtime:
                return  # the file changed while we read it: it is pending again
            await self.store.set_analysis(track.id, features)
            self.analysed += 1
            log.info("analysed %s: %s bpm, %s", track.path, features.get("bpm"),
                     features.get("key_name"))
        done = await self.store.get(track.id)
        if done is not None:
            self._tell_listeners(done)

    def _tell_listeners(self, done: Track) -> None:
        for listener in self._listeners.pop(done.id, []):
            try:
                listener(done)
            except Exception:
                log.exception("analysis listener failed")
