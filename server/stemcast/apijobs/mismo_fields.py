"""The job API's stage data in the spelling of seed 000's app server (Mismo), beside
stemcast's own fields.

What the app reads (src/services/analysisCallback.service.js, analysis.routes.js,
waveform.service.js of DrorT/mismo.dj_node_server):
- basic_features: `bpm` (it calls a track analysed only when bpm > 0), `key`, `mode`,
  `beats`, `downbeats`, `firstBeatOffset`, `firstPhraseBeatNo`, `audibleStartTime`,
  `audibleEndTime`, `waveforms` (one entry per zoom level, with band data);
- characteristics: danceability, valence, arousal, energy, loudness, acousticness,
  instrumentalness (all must be present), spectral_centroid, spectral_rolloff,
  zero_crossing_rate;
- job_failed: `data.error`, stored as text: a string here, the code in `error_code`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from stemcast.analysis.beatgrid import beat_grid
from stemcast.analysis.service import AnalysisService
from stemcast.analysis.tasks import BANDS_JSON, app_extras_file
from stemcast.apijobs.callback_body import json_file
from stemcast.library.tracks import Track

log = logging.getLogger(__name__)


def error_fields(code: str, message: str) -> dict[str, Any]:
    """A failed stage's data: `error` the message (the app stores it as text)."""
    return {"error": message, "error_code": code}


def beat_grid_fields(features: dict[str, Any] | None) -> dict[str, Any]:
    """bpm (always > 0) and the beat-grid anchor, in the app's camelCase."""
    grid = beat_grid(features)
    return {
        "bpm": grid.bpm, "tempo": grid.bpm, "bpm_confidence": grid.bpm_confidence,
        "bpm_measured": grid.bpm_measured,
        "firstBeatOffset": grid.first_beat_offset,
        "firstPhraseBeatNo": grid.first_phrase_beat_no,
        "audibleStartTime": grid.audible_start, "audibleEndTime": grid.audible_end,
    }


def _not_analysed(track: Track) -> dict[str, Any]:
    reason = (f"the track's analysis failed: {track.analysis_error}"
              if track.analysis_state == "failed" else "the track is not analysed yet")
    names = ("danceability", "valence", "arousal", "energy", "loudness", "acousticness",
             "instrumentalness", "spectral_centroid", "spectral_rolloff",
             "zero_crossing_rate")
    return {**dict.fromkeys(names), "unavailable": dict.fromkeys(names, reason)}


class AppFields:
    """Reads (and for tracks analysed by an older stemcast, computes once) what the app's
    basic_features and characteristics stages carry."""

    def __init__(self, analysis: AnalysisService) -> None:
        self.analysis = analysis

    def _folder(self, track: Track) -> Path:
        return self.analysis.waveform_path(track.id).parent

    async def _ensure_extras(self, track: Track) -> dict[str, Any] | None:
        """The stored features with characteristics, and the bands file on disk."""
        features = track.feature_map
        if track.analysis_state != "done" or features is None:
            return None
        folder = self._folder(track)
        bands_there = await asyncio.to_thread((folder / BANDS_JSON).is_file)
        if "characteristics" in features and bands_there:
            return features
        log.info("track %s: computing characteristics and band waveforms", track.id)
        features["characteristics"] = await self.analysis.pool.run(
            app_extras_file, track.path, features, str(folder))
        await self.analysis.store.set_analysis(track.id, features)
        return features

    async def basic_features(self, track: Track, base: dict[str, Any]) -> dict[str, Any]:
        """`base` (stemcast's basic_features data) with the app's fields added; bpm becomes
        the best guess (stemcast's own, possibly null, stays as `bpm_tracked`). The band
        waveforms are a reference to their file (callback_body.json_file)."""
        features = await self._ensure_extras(track)
        waveforms: list[Any] | dict[str, str] = []
        if features is not None:
            path = self._folder(track) / BANDS_JSON
            if await asyncio.to_thread(path.is_file):
                # 23 MB of JSON an hour (~170 MB as Python objects): the body is made
                # from the file when the callback is sent.
                waveforms = json_file(path)
            else:
                log.warning("track %s: no band waveforms at %s", track.id, path)
        return {**base, "bpm_tracked": base.get("bpm"), **beat_grid_fields(track.feature_map),
                "waveforms": waveforms}

    async def characteristics(self, track: Track) -> dict[str, Any]:
        features = await self._ensure_extras(track)
        if features is None:
            return _not_analysed(track)
        return dict(features["characteristics"])
