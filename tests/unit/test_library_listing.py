"""The library listing's grouping, search, sort and query validation (pure functions)."""

from __future__ import annotations

import pytest

from stemcast.library.listing import (
    LibraryQuery,
    ListingError,
    Separation,
    audio_key,
    build_rows,
)
from stemcast.library.tracks import Track


def track(track_id: str, title: str | None, created: str, *, pcm: str | None = None,
          sha: str | None = None, bpm: float | None = None) -> Track:
    return Track(id=track_id, path=f"/music/{track_id}.wav", title=title, source="upload",
                 file_size=1, file_mtime=0.0, container="wav", duration_seconds=60.0,
                 sample_rate=44100, channels=2, pcm_hash=pcm, bpm=bpm, musical_key=None,
                 mode=None, created_at=created, updated_at=created, file_sha256=sha)


def sep(job_id: str, pcm: str, track_id: str | None = None) -> Separation:
    return Separation(job_id=job_id, model="tiny", state="completed",
                      stems=("vocals",), layouts=("2stems",), finished_at="t",
                      pcm_hash=pcm, track_id=track_id)


def test_tracks_of_the_same_audio_are_one_row_named_by_the_first() -> None:
    tracks = [track("b", "Song", "2", pcm="P"), track("a", "Song copy", "1", pcm="P"),
              track("c", "Other", "3", sha="S"), track("d", "Other again", "4", sha="S"),
              track("e", "Alone", "5")]
    rows = build_rows(tracks, [sep("j1", "P"), sep("j2", "Q", track_id="e")], LibraryQuery())
    assert [(r.track.id, r.track_ids) for r in rows] == [
        ("e", ("e",)), ("c", ("c", "d")), ("a", ("a", "b"))]
    assert [s.job_id for s in rows[2].separations] == ["j1"]
    assert [s.job_id for s in rows[0].separations] == ["j2"]
    assert audio_key(tracks[4]) == "id:e"


def test_search_matches_any_track_of_the_row_and_sort_puts_unknowns_last() -> None:
    tracks = [track("a", "Deep House", "1", bpm=124.0), track("b", "deeper", "2"),
              track("c", "Techno", "3", bpm=130.0)]
    rows = build_rows(tracks, [], LibraryQuery(q="DEEP", sort="title", order="asc"))
    assert [r.track.id for r in rows] == ["a", "b"]
    for order in ("asc", "desc"):
        rows = build_rows(tracks, [], LibraryQuery(sort="bpm", order=order))
        assert rows[-1].track.id == "b"
    assert [r.track.id for r in build_rows(tracks, [], LibraryQuery(limit=2))] == ["c", "b"]


@pytest.mark.parametrize(("params", "field"), [
    ({"sort": "colour"}, "sort"), ({"order": "sideways"}, "order"), ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"), ({"limit": "-3"}, "limit"), ({"q": "x" * 201}, "q")])
def test_bad_queries_name_the_parameter(params: dict[str, str], field: str) -> None:
    with pytest.raises(ListingError) as caught:
        LibraryQuery.parse(params)
    assert caught.value.field == field and str(caught.value).startswith(field)


def test_defaults_and_title_sorts_ascending() -> None:
    assert LibraryQuery.parse({}) == LibraryQuery("", "added", "desc", 200)
    assert LibraryQuery.parse({"sort": "title", "q": "  x "}).order == "asc"
    assert LibraryQuery.parse({"sort": "title", "q": "  x "}).q == "x"
