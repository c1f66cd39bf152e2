"""Delivering a finished separation as a request asked for it (see delivery/outputs.py).

The master's own files are handed out as they are when they already are what was asked
(perhaps fewer of them). Anything else is rendered once per job and options into
`JOB/out/KEY/` (a FolderCache entry) and served from there afterwards: each combination
is its own cache entry inside the job's folder, so the pruner removes it with the job.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stemcast.cpu_pool import CpuPool
from stemcast.delivery.outputs import OutputSpec, resolve
from stemcast.delivery.render_files import render_outputs
from stemcast.jobs.events import JobCompleted
from stemcast.jobs.store import JobStore
from stemcast.storage.folder_cache import FolderCache, Manifest, write_manifest
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.waveform_files import level_entries, write_level_files
from stemcast_protocol.options import OutputRequest

log = logging.getLogger(__name__)

PUSHED_ZOOM_LEVEL = 1  # the overview pushed with the stems; every level is served by HTTP


ALL_ZOOM_LEVELS = (1, 2, 3)


@dataclass(frozen=True)
class Delivered:
    stems: dict[str, str]  # output stem name -> absolute path
    spec: OutputSpec
    waveforms: list[dict[str, Any]] = field(default_factory=list)  # at the levels asked
    # A rendition's folder, whose waveforms-LEVEL.json hold its summed stems' peaks (a
    # variant's); None: the master's files, nothing summed.
    rendition_dir: str | None = None


def spec_for(request: OutputRequest, completed: JobCompleted) -> OutputSpec:
    """Raises OptionError (naming the field) when the job's model cannot give it."""
    return resolve(request, tuple(completed.stems), completed.sample_rate)


def job_waveforms(output_dir: str, names: list[str],
                  levels: tuple[int, ...]) -> list[dict[str, Any]]:
    """The peaks the worker wrote for the mix and the master stems (blocking read)."""
    folder = JobFolder.of(output_dir)
    # Only the entries asked for are parsed (the others stay text).
    return [json.loads(text) for level in levels
            for text in level_entries(folder, names, level)]


def waveform_texts(output_dir: str, delivered: Delivered,
                   levels: tuple[int, ...]) -> Iterator[bytes]:
    """The JSON text of each peaks entry `delivered` has at `levels`, level by level: the
    job's mix and master stems, then a variant's summed stems (its rendition's files).
    Blocking (reads files): iterate in a thread. Nothing is parsed."""
    names = ["mix", *delivered.spec.plan]
    folders = [JobFolder.of(output_dir)]
    if delivered.rendition_dir is not None:
        folders.append(JobFolder.of(delivered.rendition_dir))
    for level in levels:
        for folder in folders:
            yield from level_entries(folder, names, level)


class Renditions:
    def __init__(self, pool: CpuPool, jobs: JobStore) -> None:
        self.pool = pool
        self.jobs = jobs
        self._cache = FolderCache()
        self.rendered = 0

    async def deliver(self, completed: JobCompleted, spec: OutputSpec,
                      levels: tuple[int, ...] = ()) -> Delivered:
        """The files of `spec`, and the waveform peaks at the zoom `levels` asked for."""
        waveforms = await asyncio.to_thread(job_waveforms, completed.output_dir,
                                            ["mix", *spec.plan], levels) if levels else []
        if spec.is_master(completed.sample_rate, completed.subtype == "FLOAT"):
            return Delivered({name: completed.stems[name] for name in spec.plan}, spec,
                             waveforms)
        folder = JobFolder.of(completed.output_dir).rendition(spec.key())

        async def make() -> Manifest:
            stems = await self.pool.run(render_outputs, dict(completed.stems), spec,
                                        str(folder))
            await self.jobs.set_size(completed.job_id, None)  # measured again by the pruner
            self.rendered += 1
            log.info("job %s: rendered %s", completed.job_id, spec.describe())
            return {"files": stems, "output": spec.describe()}

        manifest = await self._cache.get(folder, make)
        if "waveforms" in manifest:
            # Made by an older stemcast, which kept the summed peaks in the manifest.
            await asyncio.to_thread(peaks_to_files, folder, manifest)
        summed = await asyncio.to_thread(job_waveforms, str(folder), list(spec.plan),
                                         levels) if levels else []
        return Delivered(dict(manifest["files"]), spec, waveforms + summed, str(folder))


def peaks_to_files(folder: Path, manifest: Manifest) -> None:
    """An older manifest's summed peaks moved to the folder's waveforms-LEVEL.json."""
    write_level_files(JobFolder(folder), manifest.pop("waveforms"))
    write_manifest(folder, manifest)
