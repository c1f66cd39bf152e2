"""Track records: what the server knows about each audio file, and their SQL."""

from __future__ import annotations

import builtins
import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiosqlite

from stemcast.db.database import run_script, utc_now


class TrackSource:
    CLI = "cli"
    API = "api"
    UPLOAD = "upload"
    SCAN = "scan"
    PATH = "path"


@dataclass(frozen=True)
class Track:
    id: str
    path: str
    title: str | None
    source: str
    file_size: int
    file_mtime: float
    container: str | None
    duration_seconds: float
    sample_rate: int
    channels: int
    pcm_hash: str | None
    bpm: float | None
    musical_key: str | None
    mode: str | None
    created_at: str
    updated_at: str
    analysis_state: str = "pending"  # pending | done | failed
    analysis_error: str | None = None
    features: str | None = None  # JSON of stemcast.analysis.BasicFeatures.to_dict()
    analyzed_at: str | None = None
    external_id: str | None = None  # set when a client gave the id (the app's UUID)
    file_sha256: str | None = None  # sha256 of an upload's bytes: the same file is one track

    @property
    def feature_map(self) -> dict[str, Any] | None:
        return json.loads(self.features) if self.features else None

    def analysis_api(self) -> dict[str, Any]:
        """Key names, Camelot code and the rest of the analysis, camelCase."""
        data = self.feature_map or {}
        return {
            "state": self.analysis_state,
            "error": self.analysis_error,
            "keyName": data.get("key_name"),
            "camelot": data.get("camelot"),
            "bpmConfidence": data.get("bpm_confidence"),
            "keyConfidence": data.get("key_confidence"),
            "loudnessLufs": data.get("loudness_lufs"),
            "peakDbfs": data.get("peak_dbfs"),
            "audibleStart": data.get("audible_start"),
            "audibleEnd": data.get("audible_end"),
            "beats": data.get("beats"),
            "downbeats": data.get("downbeats"),
        }

    def to_api(self) -> dict[str, Any]:
        """The JSON shape of a track in the HTTP API (camelCase like the WebSocket)."""
        analysis = self.analysis_api()
        return {
            "trackId": self.id,
            "filePath": self.path,
            "title": self.title,
            "durationSeconds": self.duration_seconds,
            "sampleRate": self.sample_rate,
            "channels": self.channels,
            "format": self.container,
            "bpm": self.bpm,
            "key": self.musical_key,
            "mode": self.mode,
            "keyName": analysis["keyName"],
            "camelot": analysis["camelot"],
            "analysis": self.analysis_state,
            "source": self.source,
            "externalId": self.external_id,
            "createdAt": self.created_at,
        }


