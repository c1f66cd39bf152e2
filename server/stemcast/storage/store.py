"""Where a fleet's stems live when the machines share no folder: an object store.

`--storage` names it: unset, the API server's data folder is shared with the workers
(NFS-style, nothing copied); `s3://bucket/prefix` an S3-compatible store (storage/s3.py);
`file:///path` (or a plain path) a folder store, objects as files, for tests and for a
folder that the machines mount at different paths. Keys are relative ("jobs/ID/stems/
bass.wav"); a store puts its own prefix in front.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from stemcast.storage.atomic import atomic_target

STORE_SCHEMES = ("s3", "file")


class StoreError(RuntimeError):
    """The store refused or could not be reached; the message names the fix."""


class Store(Protocol):
    url: str

    def check(self) -> None:
        """Raise StoreError (bucket missing, credentials refused, endpoint down) now,
        at start-up, rather than on the first job."""

    def put_file(self, key: str, path: Path) -> None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_file(self, key: str, path: Path) -> None:
        """Download to `path` atomically (a reader never sees half an object)."""

    def get_bytes(self, key: str) -> bytes: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; how many went."""


class FolderStore:
    """Objects as files under a root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"

    def check(self) -> None:
        if not self.root.is_dir():
            raise StoreError(f"--storage {self.url}: {self.root} is not a folder; create it "
                             "or fix the path")
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"--storage {self.url}: no permission to write in {self.root}")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StoreError(f"object key {key!r} points outside {self.root}")
        return path

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(target) as partial:
            shutil.copyfile(path, partial)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(target) as partial:
            partial.write_bytes(data)

    def get_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise StoreError(f"no object {key!r} in {self.url}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(path) as partial:
            shutil.copyfile(source, partial)

    def get_bytes(self, key: str) -> bytes:
        source = self._path(key)
        if not source.is_file():
            raise StoreError(f"no object {key!r} in {self.url}")
        return source.read_bytes()

    def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        folder = base if base.is_dir() else base.parent
        found = [p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file()]
        return sorted(k for k in found if k.startswith(prefix))

    def delete_prefix(self, prefix: str) -> int:
        doomed = self.keys(prefix)
        for key in doomed:
            self._path(key).unlink(missing_ok=True)
        base = self._path(prefix.rstrip("/")) if prefix else None
        if base is not None and base.is_dir():
            shutil.rmtree(base, ignore_errors=True)
        return len(doomed)


def open_store(url: str, endpoint: str | None = None, region: str | None = None) -> Store:
    """The store an `--storage` URL names. Raises ValueError on a URL of another kind."""
    scheme = url.split("://")[0] if "://" in url else "file"
    if scheme == "s3":
        from stemcast.storage.s3 import S3Store

        return S3Store.from_url(url, endpoint=endpoint, region=region)
    if scheme == "file":
        return FolderStore(Path(url.removeprefix("file://")).expanduser().resolve())
    raise ValueError(f"--storage must be s3://BUCKET/PREFIX or a folder (file:///path); got "
                     f"{url!r}")


def job_prefix(job_id: str) -> str:
    """A separation job's folder in the store (its files keep their JobFolder names)."""
    return f"jobs/{job_id}/"


def input_key(job_id: str, filename: str) -> str:
    """The audio a job separates, for workers that cannot open the API server's files."""
    return f"inputs/{job_id}/{filename}"
