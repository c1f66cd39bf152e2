"""Removing a track from the library: its record, cues, analysis, uploaded file, and the
stems of its audio when no other track shares them.

Refused while work or a reader depends on it: a queued or running separation of its
audio (cancel it first), or a download of its stems in progress (wait for it to end).
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from stemcast.cache.leases import ReaderLeases
from stemcast.jobs.scheduler import Scheduler
from stemcast.library.library import TrackLibrary
from stemcast.library.paths import is_inside
from stemcast.library.tracks import Track, TrackSource


class TrackInUseError(Exception):
    """`code`: JOB_RUNNING or STEMS_IN_USE; the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Removed:
    track_id: str
    stems_removed: tuple[str, ...]  # separation job ids whose files went
    file_removed: bool  # the uploaded file (a file from the user's own folders is kept)


async def remove_track(track: Track, *, library: TrackLibrary, scheduler: Scheduler,
                       leases: ReaderLeases, analysis_dir: Path,
                       uploads_dir: Path) -> Removed:
    jobs = [j for j in await scheduler.store.separations()
            if j.track_id == track.id or (track.pcm_hash and j.pcm_hash == track.pcm_hash)]
    live = [j for j in jobs if j.state.is_live]
    if live:
        raise TrackInUseError("JOB_RUNNING", f"a separation of this track is "
                              f"{live[0].state.value} (job {live[0].id}); cancel it "
                              "(DELETE /jobs/{id} or the page's Cancel) and delete again")
    others = [t for t in await library.all_tracks()
              if t.id != track.id and track.pcm_hash and t.pcm_hash == track.pcm_hash]
    # Stems are shared by audio: another track of the same audio keeps them.
    doomed = [] if others else [j for j in jobs if j.state.value == "completed"]
    read = [j.id for j in doomed if leases.readers(j.id) > 0]
    if read:
        raise TrackInUseError("STEMS_IN_USE", f"the stems of this track (job {read[0]}) "
                              "are being downloaded right now; delete again when it ends")
    await library.store.delete(track.id)
    for job in doomed:
        await scheduler.forget(job.id)
    await asyncio.to_thread(shutil.rmtree, analysis_dir / track.id, True)
    upload = Path(track.path)
    file_removed = track.source == TrackSource.UPLOAD and is_inside(upload, [uploads_dir])
    if file_removed:
        await asyncio.to_thread(upload.unlink, True)
    return Removed(track.id, tuple(j.id for j in doomed), file_removed)
