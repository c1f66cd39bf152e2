"""separation.stem_finish: the stems' waveform files written from arrays a chunk at a
time are byte for byte json.dumps of the whole-stem waveform entries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stemcast.audio.raw_pcm import F32, S16
from stemcast.audio.waveform import ZOOM_LEVELS, waveform_entries
from stemcast.separation.stem_finish import finish_stems
from stemcast.storage.job_folder import JobFolder
from tests.support.audio_fixtures import make_music_like_signal

RATE = 8000


def test_waveform_files_are_the_whole_stems_json(tmp_path: Path) -> None:
    # 500 s at 150 pairs a second: the finest level's data is past one JSON chunk.
    stems = {"drums": make_music_like_signal(500, RATE, seed=1),
             "bass": make_music_like_signal(500, RATE, seed=2) * 0.5}
    folder = JobFolder.of(tmp_path)
    folder.stems_dir.mkdir(parents=True, exist_ok=True)
    for layout, name in ((S16, "drums"), (F32, "bass")):
        folder.raw_stem(name, layout.raw_suffix).write_bytes(layout.encode(stems[name]))
    for layout, name in ((S16, "drums"), (F32, "bass")):
        # Each layout in turn, as the worker writes one layout per job.
        finish_stems(tmp_path, [name], layout, 2, RATE, None)
        written = S16.encode(stems[name]) if layout is S16 else None
        samples = (np.frombuffer(written, "<i2").reshape(-1, 2).T / 32768.0
                   if written is not None else stems[name])
        for level in ZOOM_LEVELS:
            expected = [e for e in waveform_entries({name: samples}, RATE)
                        if e["zoom_level"] == level]
            # One entry a line (storage/waveform_files.py), each the compact JSON text.
            assert folder.waveforms(level).read_text() == "[\n" + ",\n".join(
                json.dumps(e, separators=(",", ":")) for e in expected) + "\n]", (name, level)
