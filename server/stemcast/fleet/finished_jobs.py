"""A job the fleet finished while no API server was listening for it.

An API server stopped while its job ran (its own node handed the job back, or the server
was killed) requeues the job when it starts again. Within the events' TTL the job's
event stream replays the worker's `done`; after it (the server was away longer), the
`owner` key that stops a second run has expired too, and the job would be separated
again. The finished job's stems.json (written last, in the shared folder or the store)
says it is done: the server takes the result from there instead of queueing the job.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from stemcast.separation.worker_messages import SeparateTask, TaskDone
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.job_objects import download_finished
from stemcast.storage.store import Store, StoreError

log = logging.getLogger(__name__)


def finished_result(task: SeparateTask, store: Store | None) -> TaskDone | None:
    """The job's TaskDone from its finished files; None when it has not finished (or
    what is there is incomplete: then it is separated, as before)."""
    folder = JobFolder.of(task.output_dir)
    if store is not None and not folder.stems_json.is_file():
        try:
            if not download_finished(store, task.job_id, task.output_dir):
                return None
        except StoreError as exc:
            log.warning("job %s: %s; queueing it", task.job_id, exc)
            return None
    try:
        document = json.loads(folder.stems_json.read_text())
        stems = {str(name): str(path) for name, path in document["stems"].items()}
        done = TaskDone(task.job_id, stems, float(document["duration_seconds"]),
                        float(document["processing_time"]), int(document["sample_rate"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("job %s: unreadable %s (%s); separating it again", task.job_id,
                    folder.stems_json, exc)
        return None
    if not stems or not all(Path(path).is_file() for path in stems.values()):
        return None
    return done
