"""Seed 000's JSON dialect: what a DJ engine written for Mismo's app server expects.

A JSON client that never sent `hello` is taken to be such an engine (Mismo's C++ engine
speaks JSON and knows no hello). For it:
- failures carry `error` as a string (the app's sendError: `{success: false, trackId,
  error: "Track not found"}`), the code in `errorCode`, and `trackId` always (the one the
  request named, "" when none);
- `bpm` in trackInfo and trackAnalysis is a number, never null: the best guess once the
  track is analysed (stemcast's own bpm is null without a steady pulse), 0 before;
- frames with `event` and no `command` (deckStateUpdate, trackLoaded, ...) are the
  engine's own news, not requests: they are ignored, on /ws and on the engine link.
msgpack clients and clients that said hello get stemcast's own shapes (PROTOCOL.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stemcast.analysis.beatgrid import beat_grid
from stemcast.library.tracks import Track

_ANALYSED_TYPES = ("trackInfo", "trackAnalysis")


def is_event_frame(fields: Mapping[str, Any]) -> bool:
    """An engine's event (`{"event": "deckStateUpdate", ...}`): nothing to answer."""
    return "event" in fields and "command" not in fields


def frame_track_id(fields: Mapping[str, Any]) -> str:
    value = fields.get("trackId")
    return value if isinstance(value, str) else ""


def grid_fields(track: Track) -> dict[str, Any]:
    """Keyword arguments of track_info_message / track_analysis_message: the beat-grid
    anchor seed 000's engine reads, and the best-guess bpm (None until analysed)."""
    analysed = track.analysis_state == "done"
    grid = beat_grid(track.feature_map)
    return {
        "first_beat_offset": grid.first_beat_offset if analysed else 0.0,
        "first_phrase_beat_no": grid.first_phrase_beat_no if analysed else 1,
        "bpm_guess": grid.bpm if analysed else None,
    }


def to_seed(message: dict[str, Any], track_id: str) -> dict[str, Any]:
    """A server message in seed 000's shape (see the module docstring)."""
    error = message.get("error")
    if message.get("success") is False and isinstance(error, Mapping):
        message = {**message, "error": str(error.get("message", "")),
                   "errorCode": error.get("code")}
        if not message.get("trackId"):
            message["trackId"] = track_id
    if message.get("type") in _ANALYSED_TYPES and message.get("bpm") is None:
        message = {**message, "bpm": message.get("bpmGuess") or 0}
    return message
