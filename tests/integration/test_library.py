"""The library over HTTP against a real server: one row per audio (uploads deduplicated
by their bytes), separations listed per row, search/sort/limit validated, and delete
(refused while a separation runs; removes the upload, its analysis and its stems)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_MODEL
from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tiny_server: ServerProcess) -> ServerProcess:
    return tiny_server


def upload(server: ServerProcess, path: Path, name: str | None = None) -> httpx.Response:
    with path.open("rb") as handle:
        return httpx.post(f"{server.http_url}/api/tracks", timeout=60,
                          files={"file": (name or path.name, handle, "audio/wav")})


def listing(server: ServerProcess, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.http_url}/api/tracks", params=params, timeout=30)


async def separate(server: ServerProcess, track_id: str) -> dict[str, Any]:
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "trackId": track_id, "stems": True,
                           "requestId": "lib"})
        return (await client.until(
            lambda m: m["type"] in ("stemsReady", "stemsFailed"), timeout=180))[-1]


def test_the_same_file_uploaded_four_times_is_one_row(server: ServerProcess,
                                                      tmp_path: Path) -> None:
    song = write_audio(tmp_path / "Twice.wav", make_music_like_signal(2.0, seed=31), 44100)
    ids = {upload(server, song).json()["trackId"] for _ in range(4)}
    assert len(ids) == 1
    uploads = list((server.data_dir / "uploads").iterdir())
    assert len([p for p in uploads if p.suffix == ".wav"]) == 1, uploads
    rows = [r for r in listing(server, q="twice").json()["tracks"]]
    assert [r["trackId"] for r in rows] == list(ids)
    assert rows[0]["separations"] == [] and rows[0]["trackIds"] == list(ids)


def test_search_sort_and_limit_are_validated(server: ServerProcess, tmp_path: Path) -> None:
    for name, seed in (("Alpha Tune", 41), ("Beta Tune", 42), ("Gamma", 43)):
        upload(server, write_audio(tmp_path / f"{name}.wav",
                                   make_music_like_signal(1.5, seed=seed), 44100))
    titles = [r["title"] for r in listing(server, q="tune", sort="title").json()["tracks"]]
    assert titles == ["Alpha Tune", "Beta Tune"]
    titles = [r["title"] for r in listing(server, q="TUNE", sort="title",
                                          order="desc").json()["tracks"]]
    assert titles == ["Beta Tune", "Alpha Tune"]
    assert len(listing(server, limit=1).json()["tracks"]) == 1
    for params, field in (({"sort": "colour"}, "sort"), ({"order": "up"}, "order"),
                          ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
                          ({"q": "x" * 201}, "q")):
        reply = listing(server, **params)
        assert reply.status_code == 422, params
        assert reply.json()["error"]["code"] == "INVALID_FIELD"
        assert reply.json()["error"]["message"].startswith(field), reply.json()


async def test_separations_are_listed_and_delete_removes_everything(
        server: ServerProcess, tmp_path: Path) -> None:
    song = write_audio(tmp_path / "Gone Soon.wav", make_music_like_signal(3.0, seed=51),
                       44100)
    track = upload(server, song).json()
    ready = await separate(server, track["trackId"])
    assert ready["type"] == "stemsReady", ready
    row = listing(server, q="gone soon").json()["tracks"][0]
    [separation] = row["separations"]
    assert separation["jobId"] == ready["jobId"] and separation["model"] == TINY_MODEL
    assert separation["state"] == "completed"
    assert set(separation["stems"]) == {"drums", "bass", "other", "vocals"}
    assert separation["layouts"] == ["4stems", "2stems", "2stems-drums"]

    stem_dir = Path(ready["stems"]["vocals"]).parent
    gone = httpx.delete(f"{server.http_url}/api/tracks/{track['trackId']}", timeout=30)
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"success": True, "trackId": track["trackId"],
                           "stemsRemoved": [ready["jobId"]], "fileRemoved": True}
    assert not Path(track["filePath"]).exists() and not stem_dir.exists()
    assert listing(server, q="gone soon").json()["tracks"] == []
    again = httpx.delete(f"{server.http_url}/api/tracks/{track['trackId']}", timeout=30)
    assert again.status_code == 404 and again.json()["error"]["code"] == "TRACK_NOT_FOUND"


async def test_delete_is_refused_while_a_separation_runs(server: ServerProcess,
                                                         tmp_path: Path) -> None:
    song = write_audio(tmp_path / "Busy.wav", make_music_like_signal(40.0, seed=61), 44100)
    track = upload(server, song).json()
    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "trackId": track["trackId"],
                           "stems": True, "requestId": "busy"})
        await client.until(lambda m: m["type"] == "progress" and m.get("jobId") is not None,
                           timeout=120)  # the job exists (the first progress may be hashing)
        refused = await asyncio.to_thread(
            httpx.delete, f"{server.http_url}/api/tracks/{track['trackId']}", timeout=30)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "JOB_RUNNING"
        assert "cancel" in refused.json()["error"]["message"]
    assert Path(track["filePath"]).exists()


async def test_cues_are_kept_validated_and_given_to_engines_as_hot_cues(
        server: ServerProcess, tmp_path: Path) -> None:
    song = write_audio(tmp_path / "Cued.wav", make_music_like_signal(4.0, seed=71), 44100)
    track_id = upload(server, song).json()["trackId"]
    cues = f"{server.http_url}/api/tracks/{track_id}/cues"
    assert httpx.get(cues).json() == {"trackId": track_id, "hotCues": []}
    drop = httpx.put(f"{cues}/2", json={"position": 1.5, "name": "Drop", "color": "#ff8800"})
    assert drop.status_code == 200, drop.text
    loop = httpx.put(f"{cues}/0", json={"position": 0.5, "isLoop": True, "loopEnd": 2.5})
    assert loop.json() == {"index": 0, "position": 0.5, "isLoop": True, "loopEnd": 2.5}
    expected = [{"index": 0, "position": 0.5, "isLoop": True, "loopEnd": 2.5},
                {"index": 2, "position": 1.5, "isLoop": False, "name": "Drop",
                 "color": "#ff8800"}]
    assert httpx.get(cues).json()["hotCues"] == expected
    assert httpx.get(f"{cues}/2").json() == expected[1]

    for index, body, word in (
            ("8", {"position": 1.0}, "index"), ("x", {"position": 1.0}, "index"),
            ("1", {"position": 9.0}, "outside the track"), ("1", {"position": -1}, "outside"),
            ("1", {"position": "1"}, "position must be a number"),
            ("1", {"position": 2.0, "isLoop": True, "loopEnd": 1.0}, "after position"),
            ("1", {"position": 2.0, "isLoop": True}, "loopEnd"),
            ("1", {"position": 1.0, "loopEnd": 2.0}, "isLoop true"),
            ("1", {"position": 1.0, "color": "red"}, "#rrggbb"),
            ("1", {"position": 1.0, "colour": "#ffffff"}, "unknown field 'colour'"),
            ("1", {"position": 1.0, "index": 3}, "differs")):
        reply = httpx.put(f"{cues}/{index}", json=body)
        assert reply.status_code == 422, (index, body, reply.text)
        assert word in reply.json()["error"]["message"], reply.json()
    assert httpx.get(f"{cues}/1").json()["error"]["code"] == "CUE_NOT_FOUND"

    async with SpecCheckedClient.connect(server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "trackId": track_id,
                           "requestId": "cues"})
        info = await client.until(lambda m: m["type"] == "trackInfo", timeout=60)
    assert info[-1]["hotCues"] == expected

    replaced = httpx.put(cues, json={"hotCues": [{"index": 7, "position": 3.0}]})
    assert replaced.json()["hotCues"] == [{"index": 7, "position": 3.0, "isLoop": False}]
    twice = httpx.put(cues, json={"hotCues": [{"index": 1, "position": 1},
                                              {"index": 1, "position": 2}]})
    assert twice.status_code == 422 and "twice" in twice.json()["error"]["message"]
    assert httpx.delete(f"{cues}/7").json()["hotCues"] == []
    assert httpx.delete(f"{cues}/7").status_code == 404
    httpx.put(f"{cues}/3", json={"position": 1.0})
    assert httpx.delete(cues).json()["hotCues"] == []
