"""The library as people browse it: one row per audio, searched and sorted.

Two tracks are the same audio when their decoded PCM hashes match (the same song
registered by path and uploaded, say), or, before hashing, when their files' bytes match.
Each row carries the separations of that audio. Pure functions over records: the SQL is
in the stores, the HTTP edge in http/library_api.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from stemcast.library.tracks import Track

SORT_FIELDS: Final = ("added", "title", "duration", "bpm", "key")
ORDERS: Final = ("asc", "desc")
MAX_LIMIT: Final = 1000
MAX_QUERY_LENGTH: Final = 200


class ListingError(ValueError):
    """A listing query that cannot be answered; `field` names the query parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LibraryQuery:
    q: str = ""
    sort: str = "added"
    order: str = "desc"
    limit: int = 200

    @classmethod
    def parse(cls, params: dict[str, str]) -> LibraryQuery:
        """From query parameters; ListingError names the bad one and what it takes."""
        q = params.get("q", "").strip()
        if len(q) > MAX_QUERY_LENGTH:
            raise ListingError("q", f"q is {len(q)} characters long; search with at most "
                                    f"{MAX_QUERY_LENGTH}")
        sort = params.get("sort", "added")
        if sort not in SORT_FIELDS:
            raise ListingError("sort", f"sort {sort[:50]!r} is not one of "
                                       f"{', '.join(SORT_FIELDS)}")
        order = params.get("order", "asc" if sort == "title" else "desc")
        if order not in ORDERS:
            raise ListingError("order", f"order {order[:50]!r} must be asc or desc")
        raw = params.get("limit", "200")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ListingError("limit", f"limit {raw[:50]!r} must be a whole number from 1 "
                                        f"to {MAX_LIMIT}")
        return cls(q=q, sort=sort, order=order, limit=int(raw))


@dataclass(frozen=True)
class Separation:
    """One separation of an audio, as the library lists it."""

    job_id: str
    model: str
    state: str  # completed | queued | running
    stems: tuple[str, ...]
    layouts: tuple[str, ...]  # the stem variants it can be opened as (4stems, 2stems, ...)
    finished_at: str | None
    pcm_hash: str
    track_id: str | None

    def to_api(self) -> dict[str, Any]:
        return {"jobId": self.job_id, "model": self.model, "state": self.state,
                "stems": list(self.stems), "layouts": list(self.layouts),
                "finishedAt": self.finished_at}


@dataclass(frozen=True)
class LibraryRow:
    track: Track  # the first-registered track of this audio: its id is the row's
    track_ids: tuple[str, ...]  # every track of the same audio
    separations: tuple[Separation, ...]

    def to_api(self) -> dict[str, Any]:
        return {**self.track.to_api(), "trackIds": list(self.track_ids),
                "separations": [s.to_api() for s in self.separations]}


def audio_key(track: Track) -> str:
    """What makes two tracks one audio: the PCM hash, else the file's bytes, else itself."""
    if track.pcm_hash:
        return "pcm:" + track.pcm_hash
    if track.file_sha256:
        return "file:" + track.file_sha256
    return "id:" + track.id


def _matches(track: Track, needle: str) -> bool:
    haystack = " ".join(filter(None, (track.title, track.path.rsplit("/", 1)[-1],
                                      track.external_id, track.id)))
    return needle in haystack.casefold()


def _sort_value(row: LibraryRow, sort: str) -> tuple[int, Any]:
    """Rows without the value sort last in either order (the 0/1 flag is flipped below)."""
    track = row.track
    value: Any = {"added": track.created_at, "title": (track.title or "").casefold(),
                  "duration": track.duration_seconds, "bpm": track.bpm,
                  "key": track.musical_key and (int(track.musical_key), track.mode or "")
                  }[sort]
    return (0, value) if value is not None else (1, 0)


def build_rows(tracks: Iterable[Track], separations: Sequence[Separation],
               query: LibraryQuery) -> list[LibraryRow]:
    groups: dict[str, list[Track]] = {}
    for track in sorted(tracks, key=lambda t: (t.created_at, t.id)):
        groups.setdefault(audio_key(track), []).append(track)
    needle = query.q.casefold()
    rows = []
    for members in groups.values():
        if needle and not any(_matches(t, needle) for t in members):
            continue
        ids = {t.id for t in members}
        hashes = {t.pcm_hash for t in members if t.pcm_hash}
        found = tuple(s for s in separations if s.pcm_hash in hashes or s.track_id in ids)
        rows.append(LibraryRow(members[0], tuple(t.id for t in members), found))
    present = [r for r in rows if _sort_value(r, query.sort)[0] == 0]
    absent = [r for r in rows if _sort_value(r, query.sort)[0] == 1]
    present.sort(key=lambda r: _sort_value(r, query.sort)[1], reverse=query.order == "desc")
    return (present + absent)[:query.limit]
