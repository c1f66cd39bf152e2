"""The stems callback's waveforms, written to files one zoom level at a time.

The callback carries the peaks the worker wrote (`JOB/waveforms-LEVEL.json`, stemcast's
min/max pairs of the mix and each stem) and the same in the app's shape
(`<stem>_amplitude` per zoom level, analysis/app_waveforms.py). For an hour's track the
two levels sent are millions of numbers: read into Python lists at once they took the
server process from 160 to 223 MB. Here one level's file is read at a time, and both
documents go to files beside the job (`JOB/callback/KEY/`, KEY the options' rendition
key) that the outbox row refers to (callback_body.json_file).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from stemcast.analysis.app_waveforms import stem_amplitude_waveforms
from stemcast.delivery.renditions import Delivered
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.json_stream import json_pieces


@dataclass(frozen=True)
class CallbackWaveforms:
    peaks: Path  # a JSON list: the worker's peak entries at the levels sent
    app: Path  # a JSON list: one app entry per level, `<stem>_amplitude` arrays


@contextmanager
def _replacing(target: Path) -> Iterator[IO[str]]:
    """Write to a unique temporary name, then rename over `target`: two jobs of the same
    track and options may write the same file at once."""
    with tempfile.NamedTemporaryFile("w", dir=target.parent, prefix=f".{target.name}.",
                                     delete=False) as handle:
        try:
            yield handle
        except BaseException:
            handle.close()
            Path(handle.name).unlink(missing_ok=True)
            raise
    os.replace(handle.name, target)


def _level_entries(folders: list[JobFolder], names: list[str],
                   level: int) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = []
    for folder in folders:
        try:
            entries = json.loads(folder.waveforms(level).read_text())
        except (OSError, ValueError):
            continue
        chosen += [e for e in entries if e.get("stem_type") in names]
    for entry in chosen:
        # Arrays are written a chunk at a time, with the same text as the lists.
        entry["data"] = np.asarray(entry.get("data", []), dtype=np.float64)
    return chosen


def write_callback_waveforms(output_dir: str, delivered: Delivered,
                             levels: tuple[int, ...]) -> CallbackWaveforms:
    """Blocking (reads the job's peaks): call it in a thread. Made once per job and
    options; later calls find the files."""
    job = JobFolder.of(output_dir)
    folder = job.callback_waveforms(delivered.spec.key(), levels)
    made = CallbackWaveforms(folder / "peaks.json", folder / "app.json")
    if made.peaks.is_file() and made.app.is_file():
        return made
    folder.mkdir(parents=True, exist_ok=True)
    names = ["mix", *delivered.spec.plan]
    # The job's peaks (mix and master stems), then a variant's summed stems' own.
    sources = [job] if delivered.rendition_dir is None \
        else [job, JobFolder.of(delivered.rendition_dir)]
    with ExitStack() as stack:
        peaks = stack.enter_context(_replacing(made.peaks))
        app = stack.enter_context(_replacing(made.app))
        peaks.write("[")
        app.write("[")
        first_peak = first_app = True
        for level in levels:
            entries = _level_entries(sources, names, level)
            for entry in entries:
                peaks.write("" if first_peak else ",")
                first_peak = False
                peaks.writelines(json_pieces(entry))
            for app_entry in stem_amplitude_waveforms(entries, arrays=True):
                app.write("" if first_app else ",")
                first_app = False
                app.writelines(json_pieces(app_entry))
        peaks.write("]")
        app.write("]")
    return made
