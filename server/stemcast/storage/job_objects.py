"""A separation job's objects in the fleet's store, kept in step with its folder.

The store is set once at start-up by a server whose workers write to an object store
(`serve --storage s3://...`). Every place that deletes a job folder (cache pruning, track
deletion) calls remove_job_folder, so none of them leaves the stems in the bucket; a
cache hit whose folder is gone from the API server's disk (a new disk, a restored
database) is read back from the store instead of separated again. One server per
process: a module-level setting.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from stemcast.storage.job_folder import JobFolder
from stemcast.storage.store import Store, StoreError, job_prefix

log = logging.getLogger(__name__)

_store: Store | None = None


def use_store(store: Store | None) -> None:
    global _store
    _store = store


async def remove_job_folder(output_dir: str) -> None:
    await asyncio.to_thread(shutil.rmtree, output_dir, True)
    store = _store
    if store is None:
        return
    try:
        await asyncio.to_thread(store.delete_prefix, job_prefix(Path(output_dir).name))
    except StoreError as exc:
        log.error("%s; the job's objects stay in the store", exc)


def download_finished(store: Store, job_id: str, output_dir: str) -> bool:
    """A finished job's files (not its regions) from the store into `output_dir`, stems.json
    last as it was written; False when the store has no stems.json for the job."""
    prefix = job_prefix(job_id)
    keys = [k for k in store.keys(prefix) if not k.startswith(prefix + "regions/")]
    if prefix + "stems.json" not in keys:
        return False
    keys.sort(key=lambda k: k == prefix + "stems.json")
    for key in keys:
        store.get_file(key, JobFolder.of(output_dir).root / key[len(prefix):])
    return True


async def restore_job_folder(output_dir: str) -> bool:
    """Download a finished job's files from the store into its folder; whether it could."""
    store = _store
    if store is None:
        return False
    try:
        restored = await asyncio.to_thread(download_finished, store, Path(output_dir).name,
                                           output_dir)
    except StoreError as exc:
        log.error("%s; separating again", exc)
        return False
    if restored:
        log.info("job folder %s read back from %s", output_dir, store.url)
    return restored
