"""A page URL (not a direct audio file) in POST /api/tracks/fetch, through yt-dlp's generic
extractor, against a real server and a loopback web server with an HTML5 <audio> page
(private targets allowed by flag for the test, as every loopback fetch test does)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from tests.support.audio_fixtures import make_music_like_signal
from tests.support.server import ServerProcess
from tests.support.web_server import Site, serving_site

pytestmark = pytest.mark.integration
pytest.importorskip("yt_dlp", reason="the ytdlp extra: pip install -e '.[ytdlp]'")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    buffer = io.BytesIO()
    sf.write(buffer, make_music_like_signal(2.0, seed=95).T, 44100, format="WAV",
             subtype="PCM_16")
    with serving_site(Site(buffer.getvalue(), pages={
        "/song-page": "<html><head><title>Page Song</title></head><body>"
                      "<audio controls src=\"/media/track.wav\"></audio></body></html>",
        "/no-audio": "<html><head><title>Nothing</title></head><body>hi</body></html>",
    })) as served:
        yield served.url


def fetch(server: ServerProcess, url: str) -> httpx.Response:
    return httpx.post(f"{server.http_url}/api/tracks/fetch", json={"url": url}, timeout=90)


def test_the_audio_of_a_page_is_fetched_and_registered(tiny_server: ServerProcess,
                                                       site: str) -> None:
    reply = fetch(tiny_server, f"{site}/song-page")
    assert reply.status_code == 201, reply.text
    track = reply.json()
    assert track["title"].startswith("Page Song") and track["durationSeconds"] == pytest.approx(2.0)
    stored = httpx.get(f"{tiny_server.http_url}/api/tracks/{track['trackId']}").json()
    assert stored["format"] == "wav"


def test_a_page_without_audio_says_so(tiny_server: ServerProcess, site: str) -> None:
    reply = fetch(tiny_server, f"{site}/no-audio")
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "NO_AUDIO_ON_PAGE"


def test_without_the_extra_a_page_url_says_how_to_enable_it(tmp_path: Path, site: str) -> None:
    """A server whose Python cannot import yt_dlp (a sitecustomize hides it, as if the
    extra were not installed) answers a page URL with how to enable it."""
    hide = tmp_path / "hide-ytdlp"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['yt_dlp'] = None\n")
    server = ServerProcess(tmp_path / "data", args=["--model", "dsp"],
                           env={"PYTHONPATH": str(hide)}).start()
    try:
        reply = fetch(server, f"{site}/song-page")
    finally:
        server.stop()
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "PAGE_URL_NOT_SUPPORTED"
    assert "pip install 'stemcast[ytdlp]'" in error["message"]
