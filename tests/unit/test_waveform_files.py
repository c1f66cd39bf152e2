"""A job's waveform files (storage/waveform_files.py): one JSON document a level, one
entry a line, read back as text entry by entry; older one-line files still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stemcast.audio.waveform import waveform_entry
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.waveform_files import entry_texts, level_entries, write_level_files

RATE = 44100


def _entries(as_array: bool) -> list[dict[str, object]]:
    rng = np.random.default_rng(3)
    return [waveform_entry(level, name, np.stack([-rng.random(40), rng.random(40)], 1), RATE,
                           as_array)
            for level in (1, 2) for name in ("mix", "drums", "vocals")]


def test_levels_are_json_documents_with_an_entry_a_line(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path)
    write_level_files(folder, _entries(as_array=True))
    lists = _entries(as_array=False)
    for level in (1, 2):
        text = folder.waveforms(level).read_text()
        wanted = [e for e in lists if e["zoom_level"] == level]
        assert json.loads(text) == wanted
        assert len(text.splitlines()) == 2 + len(wanted)
    texts = list(level_entries(folder, {"mix", "vocals"}, 2))
    assert texts == [json.dumps(e, separators=(",", ":")).encode() for e in lists
                     if e["zoom_level"] == 2 and e["stem_type"] in ("mix", "vocals")]


def test_an_older_one_line_file_is_read_whole(tmp_path: Path) -> None:
    lists = [e for e in _entries(as_array=False) if e["zoom_level"] == 1]
    path = JobFolder(tmp_path).waveforms(1)
    path.write_text(json.dumps(lists, separators=(",", ":")))
    assert [json.loads(t) for t in entry_texts(path, {"drums"})] == [lists[1]]


def test_a_missing_level_has_no_entries(tmp_path: Path) -> None:
    assert list(level_entries(JobFolder(tmp_path), {"mix"}, 3)) == []
