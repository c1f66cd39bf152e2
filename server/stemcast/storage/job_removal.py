"""Removing a separation job's files: its folder, and its objects in the fleet's store.

The store is set once at start-up by a server whose workers write to an object store
(`serve --storage s3://...`); every place that deletes a job folder (cache pruning,
track deletion, `stemcast cache clear`, a cancelled job) calls this, so that none of
them leaves the stems in the bucket. One server per process: a module-level setting.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

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
