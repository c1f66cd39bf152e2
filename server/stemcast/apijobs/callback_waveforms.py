"""The stems callback's waveforms, written to files without a whole track in memory.

The callback carries the peaks the worker wrote (`JOB/waveforms-LEVEL.json`, stemcast's
min/max pairs of the mix and each stem) and the same in the app's shape
(`<stem>_amplitude` per zoom level, analysis/app_waveforms.py). For an hour's track the
two levels sent are millions of numbers: read into Python lists at once they took the
server process from 160 to 223 MB. Here the peaks are copied as text, entry by entry
(storage/waveform_files.py), and the app's amplitudes are made parsing one entry (one
stem at one level) at a time. Both documents go to files beside the job
(`JOB/callback/KEY-LEVELS/`) that the outbox row refers to (callback_body.json_file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from stemcast.analysis.app_waveforms import stem_amplitude_waveforms
from stemcast.delivery.renditions import Delivered, waveform_texts
from stemcast.storage.atomic import atomic_target
from stemcast.storage.job_folder import JobFolder
from stemcast.storage.json_stream import json_pieces


@dataclass(frozen=True)
class CallbackWaveforms:
    peaks: Path  # a JSON list: the worker's peak entries at the levels sent
    app: Path  # a JSON list: one app entry per level, `<stem>_amplitude` arrays


def _copied(texts: Iterator[bytes], handle: IO[str]) -> Iterator[bytes]:
    """`texts` passed on, each also written to `handle` as an item of a JSON list."""
    for index, text in enumerate(texts):
        handle.write("," if index else "")
        handle.write(text.decode())
        yield text


def _app_entries(texts: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """The app's entries, one per level, from the peak entries' texts (in level order),
    parsing one entry at a time."""
    current: dict[str, Any] | None = None
    for text in texts:
        [app] = stem_amplitude_waveforms([json.loads(text)], arrays=True)
        if current is not None and current["zoom_level"] != app["zoom_level"]:
            yield current
            current = None
        current = app if current is None else {**current, **app}
    if current is not None:
        yield current


def write_callback_waveforms(output_dir: str, delivered: Delivered,
                             levels: tuple[int, ...]) -> CallbackWaveforms:
    """Blocking (reads the job's peaks): call it in a thread. Made once per job and
    options; later calls find the files. Two jobs of the same track may write them at
    once: atomic_target gives each writer its own partial file."""
    folder = JobFolder.of(output_dir).callback_waveforms(delivered.spec.key(), levels)
    made = CallbackWaveforms(folder / "peaks.json", folder / "app.json")
    if made.peaks.is_file() and made.app.is_file():
        return made
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        peaks = stack.enter_context(open(stack.enter_context(atomic_target(made.peaks)), "w"))
        app = stack.enter_context(open(stack.enter_context(atomic_target(made.app)), "w"))
        # One pass over the level files: each entry's text is copied to the peaks as it
        # is, and parsed (one entry at a time) for the app's amplitudes.
        peaks.write("[")
        app.write("[")
        texts = _copied(waveform_texts(output_dir, delivered, levels), peaks)
        for index, entry in enumerate(_app_entries(texts)):
            app.write("," if index else "")
            app.writelines(json_pieces(entry))
        peaks.write("]")
        app.write("]")
    return made
