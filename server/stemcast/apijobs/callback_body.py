"""Callback bodies made from files a piece at a time, never whole in memory.

A long track's stage data is large: an hour's band waveforms are 23 MB of JSON text
(~170 MB as Python objects), its stems' peaks several MB more, and callback mode's stems
up to --callback-inline-max-mb of audio before base64. The outbox row (SQLite) keeps a
reference to each such file instead of its content (`json_file`, `base64_file`); the
body is written from the files when it is sent (`body_pieces`), into an unlinked
temporary file (`spool`) that is signed and then streamed with its Content-Length.

A reference is a one-key object whose key starts with "$stemcast."; only the server
writes outbox rows, so a client cannot plant one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

JSON_FILE = "$stemcast.json_file"  # the value is the file's JSON text, as it is
BASE64_FILE = "$stemcast.base64_file"  # the value is the file's bytes in base64, a string
READ_BYTES = 3 << 18  # a multiple of 3: base64 of the pieces joins into that of the whole


def json_file(path: str | Path) -> dict[str, str]:
    """A value to be replaced by the JSON document in `path` when the body is made."""
    return {JSON_FILE: str(path)}


def base64_file(path: str | Path) -> dict[str, str]:
    """A value to be replaced by the base64 text of the file at `path`."""
    return {BASE64_FILE: str(path)}


def _reference(value: dict[str, Any]) -> tuple[str, Path] | None:
    if len(value) == 1:
        key, path = next(iter(value.items()))
        if key in (JSON_FILE, BASE64_FILE) and isinstance(path, str):
            return key, Path(path)
    return None


def _file_pieces(kind: str, path: Path) -> Iterator[bytes]:
    """Raises OSError when the file is gone (a pruned job): the caller says so."""
    with open(path, "rb") as handle:
        if kind == BASE64_FILE:
            yield b'"'
        while chunk := handle.read(READ_BYTES):
            yield base64.b64encode(chunk) if kind == BASE64_FILE else chunk
        if kind == BASE64_FILE:
            yield b'"'


def body_pieces(value: Any) -> Iterator[bytes]:
    """The compact JSON of `value` (UTF-8), file references replaced by the files."""
    if isinstance(value, dict):
        reference = _reference(value)
        if reference is not None:
            yield from _file_pieces(*reference)
            return
        yield b"{"
        for index, (key, item) in enumerate(value.items()):
            yield (("," if index else "") + json.dumps(str(key)) + ":").encode()
            yield from body_pieces(item)
        yield b"}"
    elif isinstance(value, (list, tuple)):
        yield b"["
        for index, item in enumerate(value):
            if index:
                yield b","
            yield from body_pieces(item)
        yield b"]"
    else:
        yield json.dumps(value).encode()


def resolved(value: Any) -> Any:
    """`value` with its references read (whole, in memory): for tests and small data."""
    return json.loads(b"".join(body_pieces(value)))


@dataclass
class SpooledBody:
    """A body written to an unlinked temporary file: read it as often as needed."""

    file: IO[bytes]
    size: int

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(READ_BYTES):
            yield chunk

    async def stream(self) -> AsyncIterator[bytes]:
        """The body for httpx, each read in a worker thread (the loop never waits on disk)."""
        self.file.seek(0)
        while chunk := await asyncio.to_thread(self.file.read, READ_BYTES):
            yield chunk

    def close(self) -> None:
        self.file.close()


def spool(value: Any, directory: Path | None = None) -> SpooledBody:
    """The body of `value` in a temporary file, removed on close(). Blocking (reads
    every referenced file): call it in a thread. OSError when a referenced file is gone.
    """
    handle = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (SpooledBody closes it)
    try:
        for piece in body_pieces(value):
            handle.write(piece)
    except BaseException:
        handle.close()
        raise
    return SpooledBody(handle, handle.tell())
