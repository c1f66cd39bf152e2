"""The track library: registering files, finding them again, scanning folders.

File and decoding work runs in threads (asyncio.to_thread) so the event loop never
waits on disk or CPU.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from stemcast.audio import AudioError, AudioErrorCode, pcm_hash_file, probe
from stemcast.library.cues import CueStore
from stemcast.library.paths import (
    PathNotAllowedError,
    is_audio_filename,
    is_inside,
    resolve_allowed,
)
from stemcast.library.tracks import FileFacts, Track, TrackSource, TrackStore

log = logging.getLogger(__name__)

# A client's track id (seed 000's app server uses UUIDs): what may name a track.
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")


class TrackIdError(ValueError):
    """A client's trackId that is malformed, or that names another file already."""

    def __init__(self, message: str, *, conflict: bool) -> None:
        super().__init__(message)
        self.conflict = conflict


def check_external_id(track_id: str) -> str:
    if not EXTERNAL_ID.match(track_id):
        raise TrackIdError(f"trackId {track_id[:200]!r} must be 1-200 letters, digits, '-', "
                           "'_', '.' or ':' starting with a letter or digit (a UUID fits)",
                           conflict=False)
    return track_id


def _file_facts(path: Path, title: str | None = None) -> FileFacts:
    if not path.is_file():
        raise AudioError(
            AudioErrorCode.FILE_NOT_FOUND,
            f"'{path}' does not exist or is not a file; check the path",
            str(path),
        )
    info = probe(path)
    stat = path.stat()
    return FileFacts(
        path=str(path),
        title=title or path.stem,
        file_size=stat.st_size,
        file_mtime=stat.st_mtime,
        container=info.container,
        duration_seconds=info.duration_seconds,
        sample_rate=info.sample_rate,
        channels=info.channels,
    )


def hash_file(path: str) -> tuple[str, float]:
    """The content hash of a file's audio, and its duration as decoded."""
    return pcm_hash_file(path)  # block by block: memory does not grow with the track


