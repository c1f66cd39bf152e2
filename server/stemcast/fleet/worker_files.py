"""A fleet worker's files when stems go to an object store (`worker --storage s3://...`).

The worker process reads and writes local files, as on one machine: this fetches the
job's input from the store into a scratch folder, and sends what the worker writes to the
store *before* the message that announces it is published, so an API server that reads a
message always finds its bytes: each region as it is final
(`jobs/ID/regions/START_FRAME/NAME.s16.partial`: the raw bytes of the frames
the chunk announces), and at
the end every finished file of the job folder (`jobs/ID/stems/NAME.wav`, stems.json,
waveforms). A worker that takes over a job from a dead one writes the same keys again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

from stemcast.audio.raw_pcm import layout_for, read_frames
from stemcast.separation.worker_messages import (
    SeparateTask,
    TaskChunk,
    TaskDone,
    WorkerReady,
    WorkerToServer,
)
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.store import Store, input_key, job_prefix

log = logging.getLogger(__name__)


def region_prefix(job_id: str, start_frame: int | None = None) -> str:
    base = job_prefix(job_id) + "regions/"
    return base if start_frame is None else f"{base}{start_frame:012d}/"


class WorkerFiles:
    def __init__(self, store: Store, scratch: Path) -> None:
        self.store = store
        self.scratch = scratch

    def _input(self, task: SeparateTask) -> Path:
        return self.scratch / "inputs" / task.job_id / Path(task.input_path).name

    def _folder(self, job_id: str) -> Path:
        return self.scratch / "jobs" / job_id

    async def localize(self, task: SeparateTask) -> SeparateTask:
        """The task as the local worker process runs it: input and output in scratch.
        Raises StoreError when the input cannot be fetched."""
        local = self._input(task)
        folder = self._folder(task.job_id)
        await asyncio.to_thread(shutil.rmtree, folder, True)  # a run starts from nothing
        await asyncio.to_thread(self.store.get_file,
                                input_key(task.job_id, local.name), local)
        return replace(task, input_path=str(local), output_dir=str(folder))

    async def outgoing(self, message: WorkerToServer, task: SeparateTask,
                       ready: WorkerReady | None) -> WorkerToServer:
        """Put the files a message announces in the store; the message as the API server
        must read it (paths in its own job folder). Raises StoreError."""
        if isinstance(message, TaskChunk) and ready is not None:
            await asyncio.to_thread(self._put_region, message, task, ready)
        elif isinstance(message, TaskDone):
            await asyncio.to_thread(self._put_finished, task)
            message = replace(message, stems=self._server_paths(message.stems, task))
        return message

    def _server_paths(self, paths: dict[str, str], task: SeparateTask) -> dict[str, str]:
        """Paths in this worker's scratch -> the same files in the API server's folder."""
        local = self._folder(task.job_id).resolve()
        return {name: str(Path(task.output_dir) / Path(path).resolve().relative_to(local))
                for name, path in paths.items()}

    def _put_region(self, chunk: TaskChunk, task: SeparateTask, ready: WorkerReady) -> None:
        wanted = task.options.model or ready.default_model
        model = next((m for m in ready.models if m.name == wanted), None)
        if model is None:
            log.warning("job %s: no model %s to size its regions", task.job_id, wanted)
            return
        layout = layout_for(task.options.subtype)
        stems_dir = str(JobFolder.of(self._folder(task.job_id)).stems_dir)
        for name in model.sources:
            data = read_frames(stems_dir, name, chunk.start_frame, chunk.frames,
                               model.channels, layout)
            self.store.put_bytes(f"{region_prefix(task.job_id, chunk.start_frame)}{name}"
                                 f"{layout.raw_suffix}", data)

    def _put_finished(self, task: SeparateTask) -> None:
        folder = JobFolder.of(self._folder(task.job_id))
        prefix = job_prefix(task.job_id)
        for path in sorted(p for p in folder.root.rglob("*") if p.is_file()):
            if not path.name.endswith(".partial") and path != folder.stems_json:
                self.store.put_file(prefix + path.relative_to(folder.root).as_posix(), path)
        # stems.json last (a reader that finds it finds every stem), naming the stems
        # where the API server keeps them.
        if folder.stems_json.is_file():
            document = json.loads(folder.stems_json.read_text())
            document["stems"] = self._server_paths(document.get("stems", {}), task)
            self.store.put_bytes(prefix + folder.stems_json.name,
                                 json.dumps(document, indent=2).encode())

    async def forget(self, task: SeparateTask) -> None:
        """The job ended (done, failed or cancelled): its scratch files and input go."""
        await asyncio.to_thread(shutil.rmtree, self._folder(task.job_id), True)
        await asyncio.to_thread(shutil.rmtree, self._input(task).parent, True)
