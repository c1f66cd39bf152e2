"""storage.json_stream: a document with numpy arrays, written in pieces, is byte for byte
json.dumps of the same document with each array as its list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stemcast.storage.json_stream import CHUNK, json_pieces, write_json_streamed


def _as_lists(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.ravel().tolist()
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_lists(item) for item in value]
    return value


def test_pieces_are_json_dumps_of_the_lists(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    long = np.round(rng.uniform(-1, 1, 2 * CHUNK + 7), 3) + 0.0
    document = [
        {"zoom_level": 1, "stem_type": "mix", "sample_rate": 44100, "data": long,
         "ratio": 0.1, "name": "caf\u00e9 \"x\"", "none": None, "flag": True},
        {"empty": np.zeros(0), "exact": np.array([0.1, -0.0, 1e-7, 2.5, 1e16]),
         "chunk": np.arange(CHUNK, dtype=np.float64) / 7, "list": [1, 2.0, "a"]},
        [], {},
    ]
    expected = json.dumps(_as_lists(document), separators=(",", ":"))
    assert "".join(json_pieces(document)) == expected
    target = tmp_path / "out" / "doc.json"
    target.parent.mkdir()
    write_json_streamed(target, document)
    assert target.read_text() == expected
    assert not list(target.parent.glob("*.partial"))
