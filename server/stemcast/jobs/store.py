"""SQL for the jobs table. Every job state transition goes through here."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import aiosqlite

from stemcast.db.busy import DEFAULT_BUSY_TIMEOUT_S, DatabaseBusyError, retry_locked
from stemcast.db.database import utc_now
from stemcast.jobs.models import Job, JobState, SeparationOptions
from stemcast_protocol import Priority, Stage

log = logging.getLogger(__name__)


def _row_to_job(row: aiosqlite.Row) -> Job:
    return Job(
        id=row["id"],
        seq=row["seq"],
        cache_key=row["cache_key"],
        pcm_hash=row["pcm_hash"],
        track_id=row["track_id"],
        input_path=row["input_path"],
        model=row["model"],
        options=SeparationOptions.from_dict(json.loads(row["options"])),
        priority=Priority(row["priority"]),
        state=JobState(row["state"]),
        stage=row["stage"],
        progress=row["progress"],
        attempts=row["attempts"],
        output_dir=row["output_dir"],
        created_at=row["created_at"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        stems=json.loads(row["stems"]) if row["stems"] else {},
        duration_seconds=row["duration_seconds"],
        processing_time=row["processing_time"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        sample_rate=row["sample_rate"],
    )


class JobStore:
    def __init__(self, conn: aiosqlite.Connection,
                 busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self._conn = conn
        self._busy_timeout_s = busy_timeout_s

    @property
    def connection(self) -> aiosqlite.Connection:
        """For the other tables of the jobs package (eta_store)."""
        return self._conn

    @property
    def busy_timeout_s(self) -> float:
        return self._busy_timeout_s

    async def _write(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write, retried while another process holds the lock (DatabaseBusyError
        after the last try); returns the rows changed."""
        async def attempt() -> int:
            cursor = await self._conn.execute(sql, params)
            return cursor.rowcount

        return await retry_locked(attempt, what, self._busy_timeout_s)

    async def _one(self, sql: str, params: tuple[Any, ...]) -> Job | None:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return _row_to_job(row) if row else None

    async def _many(self, sql: str, params: tuple[Any, ...] = ()) -> list[Job]:
        async with self._conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return [_row_to_job(row) for row in rows]

    async def get(self, job_id: str) -> Job | None:
        return await self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    async def live_for_key(self, key: str) -> Job | None:
        return await self._one(
            "SELECT * FROM jobs WHERE cache_key = ? AND state IN ('queued', 'running')", (key,)
        )

    async def completed_for_key(self, key: str) -> Job | None:
        return await self._one(
            "SELECT * FROM jobs WHERE cache_key = ? AND state = 'completed'"
            " ORDER BY finished_at DESC LIMIT 1",
            (key,),
        )

    async def latest_completed_for_track(self, track_id: str,
                                         pcm_hash: str | None = None) -> Job | None:
        """The newest completed separation of a track (by its id, or its audio's hash)."""
        return await self._one(
            "SELECT * FROM jobs WHERE state = 'completed' AND (track_id = ? OR pcm_hash = ?)"
            " ORDER BY finished_at DESC, seq DESC LIMIT 1",
            (track_id, pcm_hash or ""),
        )

    async def completed_for_track(self, track_id: str, pcm_hash: str | None = None,
                                  limit: int = 50) -> list[Job]:
        """A track's completed separations (by its id or its audio's hash), newest first."""
        return await self._many(
            "SELECT * FROM jobs WHERE state = 'completed' AND (track_id = ? OR pcm_hash = ?)"
            " ORDER BY finished_at DESC, seq DESC LIMIT ?",
            (track_id, pcm_hash or "", limit),
        )

    async def separations(self) -> list[Job]:
        """Every completed or live job, newest first: the library lists them per audio."""
        return await self._many(
            "SELECT * FROM jobs WHERE state IN ('completed', 'queued', 'running')"
            " ORDER BY seq DESC")

    async def live_jobs(self) -> list[Job]:
        return await self._many(
            "SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY seq"
        )

    async def recent(self, limit: int = 100) -> list[Job]:
        return await self._many("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,))

    async def create(
        self,
        *,
        key: str,
        pcm_hash: str,
        track_id: str | None,
        input_path: str,
        model: str,
        options: SeparationOptions,
        priority: Priority,
        output_root: str,
        duration_seconds: float | None,
    ) -> Job:
        job_id = str(uuid.uuid4())
        await self._write(
            "queueing a job",
            "INSERT INTO jobs (id, seq, cache_key, pcm_hash, track_id, input_path, model, options,"
            " priority, state, stage, output_dir, duration_seconds, created_at)"
            " VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?, ?, ?, ?, ?, ?, ?,"
            " 'queued', ?, ?, ?, ?)",
            (job_id, key, pcm_hash, track_id, input_path, model, json.dumps(options.to_dict()),
             priority.value, Stage.QUEUED.value, f"{output_root}/{job_id}", duration_seconds,
             utc_now()),
        )
        job = await self.get(job_id)
        assert job is not None
        return job

    async def set_priority(self, job_id: str, priority: Priority) -> None:
        await self._write("raising a job's priority",
                          "UPDATE jobs SET priority = ? WHERE id = ?", (priority.value, job_id))

    async def mark_running(self, job_id: str) -> None:
        await self._write(
            "starting a job",
            "UPDATE jobs SET state = 'running', stage = ?, started_at = ? WHERE id = ?",
            (Stage.DECODING.value, utc_now(), job_id),
        )

    async def set_progress(self, job_id: str, stage: str, progress: float) -> None:
        """Advisory (live progress is in memory): a locked database skips it."""
        try:
            await self._write(
                "recording a job's stage",
                "UPDATE jobs SET stage = ?, progress = ? WHERE id = ? AND state = 'running'",
                (stage, progress, job_id),
            )
        except DatabaseBusyError as exc:
            log.warning("job %s: stage %s not recorded: %s", job_id, stage, exc)

    async def requeue(self, job_id: str, *, count_attempt: bool) -> None:
        await self._write(
            "queueing a job again",
            "UPDATE jobs SET state = 'queued', stage = 'queued', progress = 0,"
            " attempts = attempts + ? WHERE id = ?",
            (1 if count_attempt else 0, job_id),
        )

    async def requeue_interrupted(self) -> int:
        """After a restart: jobs that were running are queued again, not lost."""
        return await self._write(
            "queueing interrupted jobs again",
            "UPDATE jobs SET state = 'queued', stage = 'queued', progress = 0"
            " WHERE state = 'running'")

    async def requeue_live(self, job_id: str) -> int:
        """A job whose last transition could not be written: queued again, if still live."""
        return await self._write(
            "queueing a job again after a database lock",
            "UPDATE jobs SET state = 'queued', stage = 'queued', progress = 0"
            " WHERE id = ? AND state IN ('queued', 'running')", (job_id,))

    async def mark_completed(
        self, job_id: str, stems: dict[str, str], processing_time: float, duration: float,
        sample_rate: int | None = None,
    ) -> None:
        now = utc_now()
        await self._write(
            "recording a completed job",
            "UPDATE jobs SET state = 'completed', stage = 'complete', progress = 1, stems = ?,"
            " processing_time = ?, duration_seconds = ?, finished_at = ?, last_used_at = ?,"
            " sample_rate = ?, error_code = NULL, error_message = NULL WHERE id = ?",
            (json.dumps(stems), processing_time, duration, now, now, sample_rate, job_id),
        )

    async def mark_failed(self, job_id: str, code: str, message: str, *,
                          count_attempt: bool = False) -> None:
        await self._write(
            "recording a failed job",
            "UPDATE jobs SET state = 'failed', error_code = ?, error_message = ?,"
            " finished_at = ?, attempts = attempts + ? WHERE id = ?",
            (code, message, utc_now(), 1 if count_attempt else 0, job_id),
        )

    async def mark_cancelled(self, job_id: str, message: str) -> None:
        await self._write(
            "cancelling a job",
            "UPDATE jobs SET state = 'cancelled', error_code = 'CANCELLED', error_message = ?,"
            " finished_at = ? WHERE id = ?",
            (message, utc_now(), job_id),
        )

    async def forget_completed(self, job_id: str) -> None:
        """Its files are gone: never answer from this entry again."""
        await self._write(
            "forgetting removed stems",
            "UPDATE jobs SET state = 'failed', error_code = 'FILES_REMOVED',"
            " error_message = 'stem files were removed from disk' WHERE id = ?",
            (job_id,),
        )

    async def touch(self, job_id: str) -> None:
        """Its stems were served or announced: most recently used now (cache LRU)."""
        await self._conn.execute(
            "UPDATE jobs SET last_used_at = ? WHERE id = ? AND state = 'completed'",
            (utc_now(), job_id),
        )

    async def set_size(self, job_id: str, size_bytes: int | None) -> None:
        """None: unknown (files were added), measured again by the pruner."""
        await self._conn.execute(
            "UPDATE jobs SET size_bytes = ? WHERE id = ?", (size_bytes, job_id)
        )

    async def cache_rows(self) -> list[dict[str, Any]]:
        """The stem cache: completed jobs with their folder, last use and size."""
        async with self._conn.execute(
            "SELECT id, output_dir, finished_at, last_used_at, size_bytes, track_id, model"
            " FROM jobs WHERE state = 'completed' ORDER BY last_used_at"
        ) as cur:
            rows = await cur.fetchall()
        return [dict(row) for row in rows]

    async def count_by_state_priority(self) -> dict[tuple[str, str], int]:
        async with self._conn.execute(
            "SELECT state, priority, COUNT(*) FROM jobs GROUP BY state, priority"
        ) as cur:
            rows = await cur.fetchall()
        return {(row[0], row[1]): row[2] for row in rows}

    async def count_by_state(self) -> dict[str, int]:
        async with self._conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state") as cur:
            rows = await cur.fetchall()
        return {row[0]: row[1] for row in rows}
