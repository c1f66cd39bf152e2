"""Track analysis, as pure functions of samples: no files, no server state.

- features: tempo, beats and downbeats, key, loudness, peak and audible span (analyze);
- keys: key names in plain, Camelot and Open Key notation;
- waveform: min/max overview peaks per stem and zoom level.

`analyze` and `BasicFeatures` load on first use: librosa, scipy and pyloudnorm take about a
second to import, and the server imports this package at start-up but analyses later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stemcast.analysis.keys import camelot, key_name, open_key
from stemcast.audio.waveform import ZOOM_LEVELS, peaks, waveform_entries

if TYPE_CHECKING:
    from stemcast.analysis.features import BasicFeatures, analyze

_FROM_FEATURES = ("BasicFeatures", "analyze")

__all__ = [
    "ZOOM_LEVELS",
    "BasicFeatures",
    "analyze",
    "camelot",
    "key_name",
    "open_key",
    "peaks",
    "waveform_entries",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_FEATURES:
        from stemcast.analysis import features

        return getattr(features, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
