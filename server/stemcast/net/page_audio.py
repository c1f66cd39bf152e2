"""The audio of a web page (a video or music page, a page with an HTML5 <audio>), found
with yt-dlp: an optional extra (`pip install 'stemcast[ytdlp]'`).

yt-dlp only reads the page and names the audio's URL here; the audio itself is then
downloaded by the server's own guarded downloader (size limit, timeout, and the outbound
guard on every connection and redirect). yt-dlp's own requests (the page, every redirect
hop, pages it follows from there) go through the same guard (net/ytdlp_guard.py): a hop
to an address the guard refuses ends the extraction with OutboundRefused.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stemcast.net.outbound import OutboundPolicy

ENABLE_HINT = ("this URL is a web page, not an audio file; to take the audio of pages "
               "(video and music sites, pages with an <audio> player), install the extra: "
               "pip install 'stemcast[ytdlp]' and restart the server; or paste the audio "
               "file's own URL")


class PageAudioError(Exception):
    """No audio could be had from the page; `code` says why (for the HTTP answer)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PageAudio:
    url: str  # the audio's own URL, to download through the guard
    title: str | None
    duration: float | None  # seconds, when the page says


def available() -> bool:
    return importlib.util.find_spec("yt_dlp") is not None


# Plain http(s) downloads only: the server's downloader fetches the audio, never ffmpeg or
# a segment downloader (they would connect on their own, past the guard).
_FORMAT = "bestaudio[protocol~='^https?$']/best[protocol~='^https?$']"


def _extract(url: str, policy: OutboundPolicy, timeout: float) -> dict[str, Any]:
    import yt_dlp

    from stemcast.net.ytdlp_guard import GuardedYoutubeDL

    # check_formats off: checking a format is a test download, which we leave to our own.
    options = {"quiet": True, "no_warnings": True, "skip_download": True, "noplaylist": True,
               "format": _FORMAT, "check_formats": False, "socket_timeout": timeout,
               "playlist_items": "1", "noprogress": True, "cachedir": False}
    ydl = GuardedYoutubeDL(options, policy, deadline=time.monotonic() + timeout)
    try:
        with ydl:
            info = ydl.extract_info(url, download=False)
    except yt_dlp.utils.DownloadError as exc:
        if ydl.refusals:  # a hop to an address the guard refused, whatever yt-dlp says
            raise ydl.refusals[0] from exc
        # yt-dlp's "please report this issue" tail is for its own bugs, not a user's page.
        said = str(exc).removeprefix("ERROR: ").split("; please report")[0]
        raise PageAudioError("NO_AUDIO_ON_PAGE",
                             f"no audio found on the page: {said[:300]}") from exc
    if not isinstance(info, dict):
        raise PageAudioError("NO_AUDIO_ON_PAGE", "no audio found on the page")
    if info.get("_type") == "playlist":
        entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
        if not entries:
            raise PageAudioError("NO_AUDIO_ON_PAGE", "the page lists no playable audio")
        info = entries[0]
    return dict(info)


async def find_page_audio(url: str, policy: OutboundPolicy, timeout: float) -> PageAudio:
    """The audio URL of the page at `url`. Raises OutboundRefused for a host the guard
    refuses, PageAudioError when yt-dlp finds nothing (or is not installed)."""
    if not available():
        raise PageAudioError("PAGE_URL_NOT_SUPPORTED", ENABLE_HINT)
    try:
        info = await asyncio.wait_for(asyncio.to_thread(_extract, url, policy, timeout),
                                      timeout)
    except TimeoutError as exc:
        raise PageAudioError("FETCH_TIMEOUT", f"reading the page took longer than "
                             f"{timeout:g} s") from exc
    media = info.get("url")
    if not isinstance(media, str) or urlsplit(media).scheme not in ("http", "https"):
        raise PageAudioError("NO_AUDIO_ON_PAGE", "the page's audio is not a plain http(s) "
                             "download (a stream format this server does not fetch)")
    duration = info.get("duration")
    title = info.get("title")
    return PageAudio(media, title if isinstance(title, str) else None,
                     float(duration) if isinstance(duration, int | float) else None)
