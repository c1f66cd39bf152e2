"""The scheduler's figures as /health and /queue show them (JSON-ready dicts)."""

from __future__ import annotations

from collections.abc import Iterable

from stemcast.jobs.eta import EtaEstimator, RunningJob, rounded
from stemcast.jobs.models import Job
from stemcast.jobs.transport import WorkerTransport
from stemcast_protocol import Stage


def queue_snapshot(queued: int, running: int, pool: WorkerTransport,
                   eta: EtaEstimator) -> dict[str, object]:
    """/health's `queue`."""
    return {
        "queued": queued,
        "running": running,
        "maxConcurrentJobs": pool.size,
        "realtimeFactor": rounded(eta.realtime_factors.get(pool.model.name)),
        "realtimeFactors": {name: rounded(rtf) for name, rtf in eta.realtime_factors.items()},
        "workerRestarts": pool.restarts,
        "workers": pool.describe(),
    }


def queue_rows(running: Iterable[RunningJob], queue: Iterable[Job]) -> list[dict[str, object]]:
    """/queue's `jobs`: running first, then in queue order."""
    rows = [_row(r.job, "running", r.stage, r.progress, 0) for r in running]
    rows += [_row(job, "queued", Stage.QUEUED, 0.0, index + 1)
             for index, job in enumerate(queue)]
    return rows


def _row(job: Job, state: str, stage: Stage, progress: float,
         position: int) -> dict[str, object]:
    return {
        "jobId": job.id, "trackId": job.track_id, "state": state, "stage": stage.value,
        "progress": round(progress, 4), "priority": job.priority.value,
        "queuePosition": position, "createdAt": job.created_at,
    }
