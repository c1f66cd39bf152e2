"""Drum transcription of an isolated drum stem onto seed 002's eight lanes.

Onsets are found per frequency band (a kick under a hi-hat is found as well as the hat)
by a log-magnitude spectral flux, merged into events, and each event is given every lane
its sound shows, from the power that arrived in each band (just after the onset against
just before), how fast it dies away, and the pitch of what rings below 350 Hz:

- kick: new power below 90 Hz whose 90-160 Hz part dies within ~50 ms;
- snare: a 160-280 Hz body without a ringing tone under it;
- toms: a tone at 60-300 Hz that rings; high, mid or floor by its pitch among the track's
  toms (a kit is tuned as a set, not to fixed pitches);
- crash: a burst at 1.4-8 kHz that does not die away within 100 ms and is darker than a hat;
- hi-hat or ride: noise filling 3-16 kHz just after the onset (a skin's spectrum falls off
  there), brighter than a snare alone; ride when it rings longer and has partials (a less
  flat spectrum), decided over the neighbouring hits too (a drummer keeps time on one of
  them for a while).

Hits far softer than the loud ones of their lane are dropped: in a separated stem they are
mostly other instruments' attacks that leaked in.

Everything runs on one band-power matrix (STFT n_fft 2048, hop 256 at 44.1 kHz, in chunks)
and a few short FFTs per event: minutes of drums take a few seconds on one core. The
signal side is in drum_spectrum.py, the lanes in drum_lanes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stemcast.analysis.drum_lanes import (
    LANES,
    Lane,
    Onset,
    _confidence,
    _gate,
    _velocities,
    classify,
)
from stemcast.analysis.drum_spectrum import (
    N_FFT,
    RATE,
    _mono,
    detect_events,
    event_features,
    spectral_analysis,
)
from stemcast.analysis.mono_file import ArrayMono, MonoSource

__all__ = ["LANES", "Lane", "Onset", "onsets_document", "transcribe", "transcribe_mono"]


def transcribe(drums: np.ndarray, sample_rate: int) -> list[Onset]:
    """Onsets of an isolated drum stem, float (channels, frames) or (frames,), by time."""
    mono = _mono(drums)
    if sample_rate != RATE:
        import soxr

        mono = np.ascontiguousarray(soxr.resample(mono, sample_rate, RATE), dtype=np.float32)
    if not np.isfinite(mono).all():
        return []
    return transcribe_mono(ArrayMono(mono))


def transcribe_mono(mono: MonoSource) -> list[Onset]:
    """transcribe() of a stem's mono mixdown at RATE, read a block (and then a hit) at a
    time: a long stem is transcribed from a temporary file (analysis.mono_file)."""
    if mono.size < 2 * N_FFT:
        return []
    analysis = spectral_analysis(mono)
    if not np.any(analysis.powers > 0):
        return []  # digital silence (or NaN, which decoding refuses before this)
    events = event_features(mono, analysis, detect_events(analysis))
    hits = sorted(_gate(classify(events)), key=lambda h: (h.time, h.lane))
    return [Onset(time=round(h.time, 4), lane=h.lane, type=LANES[h.lane].name,
                  confidence=round(_confidence(h.margin), 3), velocity=v)
            for h, v in zip(hits, _velocities(hits), strict=True)]


def onsets_document(onsets: Sequence[Onset], *, bpm: float | None,
                    duration_seconds: float) -> dict[str, Any]:
    """Seed 002's onsets.json: the lanes, then one entry per onset, by time."""
    return {
        "version": 1,
        "bpm": bpm,
        "duration_seconds": round(float(duration_seconds), 3),
        "onset_count": len(onsets),
        "lanes": [{"lane": lane.index, "type": lane.name, "notes": list(lane.notes)}
                  for lane in LANES],
        "onsets": [{"time": round(o.time, 3), "lane": o.lane, "type": o.type,
                    "confidence": round(o.confidence, 2), "velocity": o.velocity}
                   for o in sorted(onsets, key=lambda o: (o.time, o.lane))],
    }
