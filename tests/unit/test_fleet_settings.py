"""`serve --queue --workers N`: the flag's checks, and each local node's own numba folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemcast.config import Settings
from stemcast.fleet.local_nodes import LocalNodes

QUEUE = "redis://127.0.0.1:6379/0"


def test_workers_need_the_queue() -> None:
    with pytest.raises(ValueError, match=r"--workers is for --queue.*--max-concurrent-jobs"):
        Settings(workers=1).validate()
    with pytest.raises(ValueError, match="--workers must be 0 or more"):
        Settings(workers=-1, queue_url=QUEUE).validate()
    Settings(workers=2, queue_url=QUEUE).validate()
    Settings(queue_url=QUEUE).validate()  # the default: no local workers


def test_each_local_node_has_its_own_numba_cache(tmp_path: Path) -> None:
    nodes = LocalNodes(Settings(data_dir=tmp_path, workers=2, queue_url=QUEUE,
                                numba_cache_dir=None))
    folders = {nodes.config(i).numba_cache for i in range(2)}
    assert len(folders) == 2 and not any(nodes.config(i).numba_cache_per_worker
                                         for i in range(2))
    shared = LocalNodes(Settings(data_dir=tmp_path, workers=2, queue_url=QUEUE,
                                 numba_cache_dir=tmp_path / "numba"))
    # A shared folder is filled beforehand and only read: every node uses it.
    assert {shared.config(i).numba_cache for i in range(2)} == {str(tmp_path / "numba")}