class TrackLibrary:
    def __init__(self, store: TrackStore, allowed_dirs: list[Path]) -> None:
        self.store = store
        self.cues = CueStore(store.connection)
        self.allowed_dirs = allowed_dirs
        # One hash computation per file at a time, however many clients ask at once.
        self._hash_locks: dict[str, asyncio.Lock] = {}
        # Told of every track registered or refreshed (the analysis queue listens).
        self.listeners: list[Callable[[Track], None]] = []

    def checked_path(self, path: str, source: str) -> Path:
        """A registered file's path, checked again each time it is about to be read: its real
        path must still be in the allowed folders (a file swapped for a symlink to elsewhere
        is refused). Files the operator added with `stemcast add` (and every file of a library
        with no folders, as the CLI's) may lie anywhere, but must still be the very file
        registered, not a link put in its place."""
        stored = Path(path)
        real = stored.resolve()
        if source == TrackSource.CLI or not self.allowed_dirs:
            allowed = real == stored
        else:
            allowed = is_inside(real, self.allowed_dirs)
        if not allowed:
            raise AudioError(AudioErrorCode.PATH_NOT_ALLOWED,
                             f"the file of this track, '{path}', now leads to a place outside "
                             "the folders this server may read (it was replaced by a link?); "
                             "put the real file back or register it again", path)
        return real

    async def add_file(self, path: Path, source: str, title: str | None = None) -> Track:
        """Register an audio file (probing it) or return the track it already is."""
        resolved = path.expanduser().resolve()
        if source != TrackSource.CLI and self.allowed_dirs and \
                not is_inside(resolved, self.allowed_dirs):
            raise PathNotAllowedError(str(path), self.allowed_dirs)
        facts = await asyncio.to_thread(_file_facts, resolved, title)
        track = await self.store.upsert(facts, source)
        for listener in self.listeners:
            listener(track)
        return track

    async def add_file_with_id(self, path: Path, source: str, track_id: str,
                               title: str | None = None) -> Track:
        """Register a file under a client's id (seed 000's app server's UUID), so that
        getTrackInfo by that id finds it. A file known under another id takes the new
        one (its jobs follow); an id already naming another file is a conflict."""
        check_external_id(track_id)
        resolved = path.expanduser().resolve()
        facts = await asyncio.to_thread(_file_facts, resolved, title)
        named = await self.store.get(track_id)
        if named is not None and named.path != facts.path:
            raise TrackIdError(f"trackId {track_id!r} already names '{named.path}'; register "
                               f"'{facts.path}' under another trackId", conflict=True)
        existing = await self.store.get_by_path(facts.path)
        if existing is not None and existing.id != track_id:
            if existing.external_id is not None:
                raise TrackIdError(f"'{facts.path}' is already registered with trackId "
                                   f"{existing.external_id!r}; use that id", conflict=True)
            log.info("track %s takes the client's id %s", existing.id, track_id)
            await self.store.adopt_id(existing.id, track_id)
        track = await self.store.upsert(facts, source, new_id=track_id)
        for listener in self.listeners:
            listener(track)
        return track

    async def add_upload(self, path: Path, title: str, digest: str) -> tuple[Track, bool]:
        """An uploaded file known by the sha256 of its bytes: the same bytes uploaded again
        are the track of the first upload (the new copy is removed), so the library keeps
        one row per file. Returns the track and whether it was already known."""
        known = await self.store.get_by_file_sha256(digest)
        if known is not None and await asyncio.to_thread(Path(known.path).is_file):
            await asyncio.to_thread(path.unlink, True)
            return known, True
        track = await self.add_file(path, TrackSource.UPLOAD, title=title)
        await self.store.set_file_sha256(track.id, digest)
        return track, False

    async def add_allowed_path(self, file_path: str, source: str = TrackSource.PATH) -> Track:
        """A path from a client: only inside the allowed folders (raises otherwise)."""
        resolved = resolve_allowed(file_path, self.allowed_dirs)
        return await self.add_file(resolved, source)

    async def get(self, track_id: str) -> Track | None:
        return await self.store.get(track_id)

    async def all_tracks(self) -> list[Track]:
        """Every track, newest first (the library listing groups them by audio)."""
        return await self.store.list(limit=-1)  # SQLite: a negative LIMIT is no limit

    async def refresh(self, track: Track) -> Track:
        """Re-probe if the file changed since we registered it (a DJ re-exported it)."""
        await asyncio.to_thread(self.checked_path, track.path, track.source)
        try:
            stat = await asyncio.to_thread(os.stat, track.path)
        except FileNotFoundError as exc:
            raise AudioError(
                AudioErrorCode.FILE_NOT_FOUND,
                f"the file of track {track.id} is gone: '{track.path}'; "
                "restore it or register the track again",
                track.path,
            ) from exc
        if (stat.st_size, stat.st_mtime) == (track.file_size, track.file_mtime):
            return track
        return await self.add_file(Path(track.path), track.source)

    async def ensure_pcm_hash(self, track: Track) -> str:
        """The content hash the cache keys on; computed once per file version."""
        if track.pcm_hash:
            return track.pcm_hash
        lock = self._hash_locks.setdefault(track.id, asyncio.Lock())
        async with lock:
            fresh = await self.store.get(track.id)
            if fresh and fresh.pcm_hash:
                return fresh.pcm_hash
            real = await asyncio.to_thread(self.checked_path, track.path, track.source)
            digest, duration = await asyncio.to_thread(hash_file, str(real))
            await self.store.set_pcm_hash(track.id, digest, duration)
            return digest

    async def audio_replaced(self, track_id: str, digest: str, duration: float) -> None:
        """A job found the track's file holding other audio than its hash says (a rewrite
        that kept its size and mtime): record the new audio, and analyse it again."""
        track = await self.store.get(track_id)
        if track is None or track.pcm_hash == digest:
            return
        log.warning("the audio of %s changed under the same size and mtime; "
                    "it is hashed and analysed again", track.path)
        await self.store.audio_replaced(track_id, digest, duration)
        fresh = await self.store.get(track_id)
        if fresh is not None:
            for listener in self.listeners:
                listener(fresh)

    async def scan(self, folders: list[Path]) -> int:
        """Register every audio file under the folders; returns how many were added or seen."""
        count = 0
        for folder in folders:
            files = await asyncio.to_thread(_walk_audio_files, folder)
            for file in files:
                try:
                    await self.add_file(file, TrackSource.SCAN)
                    count += 1
                except (AudioError, PathNotAllowedError) as exc:
                    log.warning("library scan skipped %s: %s", file, exc)
        return count


def _walk_audio_files(folder: Path) -> list[Path]:
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            path = Path(root) / name
            if is_audio_filename(path) and not name.startswith("."):
                found.append(path)
    return found
