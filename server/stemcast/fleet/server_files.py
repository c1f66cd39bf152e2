"""The API server's side of an object store (`serve --queue ... --storage s3://...`).

The job folder under `--data-dir jobs/` stays the API server's view of a job (everything
that serves stems reads it: HTTP files, WebSocket chunks, Mismo fields, renditions), now a
read-through cache of the store: the input goes up before the job is queued; a region a
worker announces is fetched from the store into the job's raw files before the scheduler
hears of it (so clients are streamed from the store as the regions are written); the
finished files come down before the job is reported done. Region objects are deleted
once the finished WAVs are here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from stemcast.fleet.worker_files import region_prefix
from stemcast.separation.worker_messages import SeparateTask, TaskChunk, TaskDone
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.job_objects import download_finished
from stemcast.storage.store import Store, StoreError, input_key, job_prefix

log = logging.getLogger(__name__)


class ServerFiles:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def put_input(self, task: SeparateTask) -> None:
        """Raises StoreError."""
        path = Path(task.input_path)
        await asyncio.to_thread(self.store.put_file, input_key(task.job_id, path.name), path)

    async def pull(self, followed: str, message: object, output_dirs: list[str]) -> None:
        """Bring what `message` announces into every job folder that follows `followed`.
        Raises StoreError."""
        if not output_dirs:
            return  # cancelled here meanwhile
        if isinstance(message, TaskChunk):
            await asyncio.to_thread(self._pull_region, followed, message, output_dirs)
        elif isinstance(message, TaskDone):
            await asyncio.to_thread(self._pull_finished, followed, output_dirs)

    def _pull_region(self, followed: str, chunk: TaskChunk, output_dirs: list[str]) -> None:
        prefix = region_prefix(followed, chunk.start_frame)
        for key in self.store.keys(prefix):
            data = self.store.get_bytes(key)
            offset = chunk.start_frame * (len(data) // max(chunk.frames, 1))
            for output_dir in output_dirs:
                stems = JobFolder.of(output_dir).stems_dir
                stems.mkdir(parents=True, exist_ok=True)
                # At its offset, not appended: a job run again after a worker died
                # writes the same regions again.
                fd = os.open(stems / key[len(prefix):], os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    os.pwrite(fd, data, offset)
                finally:
                    os.close(fd)

    def _pull_finished(self, followed: str, output_dirs: list[str]) -> None:
        for output_dir in output_dirs:
            if not download_finished(self.store, followed, output_dir):
                raise StoreError(f"the worker reported job {followed} done but "
                                 f"{self.store.url}{job_prefix(followed)} has no stems.json; "
                                 "check the store's lifecycle rules and the workers' logs")
            for raw in JobFolder.of(output_dir).stems_dir.glob("*.partial"):
                raw.unlink(missing_ok=True)  # as the worker's own folder: WAVs only now

    async def ended(self, job_id: str, task: SeparateTask | None) -> None:
        """A job's input and regions are no longer needed (done, failed, cancelled)."""
        try:
            await asyncio.to_thread(self.store.delete_prefix, region_prefix(job_id))
            if task is not None:
                await asyncio.to_thread(self.store.delete_prefix, input_key(job_id, ""))
        except StoreError as exc:
            log.warning("job %s: %s (left in the store)", job_id, exc)
