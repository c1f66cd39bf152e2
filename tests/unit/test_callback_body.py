"""Callback bodies made from files (apijobs/callback_body.py) and the stems callback's
waveform files (apijobs/callback_waveforms.py) equal the in-memory documents they replace.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest

from stemcast.analysis.app_waveforms import stem_amplitude_waveforms
from stemcast.apijobs.callback_body import (
    READ_BYTES,
    base64_file,
    body_pieces,
    json_file,
    resolved,
    spool,
)
from stemcast.apijobs.callback_waveforms import write_callback_waveforms
from stemcast.audio.waveform import waveform_entry
from stemcast.delivery.outputs import resolve
from stemcast.delivery.renditions import Delivered
from stemcast.net.webhooks import WebhookSigner
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.json_stream import write_json_streamed
from stemcast_protocol.options import OutputRequest

RATE = 44100
FOUR = ("drums", "bass", "other", "vocals")


def test_plain_values_are_compact_json() -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c": "é\"x"}, "d": []}
    text = b"".join(body_pieces(value))
    assert json.loads(text) == value
    assert text == json.dumps(value, separators=(",", ":")).encode()


def test_references_are_replaced_by_the_files(tmp_path: Path) -> None:
    document = [{"zoom_level": 0, "low": [0.1, 0.25]}, {"zoom_level": 1}]
    (tmp_path / "bands.json").write_text(json.dumps(document))
    # Longer than one read, and not a multiple of 3: base64 of the pieces must join.
    audio = os.urandom(READ_BYTES * 2 + 1)
    (tmp_path / "drums.wav").write_bytes(audio)
    value = {"stage": "stems", "data": {"waveforms": json_file(tmp_path / "bands.json"),
                                        "stems": {"drums": base64_file(tmp_path / "drums.wav")}}}
    body = resolved(value)
    assert body["data"]["waveforms"] == document
    assert base64.b64decode(body["data"]["stems"]["drums"]) == audio
    assert body["data"]["stems"]["drums"] == base64.b64encode(audio).decode()


def test_only_a_lone_marker_key_is_a_reference(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1]")
    lookalike = {"$stemcast.json_file": str(tmp_path / "x.json"), "other": 1}
    assert resolved({"v": lookalike}) == {"v": lookalike}
    assert resolved({"v": {"$stemcast.json_file": 5}}) == {"v": {"$stemcast.json_file": 5}}


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        spool({"waveforms": json_file(tmp_path / "gone.json")}, tmp_path)


def test_a_spooled_body_is_sent_and_signed_as_its_bytes(tmp_path: Path) -> None:
    audio = os.urandom(READ_BYTES + 7)
    (tmp_path / "vocals.wav").write_bytes(audio)
    value = {"job_id": "j1", "data": {"stems": {"vocals": base64_file(tmp_path / "vocals.wav")}}}
    whole = b"".join(body_pieces(value))
    body = spool(value, tmp_path)
    try:
        assert body.size == len(whole)
        assert b"".join(body.chunks()) == whole
        assert b"".join(body.chunks()) == whole  # readable again (a retry, the signature)
        signer = WebhookSigner("whsec_" + base64.b64encode(b"k" * 32).decode())
        assert signer.headers("msg_1", body.chunks(), 1700000000) == \
            signer.headers("msg_1", whole, 1700000000)
    finally:
        body.close()
    assert not list(tmp_path.glob("tmp*"))  # unlinked: nothing left in the folder


def _peak_entries(level: int, seconds: float, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    pairs = int(seconds * {1: 5, 2: 25, 3: 150}[level])
    entries = []
    for name in ("mix", *FOUR):
        low = -rng.random(pairs)
        entries.append(waveform_entry(level, name, np.stack([low, rng.random(pairs)], 1),
                                      RATE))
    return entries


def test_callback_waveforms_equal_the_in_memory_documents(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path / "job")
    folder.root.mkdir()
    levels = {level: _peak_entries(level, 7.3, level) for level in (1, 2, 3)}
    for level, entries in levels.items():
        write_json_streamed(folder.waveforms(level), entries)
    # A variant's summed stem's peaks are in its rendition's folder, at every level.
    rendition = JobFolder(folder.rendition("key"))
    rendition.root.mkdir(parents=True)
    summed = [{**e, "stem_type": "nodrums"} for level in (1, 2, 3)
              for e in _peak_entries(level, 7.3, 10 + level)[:1]]
    for level in (1, 2, 3):
        write_json_streamed(rendition.waveforms(level),
                            [e for e in summed if e["zoom_level"] == level])
    spec = resolve(OutputRequest(variant="2stems-drums"), FOUR, RATE)
    assert list(spec.plan) == ["drums", "nodrums"]
    delivered = Delivered({name: f"/x/{name}.wav" for name in spec.plan}, spec, [],
                          str(rendition.root))
    made = write_callback_waveforms(str(folder.root), delivered, (1, 2))

    # What the stems callback held in memory before: the level files' entries of the mix
    # and the stems asked, the summed ones, and the app's amplitudes made from them.
    wanted = ["mix", *spec.plan]
    old_peaks = [e for level in (1, 2) for e in [
        *(x for x in levels[level] if x["stem_type"] in wanted),
        *(x for x in summed if x["zoom_level"] == level)]]
    assert json.loads(made.peaks.read_text()) == json.loads(json.dumps(old_peaks))
    assert json.loads(made.app.read_text()) == stem_amplitude_waveforms(old_peaks)
    assert [e["zoom_level"] for e in json.loads(made.app.read_text())] == [0, 1]
    assert {f"{name}_amplitude" for name in wanted} <= set(json.loads(made.app.read_text())[0])
    assert "bass_amplitude" not in json.loads(made.app.read_text())[0]

    # Made once per job and options: a second call finds the files.
    stamp = made.peaks.stat().st_mtime_ns
    assert write_callback_waveforms(str(folder.root), delivered, (1, 2)) == made
    assert made.peaks.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in made.peaks.parent.iterdir()) == ["app.json", "peaks.json"]


def test_missing_level_files_give_empty_documents(tmp_path: Path) -> None:
    spec = resolve(OutputRequest(), FOUR, RATE)
    made = write_callback_waveforms(str(tmp_path), Delivered({}, spec), (1, 2))
    assert json.loads(made.peaks.read_text()) == []
    assert json.loads(made.app.read_text()) == []
