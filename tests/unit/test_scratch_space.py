"""The disk check a job passes before it is queued (requests/scratch_space.py)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from stemcast.requests.scratch_space import BYTES_PER_SECOND, bytes_needed, check_scratch_space


def test_a_track_counts_its_mix_its_stems_and_one_wav() -> None:
    assert bytes_needed(60.0, 4) == 60 * BYTES_PER_SECOND * 6
    assert bytes_needed(60.0, 2) < bytes_needed(60.0, 4)


def test_a_track_that_fits_on_this_disk_passes(tmp_path: Path) -> None:
    check_scratch_space(tmp_path / "jobs", 1.0, 4)
    assert (tmp_path / "jobs").is_dir()


def test_a_track_larger_than_the_free_space_is_refused_with_the_figures(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    # Just over what this disk has free: the check, not a fixed size, decides.
    seconds = free / (BYTES_PER_SECOND * 6) * 1.5
    with pytest.raises(OSError) as refused:
        check_scratch_space(tmp_path, seconds, 4)
    assert refused.value.errno == errno.ENOSPC
    text = str(refused.value)
    assert str(tmp_path) in text and "GB is free" in text and "4 stems" in text
