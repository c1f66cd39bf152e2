"""A zip of stem files produced chunk by chunk, never held whole in memory."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


class _Sink(io.RawIOBase):
    """A write-only, non-seekable stream that hands out what was written so far."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def zip_files(files: list[tuple[str, Path]]) -> Iterator[bytes]:
    """Yield a zip (stored, not deflated: WAV barely compresses) of the named files.

    A sync generator: Starlette runs it in a thread, so the event loop never reads disk.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, path in files:
            with path.open("rb") as source, archive.open(name, "w", force_zip64=True) as dest:
                while chunk := source.read(CHUNK):
                    dest.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()
