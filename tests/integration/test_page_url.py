"""A page URL (not a direct audio file) in POST /api/tracks/fetch, through yt-dlp's generic
extractor, against a real server and a loopback web server with an HTML5 <audio> page
(private targets allowed by flag for the test, as every loopback fetch test does)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
import soundfile as sf

from stemcast.net import page_audio
from tests.support.audio_fixtures import make_music_like_signal
from tests.support.server import ServerProcess
from tests.support.web_server import serving

pytestmark = pytest.mark.integration
pytest.importorskip("yt_dlp", reason="the ytdlp extra: pip install -e '.[ytdlp]'")


class _Site(BaseHTTPRequestHandler):
    song = b""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        pages = {
            "/song-page": b"<html><head><title>Page Song</title></head><body>"
                          b"<audio controls src=\"/media/track.wav\"></audio></body></html>",
            "/no-audio": b"<html><head><title>Nothing</title></head><body>hi</body></html>",
        }
        if self.path in pages:
            body, kind = pages[self.path], "text/html; charset=utf-8"
        elif self.path == "/media/track.wav":
            body, kind = self.song, "audio/wav"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    buffer = io.BytesIO()
    sf.write(buffer, make_music_like_signal(2.0, seed=95).T, 44100, format="WAV",
             subtype="PCM_16")
    _Site.song = buffer.getvalue()
    with serving(_Site) as url:
        yield url


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


async def test_without_the_extra_a_page_url_says_how_to_enable_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(page_audio, "available", lambda: False)
    with pytest.raises(page_audio.PageAudioError) as caught:
        await page_audio.find_page_audio("https://example.com/watch?v=1",
                                          page_audio.OutboundPolicy.of(False), 5.0)
    assert caught.value.code == "PAGE_URL_NOT_SUPPORTED"
    assert "pip install 'stemcast[ytdlp]'" in str(caught.value)
