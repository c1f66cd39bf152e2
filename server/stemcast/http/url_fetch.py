"""HTTP: register a track from a direct audio URL (`POST /api/tracks/fetch`).

The server downloads the file itself (streamed, at most --max-upload-mb, within
--fetch-timeout seconds in all and READ_TIMEOUT seconds a read), stores it in the uploads
folder and registers it like an upload. Connections go through the outbound guard
(net/outbound.py): no loopback, private or other non-public address unless
--fetch-allow-private. Failures all read alike, whatever
the target answered (refused, TLS error, 404...): told apart, they would make this endpoint
a port scanner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from stemcast.audio import AudioError
from stemcast.http.api_meta import endpoint
from stemcast.http.api_types import FetchTrack, TrackAdded
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem
from stemcast.library.tracks import TrackSource
from stemcast.net.outbound import OutboundPolicy, OutboundRefused, guarded_client
from stemcast.net.page_audio import ENABLE_HINT, PageAudio, PageAudioError, find_page_audio

# A read (or connect) that waits this long fails: a stalled peer, however long the whole
# download may take. Also the time a web page's read may take (yt-dlp).
READ_TIMEOUT = 30.0
MAX_URL_LENGTH = 4096
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")
_SUFFIX_OF_TYPE = {
    "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
    "audio/wave": ".wav", "audio/flac": ".flac", "audio/x-flac": ".flac", "audio/ogg": ".ogg",
    "audio/aiff": ".aiff", "audio/x-aiff": ".aiff", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a",
    "audio/opus": ".opus",
}


class FetchError(Exception):
    """The download failed; `status` and `code` are the HTTP problem to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class WebPageError(FetchError):
    """The URL answered with a web page, not audio: its audio may be had with yt-dlp."""

    def __init__(self) -> None:
        super().__init__(422, "PAGE_URL_NOT_SUPPORTED", ENABLE_HINT)


def check_url(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise FetchError(422, "MISSING_FIELD",
                         "send a JSON object with a non-empty string field 'url'")
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(422, "INVALID_FIELD", f"url: longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError(422, "INVALID_FIELD",
                         f"url: must be an http:// or https:// address of an audio file, "
                         f"got {url[:200]!r}")
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(422, "INVALID_FIELD",
                         f"url: not a valid address ({str(exc)[:200]}); send the audio file's "
                         "URL as a browser shows it") from exc
    return url


def _name_of(response: httpx.Response) -> str:
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        filename = message.get_filename()
        if filename:
            return PurePosixPath(filename).name
    return PurePosixPath(unquote(response.url.path)).name or "download"


def _suffix_of(name: str, content_type: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if _SAFE_SUFFIX.match(suffix):
        return suffix
    return _SUFFIX_OF_TYPE.get(content_type.split(";")[0].strip().lower(), "")


async def download(url: str, folder: Path, limit_bytes: int, policy: OutboundPolicy,
                   timeout: float) -> tuple[Path, str]:
    """Download `url` into `folder` within `timeout` seconds in all; return the file and
    the name it had on the web."""
    folder.mkdir(parents=True, exist_ok=True)
    host = urlsplit(url).hostname
    partial = folder / f"{uuid.uuid4()}.partial"
    failed = FetchError(502, "FETCH_FAILED",
                        f"could not download an audio file from {host!s:.100}: no connection, "
                        "or it did not answer with the file; check that the URL opens in a "
                        "browser and points at the audio itself")
    try:
        async with asyncio.timeout(timeout), \
                guarded_client(policy, timeout=min(timeout, READ_TIMEOUT),
                               follow_redirects=True) as client, \
                client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise failed
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit_bytes:
                raise _too_large(limit_bytes)
            if response.headers.get("content-type", "").lower().startswith("text/html"):
                raise WebPageError()
            name = _name_of(response)
            size = 0
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes(1 << 20):
                    size += len(chunk)
                    if size > limit_bytes:
                        raise _too_large(limit_bytes)
                    await asyncio.to_thread(out.write, chunk)
            if size == 0:
                raise FetchError(422, "EMPTY_AUDIO", f"{url[:200]} returned no data")
    except OutboundRefused as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(403, "URL_NOT_ALLOWED", f"url: {exc}") from exc
    except httpx.TimeoutException as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(502, "FETCH_TIMEOUT",
                         f"{host!s:.100} sent nothing for {min(timeout, READ_TIMEOUT):g} s; "
                         "check that the URL opens in a browser") from exc
    except TimeoutError as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(502, "FETCH_TIMEOUT",
                         f"downloading from {host!s:.100} took longer than {timeout:g} s "
                         "(--fetch-timeout); upload the file instead, or raise the "
                         "limit") from exc
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise failed from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    target = folder / f"{partial.stem}{_suffix_of(name, response.headers.get('content-type', ''))}"
    partial.rename(target)
    return target, name


async def _page_audio(url: str, policy: OutboundPolicy, max_duration_s: float) -> PageAudio:
    """A page's audio URL through yt-dlp (the optional extra), as FetchErrors."""
    try:
        page = await find_page_audio(url, policy, READ_TIMEOUT)
    except OutboundRefused as exc:
        raise FetchError(403, "URL_NOT_ALLOWED", f"url: {exc}") from exc
    except PageAudioError as exc:
        status = 502 if exc.code == "FETCH_TIMEOUT" else 422
        raise FetchError(status, exc.code, str(exc)) from exc
    if page.duration is not None and page.duration > max_duration_s:
        raise FetchError(422, "TRACK_TOO_LONG",
                         f"the page's audio is {page.duration / 60:.1f} minutes long; this "
                         f"server takes tracks up to {max_duration_s / 60:.0f} minutes "
                         "(--max-duration-s)")
    return page


def _too_large(limit_bytes: int) -> FetchError:
    return FetchError(413, "UPLOAD_TOO_LARGE",
                      f"the file at the URL is larger than the server's limit of "
                      f"{limit_bytes // (1024 * 1024)} MB (--max-upload-mb)")


@endpoint("Register a track from an audio URL (the server downloads it)",
          tags=("tracks",), request=FetchTrack,
          responses={201: TrackAdded, 400: None, 413: None, 422: None, 502: None})
async def fetch_track(request: Request) -> JSONResponse:
    services = services_of(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        # A web form can send text/plain cross-site without asking first; JSON it cannot.
        raise HTTPProblem(415, "UNSUPPORTED_MEDIA_TYPE",
                          f"Content-Type '{content_type[:100] or '(none)'}' is not accepted: "
                          "send application/json with {\"url\": \"https://...\"}")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, "BAD_JSON", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise HTTPProblem(422, "MISSING_FIELD", "send a JSON object with a string field 'url'")
    limit = services.settings.max_upload_mb * 1024 * 1024
    policy = services.settings.fetch_policy()
    title: str | None = None
    try:
        url = check_url(body.get("url"))
        try:
            target, name = await download(url, services.settings.uploads_dir, limit, policy,
                                          services.settings.fetch_timeout)
        except WebPageError:
            page = await _page_audio(url, policy, services.settings.max_duration_s)
            target, name = await download(page.url, services.settings.uploads_dir, limit,
                                          policy, services.settings.fetch_timeout)
            title = page.title
    except FetchError as exc:
        raise HTTPProblem(exc.status, exc.code, str(exc)) from exc
    title = title or PurePosixPath(name).stem or None
    try:
        track = await services.library.add_file(target, TrackSource.UPLOAD, title=title)
    except AudioError as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise HTTPProblem(422, exc.code.value,
                          str(exc).replace(str(target), name or url[:200])) from exc
    return JSONResponse({"success": True, **track.to_api()}, status_code=201)
