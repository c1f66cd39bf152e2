"""Hot cues kept per track on the server: eight pads (0..7), each a point or a loop, with
an optional name and colour. The page sets them; an engine reads them as `hotCues` in
trackInfo (the shape of Mismo's getHotCuesForAudioEngine: index, position, isLoop,
loopEnd; name and color besides, when set).

Validation is here, so HTTP and any other door refuse the same things the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiosqlite

from stemcast.db.database import run_script, utc_now

CUE_SLOTS: Final = 8
MAX_NAME_LENGTH: Final = 100
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_FIELDS: Final = ("index", "position", "isLoop", "loopEnd", "name", "color")


class CueError(ValueError):
    """A cue that cannot be kept; the message names the field and what it takes."""


@dataclass(frozen=True)
class HotCue:
    index: int
    position: float  # seconds from the start
    is_loop: bool = False
    loop_end: float | None = None  # seconds; set exactly when is_loop
    name: str | None = None
    color: str | None = None  # "#rrggbb"

    def to_api(self) -> dict[str, Any]:
        """As engines read it: loopEnd only on loops, name and color only when set."""
        body: dict[str, Any] = {"index": self.index, "position": self.position,
                                "isLoop": self.is_loop}
        if self.is_loop:
            body["loopEnd"] = self.loop_end
        if self.name is not None:
            body["name"] = self.name
        if self.color is not None:
            body["color"] = self.color
        return body


def check_index(raw: Any) -> int:
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < CUE_SLOTS:
        raise CueError(f"index {str(raw)[:20]!r} must be a whole number from 0 to "
                       f"{CUE_SLOTS - 1} (the hot-cue pad)")
    return raw


def _seconds(body: Mapping[str, Any], field: str, duration: float) -> float:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise CueError(f"{field} must be a number of seconds; got {str(value)[:30]!r}")
    if not 0 <= value <= duration + 0.001:
        raise CueError(f"{field} {value} is outside the track (0 to {duration:.3f} s)")
    return float(value)


def parse_cue(body: Any, duration: float, index: int | None = None) -> HotCue:
    """A cue from a client's JSON object; `index` from the URL wins over (and must agree
    with) the body's. Raises CueError naming the field."""
    if not isinstance(body, Mapping):
        raise CueError("a cue is a JSON object {\"position\": seconds, \"isLoop\", "
                       "\"loopEnd\", \"name\", \"color\"}")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise CueError(f"unknown field {unknown[0]!r}; a cue has {', '.join(_FIELDS)}")
    if "index" in body:
        given = check_index(body["index"])
        if index is not None and given != index:
            raise CueError(f"index {given} in the body differs from {index} in the URL")
        index = given
    if index is None:
        raise CueError("index is missing: which pad, 0 to 7")
    position = _seconds(body, "position", duration)
    is_loop = body.get("isLoop", False)
    if not isinstance(is_loop, bool):
        raise CueError("isLoop must be true or false")
    loop_end = None
    if is_loop:
        loop_end = _seconds(body, "loopEnd", duration)
        if loop_end <= position:
            raise CueError(f"loopEnd {loop_end} must be after position {position}")
    elif body.get("loopEnd") is not None:
        raise CueError("loopEnd is for loops: send isLoop true, or leave loopEnd out")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_LENGTH):
        raise CueError(f"name must be text of at most {MAX_NAME_LENGTH} characters")
    color = body.get("color")
    if color is not None and (not isinstance(color, str) or not _COLOR.match(color)):
        raise CueError(f"color {str(color)[:20]!r} must be \"#rrggbb\" (e.g. \"#ff8800\")")
    return HotCue(index, position, is_loop, loop_end, name or None, color)


def _sql(value: str | float | None) -> str:
    """A literal for the one script replace_all runs (validated values only)."""
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


def _row_to_cue(row: aiosqlite.Row) -> HotCue:
    return HotCue(index=row["slot"], position=row["position"], is_loop=bool(row["is_loop"]),
                  loop_end=row["loop_end"], name=row["name"], color=row["color"])


class CueStore:
    """SQL for the cues table."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def for_track(self, track_id: str) -> list[HotCue]:
        async with self._conn.execute(
                "SELECT * FROM cues WHERE track_id = ? ORDER BY slot", (track_id,)) as cur:
            return [_row_to_cue(row) for row in await cur.fetchall()]

    async def put(self, track_id: str, cue: HotCue) -> None:
        await self._conn.execute(
            "INSERT INTO cues (track_id, slot, position, is_loop, loop_end, name, color,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (track_id, slot) DO"
            " UPDATE SET position = excluded.position, is_loop = excluded.is_loop,"
            " loop_end = excluded.loop_end, name = excluded.name, color = excluded.color,"
            " updated_at = excluded.updated_at",
            (track_id, cue.index, cue.position, int(cue.is_loop), cue.loop_end, cue.name,
             cue.color, utc_now()))

    async def replace_all(self, track_id: str, cues: list[HotCue]) -> None:
        """All of a track's cues at once: one script, one transaction, so that no other
        statement on the shared connection runs in between (as TrackStore.adopt_id)."""
        now = utc_now()
        rows = "".join(
            " INSERT INTO cues (track_id, slot, position, is_loop, loop_end, name, color,"
            f" updated_at) VALUES ({_sql(track_id)}, {cue.index}, {cue.position!r},"
            f" {int(cue.is_loop)}, {_sql(cue.loop_end)}, {_sql(cue.name)},"
            f" {_sql(cue.color)}, {_sql(now)});" for cue in cues)
        script = f"BEGIN; DELETE FROM cues WHERE track_id = {_sql(track_id)};{rows} COMMIT;"
        await run_script(self._conn, script)

    async def delete(self, track_id: str, index: int | None = None) -> int:
        """One pad's cue, or all the track's when `index` is None; returns how many went."""
        if index is None:
            cur = await self._conn.execute("DELETE FROM cues WHERE track_id = ?", (track_id,))
        else:
            cur = await self._conn.execute(
                "DELETE FROM cues WHERE track_id = ? AND slot = ?", (track_id, index))
        return cur.rowcount
