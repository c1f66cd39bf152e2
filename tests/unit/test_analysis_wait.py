"""A job waits for its track's analysis longer the longer the track: a fixed 300 s
failed every job with analysis on a track past ~10 minutes (ANALYSIS_FAILED), which the
3-hour --max-duration-s default would make common."""

from __future__ import annotations

from dataclasses import replace

from stemcast.analysis.service import wait_limit
from tests.unit.test_library_listing import track


def test_the_wait_grows_with_the_track() -> None:
    minute = track("a", "a", "2026-01-01T00:00:00Z")
    assert wait_limit(minute) >= 300  # a short track keeps the old wait
    three_hours = replace(minute, duration_seconds=3 * 3600.0)
    # Two seconds per second of track: analysis runs near realtime on 2 shared cores.
    assert wait_limit(three_hours) >= 2 * 3 * 3600
