"""Is there disk for a track's separation before it is queued?

Since --max-duration-s allows hours, a long track's job needs gigabytes in the jobs
folder while it runs: the prepared mix (float32, JOB/mix.f32.tmp), each stem's raw file
(float32 at most), and one finished WAV beside its raw file. A job that would run out
of disk halfway (after an hour of separating) is refused at once instead, as DISK_FULL
with the figures.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Final

# Float32 stereo at 44.1 kHz: the widest a prepared mix or a stem is written here.
BYTES_PER_SECOND: Final = 44100 * 2 * 4


def bytes_needed(duration_seconds: float, stems: int) -> int:
    """The mix, every stem's raw file and one WAV being written from its raw file."""
    return int(duration_seconds * BYTES_PER_SECOND * (stems + 2))


def check_scratch_space(folder: Path, duration_seconds: float, stems: int) -> None:
    """Raises OSError(ENOSPC) naming what is needed and what is free (db.faults turns it
    into DISK_FULL for every front door)."""
    needed = bytes_needed(duration_seconds, stems)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(errno.ENOSPC, (
            f"a {duration_seconds / 60:.0f}-minute track needs about {needed / 1e9:.1f} GB "
            f"free in {folder} while it separates (the prepared mix and {stems} stems as "
            f"float32), {free / 1e9:.1f} GB is free; or cut the track"))
