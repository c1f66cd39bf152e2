"""JSON written to a file piece by piece, numpy arrays a chunk at a time.

A long track's waveforms are millions of numbers: as one list of Python floats and one
JSON string they took ~200 MB an hour of audio at once. Here an array's values become
Python floats and text a chunk at a time; the bytes are json.dumps(document with every
array as .tolist(), separators=(",", ":")) exactly. A DiskColumn (values kept in an
unlinked temporary file as they are made, ~30 MB an hour of band waveforms that would
otherwise sit in memory until the document is written) is written like an array.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stemcast.storage.atomic import atomic_target
from stemcast.storage.disk_column import DiskColumn

CHUNK = 1 << 16  # values made Python floats at a time


def _array_pieces(chunks: Iterator[np.ndarray]) -> Iterator[str]:
    yield "["
    for index, chunk in enumerate(chunks):
        if index:
            yield ","
        yield json.dumps(chunk.tolist(), separators=(",", ":"))[1:-1]
    yield "]"


def json_pieces(value: Any) -> Iterator[str]:
    """The compact JSON text of value, in pieces; np.ndarray values are written as flat
    lists of their .tolist() values (callers pass 1-d arrays), DiskColumns likewise."""
    if isinstance(value, np.ndarray):
        flat = value.ravel()
        yield from _array_pieces(flat[start:start + CHUNK]
                                 for start in range(0, flat.size, CHUNK))
    elif isinstance(value, DiskColumn):
        yield from _array_pieces(value.chunks(CHUNK))
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield ("," if index else "") + json.dumps(str(key)) + ":"
            yield from json_pieces(item)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from json_pieces(item)
        yield "]"
    else:
        yield json.dumps(value)


def write_json_streamed(target: Path, document: Any) -> None:
    """write_text_atomic(target, json.dumps(document, separators=(",", ":"))) with arrays
    allowed, without the whole text in memory."""
    with atomic_target(target) as partial, open(partial, "w") as handle:
        for piece in json_pieces(document):
            handle.write(piece)
