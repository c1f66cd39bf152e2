"""The mix export (POST /api/stems/{jobId}/mix) against a real server: the instrumental
with vocals at -6 dB equals the sum computed here from the downloaded stems; a loop
region, a tempo change and a variant's stems; bad settings refused by name."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.support.audio_fixtures import make_music_like_signal, write_audio
from tests.support.client import SpecCheckedClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.integration
STEMS = ("drums", "bass", "other", "vocals")


@pytest.fixture(scope="module")
async def job(tiny_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_audio(tmp_path_factory.mktemp("mix") / "Mix Me.wav",
                       make_music_like_signal(4.0, seed=91), 44100)
    with path.open("rb") as handle:
        track = httpx.post(f"{tiny_server.http_url}/api/tracks", timeout=60,
                           files={"file": (path.name, handle, "audio/wav")}).json()
    async with SpecCheckedClient.connect(tiny_server.ws_url) as client:
        await client.send({"command": "getTrackInfo", "trackId": track["trackId"],
                           "stems": True, "requestId": "mix"})
        done = (await client.until(lambda m: m["type"] in ("stemsReady", "stemsFailed"),
                                   timeout=180))[-1]
    assert done["type"] == "stemsReady", done
    return str(done["jobId"])


def download(server: ServerProcess, job: str, stem: str, query: str = "") -> np.ndarray:
    reply = httpx.get(f"{server.http_url}/api/stems/{job}/{stem}.wav{query}", timeout=60)
    assert reply.status_code == 200, reply.text
    return np.asarray(sf.read(io.BytesIO(reply.content), dtype="float64")[0])


def export(server: ServerProcess, job: str, body: Any) -> httpx.Response:
    return httpx.post(f"{server.http_url}/api/stems/{job}/mix", json=body, timeout=120)


def test_vocals_at_minus_6_db_equal_the_sum_of_the_downloaded_stems(
        tiny_server: ServerProcess, job: str) -> None:
    reply = export(tiny_server, job, {"gains": {"vocals": -6}})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "audio/wav"
    assert reply.headers["content-disposition"] == 'attachment; filename="Mix Me (mix).wav"'
    mixed, rate = sf.read(io.BytesIO(reply.content), dtype="float64")
    stems = {name: download(tiny_server, job, name) for name in STEMS}
    expected = stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"] * 10 ** (-6 / 20)
    assert rate == 44100 and mixed.shape == expected.shape
    # One 16-bit step of rounding (the export is 16-bit too), and clipping at full scale.
    np.testing.assert_allclose(mixed, np.clip(expected, -1, 32767 / 32768), atol=2 / 32768)


def test_a_loop_at_90_percent_tempo_and_a_variants_stems(tiny_server: ServerProcess,
                                                         job: str) -> None:
    looped = export(tiny_server, job, {"mutes": ["vocals"], "loop": {"start": 1.0, "end": 3.0}})
    plain = sf.read(io.BytesIO(looped.content), dtype="float64")[0]
    assert plain.shape[0] == 2 * 44100
    slower = export(tiny_server, job, {"mutes": ["vocals"], "tempo": 0.9,
                                       "loop": {"start": 1.0, "end": 3.0}})
    stretched = sf.read(io.BytesIO(slower.content), dtype="float64")[0]
    assert stretched.shape[0] == pytest.approx(2 * 44100 / 0.9, rel=0.01)
    accompaniment = export(tiny_server, job, {"variant": "2stems", "mutes": ["vocals"]})
    alone = sf.read(io.BytesIO(accompaniment.content), dtype="float64")[0]
    expected = download(tiny_server, job, "accompaniment", "?variant=2stems")
    np.testing.assert_allclose(alone, expected, atol=2 / 32768)
    mp3 = export(tiny_server, job, {"format": "mp3"})
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"


def test_bad_settings_are_refused_by_name(tiny_server: ServerProcess, job: str) -> None:
    for body, words in (({"gains": {"accompaniment": -3}}, "no stem 'accompaniment'"),
                        ({"tempo": 0.1}, "tempo"), ({"variant": "3stems"}, "variant"),
                        ({"variant": "6stems"}, "6-stem"), ({"loop": {"start": 3, "end": 2}},
                                                            "loop.end")):
        reply = export(tiny_server, job, body)
        assert reply.status_code == 422, (body, reply.text)
        assert words in reply.json()["error"]["message"], reply.json()
    missing = export(tiny_server, "no-such-job", {})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "JOB_NOT_FOUND"
