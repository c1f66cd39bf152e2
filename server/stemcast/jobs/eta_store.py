"""The ETA's history in SQLite (eta_timings): loaded at start, one row per finished job,
only the recent few per model, device and length bucket kept."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiosqlite

from stemcast.db.busy import DEFAULT_BUSY_TIMEOUT_S, retry_locked
from stemcast.db.database import utc_now
from stemcast.jobs.eta_history import KEPT, JobTiming, StageTiming, TimingKey
from stemcast_protocol import Stage

log = logging.getLogger(__name__)


def _stages_json(timing: JobTiming) -> str:
    return json.dumps({stage.value: {"seconds": round(part.seconds, 4),
                                     "curve": [[round(f, 4), round(s, 4)]
                                               for f, s in part.curve]}
                       for stage, part in timing.stages.items()})


def _timing(duration: float, stages: str) -> JobTiming:
    parsed: dict[str, Any] = json.loads(stages)
    return JobTiming(duration, {
        Stage(name): StageTiming(float(part["seconds"]),
                                 tuple((float(f), float(s)) for f, s in part["curve"]))
        for name, part in parsed.items()})


class EtaTimingStore:
    def __init__(self, conn: aiosqlite.Connection,
                 busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self._conn = conn
        self._busy_timeout_s = busy_timeout_s

    async def load(self) -> list[tuple[TimingKey, JobTiming]]:
        """Every kept timing, oldest first (the order the history learns them in)."""
        async with self._conn.execute(
                "SELECT model, device, length_bucket, duration_seconds, stages"
                " FROM eta_timings ORDER BY id") as cursor:
            rows = await cursor.fetchall()
        out = []
        for row in rows:
            try:
                out.append((TimingKey(row[0], row[1], int(row[2])), _timing(row[3], row[4])))
            except (ValueError, KeyError, TypeError) as exc:  # a row no stage name fits
                log.warning("ETA timing skipped (%s): %s", exc, row[4][:200])
        return out

    async def save(self, key: TimingKey, timing: JobTiming) -> None:
        """This job's timing, and the key's rows beyond the newest KEPT dropped."""
        async def insert() -> None:
            await self._conn.execute(
                "INSERT INTO eta_timings (model, device, length_bucket, duration_seconds,"
                " stages, finished_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key.model, key.device, key.bucket, timing.duration, _stages_json(timing),
                 utc_now()))

        async def trim() -> None:
            await self._conn.execute(
                "DELETE FROM eta_timings WHERE model = ? AND device = ? AND length_bucket = ?"
                " AND id NOT IN (SELECT id FROM eta_timings WHERE model = ? AND device = ?"
                " AND length_bucket = ? ORDER BY id DESC LIMIT ?)",
                (key.model, key.device, key.bucket, key.model, key.device, key.bucket, KEPT))

        # Two writes, each retried alone: a retried pair could insert the row twice.
        await retry_locked(insert, "keeping a job's timing for ETAs", self._busy_timeout_s)
        await retry_locked(trim, "dropping old ETA timings", self._busy_timeout_s)
