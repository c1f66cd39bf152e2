"""SQL for API jobs and their callback outbox."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiosqlite

from stemcast.apijobs.models import AnalysisOptions, ApiJob, ApiJobStatus, DeliveryMode
from stemcast.db.database import utc_now
from stemcast_protocol import Priority


def _row_to_job(row: aiosqlite.Row) -> ApiJob:
    return ApiJob(
        id=row["id"],
        track_id=row["track_id"],
        track_hash=row["track_hash"],
        separation_job_id=row["separation_job_id"],
        options=AnalysisOptions.from_dict(json.loads(row["options"])),
        priority=Priority(row["priority"]),
        callback_url=row["callback_url"],
        delivery_mode=DeliveryMode(row["delivery_mode"]),
        status=ApiJobStatus(row["status"]),
        stage=row["stage"],
        progress=row["progress"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        stages_completed=json.loads(row["stages_completed"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        processing_time=row["processing_time"],
    )


@dataclass(frozen=True)
class Callback:
    id: int
    api_job_id: str
    url: str
    stage: str
    status: str
    timestamp: str
    data: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None


def _row_to_callback(r: aiosqlite.Row) -> Callback:
    return Callback(id=r["id"], api_job_id=r["api_job_id"], url=r["url"], stage=r["stage"],
                    status=r["status"], timestamp=r["timestamp"], data=json.loads(r["data"]),
                    state=r["state"], attempts=r["attempts"],
                    next_attempt_at=r["next_attempt_at"], last_error=r["last_error"])


class ApiJobStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def get(self, job_id: str) -> ApiJob | None:
        async with self._conn.execute("SELECT * FROM api_jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_job(row) if row else None

    async def live(self) -> list[ApiJob]:
        async with self._conn.execute(
            "SELECT * FROM api_jobs WHERE status IN ('queued', 'processing') ORDER BY created_at"
        ) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

    async def count_by_status(self) -> dict[str, int]:
        async with self._conn.execute(
            "SELECT status, COUNT(*) FROM api_jobs GROUP BY status"
        ) as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}

    async def create(self, *, job_id: str, track_id: str, track_hash: str | None,
                     options: AnalysisOptions, priority: Priority, callback_url: str | None,
                     delivery_mode: DeliveryMode) -> ApiJob:
        """A new job, or a finished one with the same id started over (a re-request)."""
        now = utc_now()
        await self._conn.execute("DELETE FROM api_jobs WHERE id = ?", (job_id,))
        await self._conn.execute(
            "INSERT INTO api_jobs (id, track_id, track_hash, options, priority, callback_url,"
            " delivery_mode, status, stage, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 'queued', ?, ?)",
            (job_id, track_id, track_hash, json.dumps(options.to_dict()), priority.value,
             callback_url, delivery_mode.value, now, now),
        )
        job = await self.get(job_id)
        assert job is not None
        return job

    async def update(self, job_id: str, **fields: Any) -> None:
        if "stages_completed" in fields:
            fields["stages_completed"] = json.dumps(fields["stages_completed"])
        if "status" in fields and isinstance(fields["status"], ApiJobStatus):
            fields["status"] = fields["status"].value
        fields["updated_at"] = utc_now()
        columns = ", ".join(f"{name} = ?" for name in fields)
        await self._conn.execute(f"UPDATE api_jobs SET {columns} WHERE id = ?",
                                 (*fields.values(), job_id))

    async def set_public_url(self, job_id: str, base: str) -> None:
        await self._conn.execute("UPDATE api_jobs SET public_url = ? WHERE id = ?",
                                 (base, job_id))

    async def public_url(self, job_id: str) -> str | None:
        """The base URL the job was submitted to (for absolute poll-mode URLs)."""
        async with self._conn.execute("SELECT public_url FROM api_jobs WHERE id = ?",
                                      (job_id,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    # ---- callbacks ------------------------------------------------------------------

    async def add_callback(self, api_job_id: str, url: str, stage: str, status: str,
                           data: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO callbacks (api_job_id, url, stage, status, timestamp, data,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (api_job_id, url, stage, status, utc_now(), json.dumps(data), time.time()),
        )

    async def next_callbacks(self) -> list[Callback]:
        """The oldest pending callback of each job: a job's callbacks go out in order."""
        async with self._conn.execute(
            "SELECT * FROM callbacks WHERE id IN (SELECT MIN(id) FROM callbacks"
            " WHERE state = 'pending' GROUP BY api_job_id) ORDER BY next_attempt_at"
        ) as cur:
            rows = await cur.fetchall()
        return [_row_to_callback(r) for r in rows]

    async def get_callback(self, callback_id: int) -> Callback | None:
        async with self._conn.execute("SELECT * FROM callbacks WHERE id = ?",
                                      (callback_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_callback(row) if row else None

    async def retry_pending_now(self) -> int:
        """At start: whatever waited for a retry is due now (the target may be back)."""
        cursor = await self._conn.execute(
            "UPDATE callbacks SET next_attempt_at = ? WHERE state = 'pending'", (time.time(),))
        return cursor.rowcount

    async def callback_delivered(self, callback_id: int) -> None:
        await self._conn.execute(
            "UPDATE callbacks SET state = 'delivered', attempts = attempts + 1,"
            " delivered_at = ?, last_error = NULL WHERE id = ?", (utc_now(), callback_id))

    async def callback_attempt_failed(self, callback_id: int, error: str,
                                      retry_at: float | None) -> None:
        if retry_at is None:
            await self._conn.execute(
                "UPDATE callbacks SET state = 'failed', attempts = attempts + 1,"
                " last_error = ? WHERE id = ?", (error, callback_id))
        else:
            await self._conn.execute(
                "UPDATE callbacks SET attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ? WHERE id = ?", (error, retry_at, callback_id))

    async def callbacks_for(self, api_job_id: str) -> list[dict[str, Any]]:
        async with self._conn.execute(
            "SELECT stage, state, attempts, last_error, delivered_at FROM callbacks"
            " WHERE api_job_id = ? ORDER BY id", (api_job_id,)
        ) as cur:
            return [dict(row) for row in await cur.fetchall()]

    async def callback_counts(self) -> dict[str, int]:
        async with self._conn.execute(
            "SELECT state, COUNT(*) FROM callbacks GROUP BY state"
        ) as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}