@dataclass(frozen=True)
class FileFacts:
    """What probing a file tells us, before it becomes a track."""

    path: str
    title: str | None
    file_size: int
    file_mtime: float
    container: str | None
    duration_seconds: float
    sample_rate: int
    channels: int


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _row_to_track(row: aiosqlite.Row) -> Track:
    return Track(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - Row is not a dict


class TrackStore:
    """SQL for the tracks table; no file access here."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @property
    def connection(self) -> aiosqlite.Connection:
        """The database connection, for the stores of what hangs off a track (cues)."""
        return self._conn

    async def get(self, track_id: str) -> Track | None:
        async with self._conn.execute("SELECT * FROM tracks WHERE id = ?", (track_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_track(row) if row else None

    async def get_by_path(self, path: str) -> Track | None:
        async with self._conn.execute("SELECT * FROM tracks WHERE path = ?", (path,)) as cur:
            row = await cur.fetchone()
        return _row_to_track(row) if row else None

    async def list(self, limit: int = 1000, offset: int = 0) -> list[Track]:
        async with self._conn.execute(
            "SELECT * FROM tracks ORDER BY created_at DESC, id LIMIT ? OFFSET ?", (limit, offset)
        ) as cur:
            rows = await cur.fetchall()
        return [_row_to_track(row) for row in rows]

    async def get_by_file_sha256(self, digest: str) -> Track | None:
        async with self._conn.execute(
            "SELECT * FROM tracks WHERE file_sha256 = ? ORDER BY created_at DESC LIMIT 1", (digest,)
        ) as cur:
            row = await cur.fetchone()
        return _row_to_track(row) if row else None

    async def set_file_sha256(self, track_id: str, digest: str) -> None:
        await self._conn.execute("UPDATE tracks SET file_sha256 = ? WHERE id = ?",
                                 (digest, track_id))

    async def delete(self, track_id: str) -> bool:
        """Removes the record; its jobs keep their stems (track_id set null), its cues go."""
        cur = await self._conn.execute("DELETE FROM tracks WHERE id = ?", (track_id,))
        return cur.rowcount > 0

    async def count(self) -> int:
        async with self._conn.execute("SELECT COUNT(*) FROM tracks") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def upsert(self, facts: FileFacts, source: str, new_id: str | None = None) -> Track:
        """Insert a new track (with `new_id`, a client's id, when given), or refresh one
        whose file changed; ids change only by adopt_id."""
        existing = await self.get_by_path(facts.path)
        now = utc_now()
        if existing is None:
            track_id = new_id or str(uuid.uuid4())
            # ON CONFLICT: two requests adding the same new path at once both found no
            # track above; the later insert yields to the earlier one's row.
            cursor = await self._conn.execute(
                "INSERT INTO tracks (id, path, title, source, file_size, file_mtime, container,"
                " duration_seconds, sample_rate, channels, created_at, updated_at, external_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO NOTHING",
                (track_id, facts.path, facts.title, source, facts.file_size, facts.file_mtime,
                 facts.container, facts.duration_seconds, facts.sample_rate, facts.channels,
                 now, now, new_id),
            )
            if cursor.rowcount == 0:
                raced = await self.get_by_path(facts.path)
                assert raced is not None
                track_id = raced.id
        else:
            track_id = existing.id
            if (existing.file_size, existing.file_mtime) != (facts.file_size, facts.file_mtime):
                # The audio changed under the same path: forget what we derived from it.
                await self._conn.execute(
                    "UPDATE tracks SET file_size = ?, file_mtime = ?, container = ?,"
                    " duration_seconds = ?, sample_rate = ?, channels = ?, pcm_hash = NULL,"
                    " bpm = NULL, musical_key = NULL, mode = NULL, analysis_state = 'pending',"
                    " analysis_error = NULL, features = NULL, analyzed_at = NULL,"
                    " updated_at = ? WHERE id = ?",
                    (facts.file_size, facts.file_mtime, facts.container, facts.duration_seconds,
                     facts.sample_rate, facts.channels, now, track_id),
                )
        track = await self.get(track_id)
        assert track is not None
        return track

    async def adopt_id(self, track_id: str, new_id: str) -> None:
        """Give a track a client's id; its jobs follow. One script, one transaction (the
        foreign keys are checked at its end), so no other statement runs in between.
        The ids are embedded: callers pass only ids that match library.external_ids."""
        old, new, now = (_literal(v) for v in (track_id, new_id, utc_now()))
        script = (
            "BEGIN; PRAGMA defer_foreign_keys = ON;"
            f" UPDATE tracks SET id = {new}, external_id = {new}, updated_at = {now},"
            f"  analysis_state = CASE analysis_state WHEN 'done' THEN 'pending'"
            f"  ELSE analysis_state END WHERE id = {old};"  # its analysis files are by id
            f" UPDATE jobs SET track_id = {new} WHERE track_id = {old};"
            f" UPDATE api_jobs SET track_id = {new} WHERE track_id = {old};"
            " COMMIT;")
        await run_script(self._conn, script)

    async def set_pcm_hash(self, track_id: str, pcm_hash: str,
                           duration_seconds: float | None = None) -> None:
        """The content hash, and the duration counted while decoding for it (truer than
        any header)."""
        await self._conn.execute(
            "UPDATE tracks SET pcm_hash = ?, duration_seconds = COALESCE(?, duration_seconds),"
            " updated_at = ? WHERE id = ?",
            (pcm_hash, duration_seconds, utc_now(), track_id),
        )

    async def audio_replaced(self, track_id: str, pcm_hash: str,
                             duration_seconds: float) -> None:
        """The file holds other audio than its record says, though its size and mtime did
        not change: the new hash, and nothing derived from the old audio."""
        await self._conn.execute(
            "UPDATE tracks SET pcm_hash = ?, duration_seconds = ?, bpm = NULL,"
            " musical_key = NULL, mode = NULL, analysis_state = 'pending',"
            " analysis_error = NULL, features = NULL, analyzed_at = NULL, updated_at = ?"
            " WHERE id = ?",
            (pcm_hash, duration_seconds, utc_now(), track_id),
        )

    async def set_analysis(self, track_id: str, features: dict[str, Any]) -> None:
        """The analysis of the track's current audio; bpm/key/mode as seed 000 spells them."""
        key = features.get("key")
        mode = features.get("mode")
        await self._conn.execute(
            "UPDATE tracks SET analysis_state = 'done', analysis_error = NULL, features = ?,"
            " bpm = ?, musical_key = ?, mode = ?, analyzed_at = ?, updated_at = ? WHERE id = ?",
            (json.dumps(features), features.get("bpm"), None if key is None else str(key),
             None if mode is None else str(mode), utc_now(), utc_now(), track_id),
        )

    async def set_analysis_failed(self, track_id: str, error: str) -> None:
        await self._conn.execute(
            "UPDATE tracks SET analysis_state = 'failed', analysis_error = ?, updated_at = ?"
            " WHERE id = ?", (error, utc_now(), track_id))

    async def pending_analysis(self) -> builtins.list[Track]:  # `list` is a method here
        async with self._conn.execute(
            "SELECT * FROM tracks WHERE analysis_state = 'pending' ORDER BY created_at"
        ) as cur:
            rows = await cur.fetchall()
        return [_row_to_track(row) for row in rows]
