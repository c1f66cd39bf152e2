"""Keep the analysis process's heap from growing with the track (glibc only).

glibc serves allocations over its mmap threshold (128 KiB at start) with their own
mappings, returned whole when freed, but raises that threshold to the size of any such
block once it is freed (up to 32 MiB). After the first few blocks of a long track, every
block-sized temporary (a second of audio, a block of STFT frames) then comes from the
heap, between the small arrays that stay (waveform columns, per-frame measures), and the
holes they leave are not given back: measured, analysis of 10 minutes peaked ~60 MB
over 1 minute's this way, with Python's own allocations flat. Fixing the threshold at its
starting value stops the adjustment (mallopt(M_MMAP_THRESHOLD)), and the peak stays that
of 1 minute (README, Benchmarks: memory by track length).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default start value


@functools.cache
def bound_heap_growth() -> bool:
    """Fix glibc's mmap threshold for this process; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
