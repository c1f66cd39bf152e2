"""A page URL goes through yt-dlp, and every request yt-dlp makes goes through the outbound
guard: a redirect hop, a meta refresh, an <audio src> to an address the operator did not
allow is refused (naming the address and the flags that allow it) and never reached.

A real server with private targets refused except one host:port (--fetch-allow-host),
real yt-dlp (its generic extractor), two loopback web sites: `allowed` (its port on the
allowlist) and `blocked` (another port: a private address a page points the server at).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from stemcast.net.outbound import OutboundPolicy
from stemcast.net.page_audio import PageAudioError, find_page_audio
from tests.support.audio_fixtures import make_music_like_signal
from tests.support.server import ServerProcess
from tests.support.web_server import Site, serving_site

pytestmark = pytest.mark.integration
pytest.importorskip("yt_dlp", reason="the ytdlp extra: pip install -e '.[ytdlp]'")

from stemcast.net.ytdlp_guard import MAX_PAGE_BYTES  # noqa: E402  (needs yt_dlp)


def _page(title: str, audio_src: str) -> str:
    return (f"<html><head><title>{title}</title></head><body>"
            f"<audio controls src=\"{audio_src}\"></audio></body></html>")


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, Site]]:
    song = _wav(2.0)
    allowed, blocked = Site(song), Site(song)
    with serving_site(allowed), serving_site(blocked):
        own_song = "/media/track.wav"
        # The blocked site's page plays the allowed site's song: were the hop to it made,
        # the fetch would succeed, with a private page read on the way.
        blocked.pages["/secret-page"] = _page("Secret", f"{allowed.url}{own_song}")
        allowed.pages.update({
            "/song-page": _page("Page Song", own_song),
            "/audio-elsewhere": _page("Elsewhere", f"{blocked.url}{own_song}"),
            "/hop": _page("Hop", own_song),
            "/big-audio": _page("Big", "/media/big.wav"),
            "/refresh": f'<html><head><meta http-equiv="refresh" content="0; '
                        f'url={blocked.url}/secret-page"></head><body>Moved</body></html>',
        })
        allowed.redirects.update({"/hop": "/hop-2", "/hop-2": f"{blocked.url}/secret-page"})
        allowed.two_faced.add("/hop")
        allowed.files["/media/big.wav"] = _wav(8.0)  # 1.4 MB
        yield allowed, blocked


@pytest.fixture(autouse=True)
def _fresh_hits(sites: tuple[Site, Site]) -> None:
    for site in sites:
        site.hits.clear()


def _wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, make_music_like_signal(seconds, seed=96).T, 44100, format="WAV",
             subtype="PCM_16")
    return buffer.getvalue()


MAX_UPLOAD_MB = 1  # the module's server's, as a direct URL's download has it


def _server(data: Path, allowed: Site, env: dict[str, str] | None = None) -> ServerProcess:
    return ServerProcess(data, args=["--model", "dsp", "--fetch-allow-host",
                                     f"127.0.0.1:{allowed.port}",
                                     "--max-upload-mb", str(MAX_UPLOAD_MB)],
                         env=env or {}, allow_private_targets=False).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           sites: tuple[Site, Site]) -> Iterator[ServerProcess]:
    proc = _server(tmp_path_factory.mktemp("page-guard") / "data", sites[0])
    yield proc
    proc.stop()


def fetch(server: ServerProcess, url: str) -> httpx.Response:
    return httpx.post(f"{server.http_url}/api/tracks/fetch", json={"url": url}, timeout=90)


def test_the_allowed_host_port_serves_a_page(server: ServerProcess,
                                             sites: tuple[Site, Site]) -> None:
    reply = fetch(server, f"{sites[0].url}/song-page")
    assert reply.status_code == 201, reply.text
    assert reply.json()["title"].startswith("Page Song")


@pytest.mark.parametrize(("path", "followed_to"), [
    ("/audio-elsewhere", None),  # the page's <audio src> (our own downloader)
    ("/hop", "/hop-2"),  # a redirect chain: refused at the hop to the blocked site
    ("/refresh", None),  # a meta refresh yt-dlp follows
])
def test_every_way_to_a_blocked_address_is_refused(server: ServerProcess,
                                                   sites: tuple[Site, Site], path: str,
                                                   followed_to: str | None) -> None:
    allowed, blocked = sites
    reply = fetch(server, f"{allowed.url}{path}")
    if followed_to is not None:
        assert followed_to in allowed.hits  # followed as far as the refused hop
    assert reply.status_code == 403, reply.text
    error = reply.json()["error"]
    assert error["code"] == "URL_NOT_ALLOWED"
    assert f"'127.0.0.1' port {blocked.port} is a loopback address" in error["message"]
    assert "--fetch-allow-host" in error["message"]
    assert "--fetch-allow-private" in error["message"]
    assert blocked.hits == []  # no request reached it


def test_page_reads_ignore_a_proxy_from_the_environment(tmp_path: Path,
                                                        sites: tuple[Site, Site]) -> None:
    """A proxy would connect for us to addresses we never checked: none is used."""
    allowed, blocked = sites
    proxy = {"http_proxy": blocked.url, "HTTP_PROXY": blocked.url, "no_proxy": "",
             "NO_PROXY": ""}
    proc = _server(tmp_path / "data", allowed, env=proxy)
    try:
        reply = fetch(proc, f"{allowed.url}/song-page")
    finally:
        proc.stop()
    assert reply.status_code == 201, reply.text
    assert blocked.hits == []


def test_a_pages_audio_has_the_size_limit_of_a_direct_url(server: ServerProcess,
                                                          sites: tuple[Site, Site]) -> None:
    reply = fetch(server, f"{sites[0].url}/big-audio")
    assert reply.status_code == 413, reply.text
    error = reply.json()["error"]
    assert error["code"] == "UPLOAD_TOO_LARGE" and "--max-upload-mb" in error["message"]


async def test_a_page_past_the_size_limit_is_not_read_whole(sites: tuple[Site, Site]) -> None:
    """yt-dlp reads pages, never the audio: an answer past MAX_PAGE_BYTES is cut off."""
    allowed = sites[0]
    allowed.pages["/huge"] = "<html><body>" + "x" * (MAX_PAGE_BYTES + 1024) + "</body></html>"
    with pytest.raises(PageAudioError) as caught:
        await find_page_audio(f"{allowed.url}/huge",
                              OutboundPolicy.of(False, [f"127.0.0.1:{allowed.port}"]), 30.0)
    assert caught.value.code == "NO_AUDIO_ON_PAGE"
    assert f"larger than {MAX_PAGE_BYTES >> 20} MB" in str(caught.value)
