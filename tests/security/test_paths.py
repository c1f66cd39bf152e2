"""The allowed-folder check holds on every resolution of a path: by filePath (traversal,
symlinks, sibling prefixes) and by trackId after the registered file was swapped for a link."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from stemcast_protocol import StemcastClient
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.wav"
    path.parent.mkdir()
    write_audio(path, make_music_like_signal(2.0, seed=9), 44100)
    return path


async def _track_info(server: ServerProcess, **fields: str) -> dict[str, object]:
    async with StemcastClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "requestId": 1, **fields})
        reply: dict[str, object] = await client.receive()
        return reply


async def test_a_track_swapped_for_a_link_outside_is_refused_by_track_id(
        guarded: ServerProcess, lib_dir: Path, music_dir: Path, outside: Path) -> None:
    registered = lib_dir / "swap.wav"
    shutil.copy(music_dir / "other.wav", registered)
    added = httpx.post(f"{guarded.http_url}/api/tracks", json={"path": str(registered)},
                       timeout=30)
    assert added.status_code == 201, added.text
    track_id = added.json()["trackId"]

    registered.unlink()
    registered.symlink_to(outside)
    reply = await _track_info(guarded, trackId=track_id)
    assert reply["type"] == "error", reply
    error = reply["error"]
    assert isinstance(error, dict) and error["code"] == "PATH_NOT_ALLOWED"
    listed = httpx.get(f"{guarded.http_url}/api/tracks").json()["tracks"]
    assert not any(t["filePath"] == str(outside) for t in listed)  # never registered


@pytest.mark.parametrize("relative", ["{lib}/../outside/secret.wav", "{lib}-sibling/x.wav",
                                      "{lib}/link.wav", "/proc/self/root{outside}"])
async def test_file_paths_leaving_the_folders_are_refused(
        guarded: ServerProcess, lib_dir: Path, outside: Path, relative: str) -> None:
    link = lib_dir / "link.wav"
    if not link.is_symlink():
        link.symlink_to(outside)
    sibling = lib_dir.parent / f"{lib_dir.name}-sibling"
    sibling.mkdir(exist_ok=True)
    shutil.copy(outside, sibling / "x.wav")
    path = relative.format(lib=lib_dir, outside=outside)
    reply = await _track_info(guarded, filePath=path)
    assert reply["type"] == "error", reply
    error = reply["error"]
    assert isinstance(error, dict) and error["code"] == "PATH_NOT_ALLOWED", reply
    refused = httpx.post(f"{guarded.http_url}/api/tracks", json={"path": path}, timeout=30)
    assert refused.status_code == 403
