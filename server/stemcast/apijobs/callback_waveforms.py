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
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from stemcast.analysis.app_waveforms import stem_amplitude_waveforms
from stemcast.delivery.renditions import Delivered, waveform_texts
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
    options; later calls find the files."""
    folder = JobFolder.of(output_dir).callback_waveforms(delivered.spec.key(), levels)
    made = CallbackWaveforms(folder / "peaks.json", folder / "app.json")
    if made.peaks.is_file() and made.app.is_file():
        return made
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        peaks = stack.enter_context(_replacing(made.peaks))
        app = stack.enter_context(_replacing(made.app))
        peaks.write("[")
        for index, text in enumerate(waveform_texts(output_dir, delivered, levels)):
            peaks.write("," if index else "")
            peaks.write(text.decode())
        peaks.write("]")
        app.write("[")
        for index, entry in enumerate(_app_entries(waveform_texts(output_dir, delivered,
                                                                  levels))):
            app.write("," if index else "")
            app.writelines(json_pieces(entry))
        app.write("]")
    return made
