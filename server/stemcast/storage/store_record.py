"""Which object store a data folder's server put stems in (`DATA_DIR/storage.json`).

The server writes it at start-up when it runs with `--storage`; the offline `stemcast
cache clear|prune` reads it, so that a clear without `--storage` does not silently leave
the cleared jobs' stems in the bucket forever. The newest store wins: jobs made with an
older one are not told apart (their objects stay until cleared from that store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stemcast.storage.atomic import write_text_atomic

RECORD_NAME = "storage.json"


@dataclass(frozen=True)
class StoreRecord:
    url: str
    endpoint: str | None

    def flags(self) -> str:
        """The command-line flags that name this store again."""
        endpoint = f" --storage-endpoint {self.endpoint}" if self.endpoint else ""
        return f"--storage {self.url}{endpoint}"


def record_store(data_dir: Path, url: str, endpoint: str | None) -> None:
    write_text_atomic(data_dir / RECORD_NAME,
                      json.dumps({"storage": url, "storageEndpoint": endpoint}) + "\n")


def recorded_store(data_dir: Path) -> StoreRecord | None:
    """The store recorded in `data_dir`, None when its server never used one (or the
    record is unreadable: the clear then behaves as before the record existed)."""
    try:
        record = json.loads((data_dir / RECORD_NAME).read_text())
        return StoreRecord(str(record["storage"]), record.get("storageEndpoint") or None)
    except (OSError, ValueError, KeyError, TypeError):
        return None
