"""Allowed folders and track records on a real SQLite file with real audio files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stemcast.audio import AudioError
from stemcast.db.database import open_database
from stemcast.library.library import TrackLibrary
from stemcast.library.paths import PathNotAllowedError, resolve_allowed
from stemcast.library.tracks import TrackSource, TrackStore
from tests.support.audio_fixtures import make_music_like_signal, write_audio


def test_paths_outside_allowed_folders_are_refused(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "a.wav").write_bytes(b"")
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"")
    (music / "link.wav").symlink_to(secret)
    assert resolve_allowed(str(music / "a.wav"), [music]) == (music / "a.wav").resolve()
    for sneaky in (str(secret), str(music / ".." / "secret.wav"), str(music / "link.wav")):
        with pytest.raises(PathNotAllowedError, match="--allow-path-prefix"):
            resolve_allowed(sneaky, [music])
    with pytest.raises(PathNotAllowedError, match=r"\(none configured\)"):
        resolve_allowed(str(music / "a.wav"), [])
    with pytest.raises(ValueError, match="absolute"):
        resolve_allowed("music/a.wav", [music])


async def test_track_ids_are_stable_and_refresh_when_the_file_changes(tmp_path: Path) -> None:
    conn = await open_database(tmp_path / "db.sqlite3")
    library = TrackLibrary(TrackStore(conn), [tmp_path])
    path = write_audio(tmp_path / "song.wav", make_music_like_signal(2.0), 44100)
    first = await library.add_allowed_path(str(path))
    assert first.source == TrackSource.PATH and abs(first.duration_seconds - 2.0) < 0.01
    assert (await library.add_file(path, TrackSource.CLI)).id == first.id
    digest = await library.ensure_pcm_hash(first)
    assert len(digest) == 64
    # The DJ re-exports the file, longer: same id, new facts, hash forgotten.
    write_audio(path, make_music_like_signal(3.0), 44100)
    os.utime(path, (1e9, 1e9))
    refreshed = await library.refresh(first)
    assert refreshed.id == first.id and abs(refreshed.duration_seconds - 3.0) < 0.01
    assert refreshed.pcm_hash is None
    assert await library.ensure_pcm_hash(refreshed) != digest
    path.unlink()
    with pytest.raises(AudioError, match="gone"):
        await library.refresh(refreshed)
    await conn.close()


async def test_the_same_new_path_added_at_once_is_one_track(tmp_path: Path) -> None:
    # Two clients naming a file the server has not seen: both checks find no track, both
    # insert; the second insert meets the path's UNIQUE and must find the first's row.
    import asyncio

    conn = await open_database(tmp_path / "db.sqlite3")
    library = TrackLibrary(TrackStore(conn), [tmp_path])
    path = write_audio(tmp_path / "new.wav", make_music_like_signal(1.0), 44100)
    tracks = await asyncio.gather(*(library.add_allowed_path(str(path)) for _ in range(4)))
    assert len({track.id for track in tracks}) == 1
    assert await library.store.count() == 1
    await conn.close()


async def test_scan_registers_audio_and_skips_the_rest(tmp_path: Path) -> None:
    conn = await open_database(tmp_path / "db.sqlite3")
    library = TrackLibrary(TrackStore(conn), [tmp_path])
    music = tmp_path / "music" / "sub"
    music.mkdir(parents=True)
    write_audio(music / "a.flac", make_music_like_signal(1.0), 44100)
    (music / "cover.jpg").write_bytes(b"\xff\xd8")
    (music / "broken.mp3").write_bytes(b"garbage" * 10)
    assert await library.scan([tmp_path / "music"]) == 1
    tracks = await library.store.list()
    assert [Path(t.path).name for t in tracks] == ["a.flac"]
    assert tracks[0].source == TrackSource.SCAN
    await conn.close()
