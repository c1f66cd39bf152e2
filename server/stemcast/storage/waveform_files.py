"""A job's waveform peaks on disk: FOLDER/waveforms-LEVEL.json, one JSON list a zoom level.

Each entry (one stem at one level, audio.waveform.waveform_entry) is on its own line, so a
reader takes the entries it wants as text without parsing the others, or any entry's
numbers: an hour's level 3 is 5.4 million numbers for the mix and 4 stems, ~200 MB as
Python floats. The file is still one JSON document (json.loads reads it whole). Files
written by an older stemcast (the whole list on one line) are read whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stemcast.storage.atomic import atomic_target
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.json_stream import json_pieces

_STEM_TYPE = re.compile(rb'"stem_type":("(?:[^"\\]|\\.)*")')


def write_level_files(folder: JobFolder, entries: Sequence[Mapping[str, Any]]) -> None:
    """One file per zoom level found in `entries` (numpy "data" arrays welcome)."""
    for level in sorted({entry["zoom_level"] for entry in entries}):
        with atomic_target(folder.waveforms(level)) as partial, open(partial, "w") as handle:
            handle.write("[")
            first = True
            for entry in entries:
                if entry["zoom_level"] == level:
                    handle.write("\n" if first else ",\n")
                    first = False
                    handle.writelines(json_pieces(entry))
            handle.write("\n]")


def _stem_type(text: bytes) -> str | None:
    found = _STEM_TYPE.search(text)
    return json.loads(found.group(1)) if found else None


def entry_texts(path: Path, names: Collection[str]) -> Iterator[bytes]:
    """The compact JSON text of each entry in `path` whose stem_type is one of `names`.
    OSError when the file is missing."""
    with open(path, "rb") as handle:
        if handle.readline().strip() != b"[":
            # An older file, all on one line: read whole.
            handle.seek(0)
            try:
                entries = json.load(handle)
            except ValueError:
                return
            for entry in entries:
                if entry.get("stem_type") in names:
                    yield json.dumps(entry, separators=(",", ":")).encode()
            return
        for line in handle:
            text = line.rstrip(b"\r\n").removesuffix(b",")
            if text == b"]":
                return
            if _stem_type(text) in names:
                yield text


def level_entries(folder: JobFolder, names: Collection[str], level: int) -> Iterator[bytes]:
    """entry_texts of the folder's file at `level`; nothing when there is none."""
    try:
        yield from entry_texts(folder.waveforms(level), names)
    except FileNotFoundError:
        return
