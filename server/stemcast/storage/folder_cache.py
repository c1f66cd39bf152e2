"""Results made once into a folder, whose manifest.json (written last) says they are whole.

Renditions of stems and drum transcriptions live inside their job's folder this way:
the cache pruner removes them with the job, a crash halfway leaves no manifest (so they
are made again), and identical requests that arrive together share one computation.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from stemcast.storage.atomic import write_text_atomic

MANIFEST = "manifest.json"

Manifest = dict[str, Any]


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest if it and every file it names (`files`) are there."""
    try:
        manifest: Manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = manifest.get("files", {})
    if not all(isinstance(p, str) and os.path.isfile(p) for p in files.values()):
        return None
    return manifest


def write_manifest(folder: Path, manifest: Manifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / MANIFEST, json.dumps(manifest))


class FolderCache:
    def __init__(self) -> None:
        self._making: dict[Path, asyncio.Task[Manifest]] = {}

    async def get(self, folder: Path, make: Callable[[], Awaitable[Manifest]]) -> Manifest:
        """The manifest of `folder`, made by `make()` (which writes the files and returns
        the manifest, with `files`: name -> path) when it is missing or incomplete."""
        found = await asyncio.to_thread(read_manifest, folder)
        if found is not None:
            return found
        task = self._making.get(folder)
        if task is None:
            task = asyncio.create_task(self._make(folder, make))
            self._making[folder] = task
            task.add_done_callback(lambda _t: self._making.pop(folder, None))
        # Shielded: one client going away must not cancel the work others wait for.
        return await asyncio.shield(task)

    @staticmethod
    async def _make(folder: Path, make: Callable[[], Awaitable[Manifest]]) -> Manifest:
        manifest = await make()
        await asyncio.to_thread(write_manifest, folder, manifest)
        return manifest
