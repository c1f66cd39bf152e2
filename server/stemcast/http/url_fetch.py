"""HTTP: register a track from a direct audio URL (`POST /api/tracks/fetch`).

The server downloads the file itself (streamed, at most --max-upload-mb, within
FETCH_TIMEOUT seconds in all), stores it in the uploads folder and registers it like an
upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from stemcast import __version__
from stemcast.audio import AudioError
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem
from stemcast.library.tracks import TrackSource

FETCH_TIMEOUT = 30.0
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


async def download(url: str, folder: Path, limit_bytes: int,
                   timeout: float = FETCH_TIMEOUT) -> tuple[Path, str]:
    """Download `url` into `folder`; return the file and the name it had on the web."""
    folder.mkdir(parents=True, exist_ok=True)
    host = urlsplit(url).hostname
    partial = folder / f"{uuid.uuid4()}.partial"
    deadline = time.monotonic() + timeout
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(
                follow_redirects=True, max_redirects=5, timeout=timeout,
                headers={"User-Agent": f"stemcast/{__version__}"}) as client, \
                client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise FetchError(502, "FETCH_FAILED",
                                 f"{host} answered {response.status_code} "
                                 f"{response.reason_phrase} for {url[:200]}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit_bytes:
                raise _too_large(limit_bytes)
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
    except TimeoutError as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(502, "FETCH_TIMEOUT",
                         f"downloading {url[:200]} took longer than {timeout:g} s") from exc
    except httpx.TimeoutException as exc:
        partial.unlink(missing_ok=True)
        waited = timeout - max(0.0, deadline - time.monotonic())
        raise FetchError(502, "FETCH_TIMEOUT",
                         f"{host} did not answer within {waited:.0f} s") from exc
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        reason = str(exc) or type(exc).__name__
        raise FetchError(502, "FETCH_FAILED", f"could not download from {host}: {reason}") \
            from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    target = folder / f"{partial.stem}{_suffix_of(name, response.headers.get('content-type', ''))}"
    partial.rename(target)
    return target, name


def _too_large(limit_bytes: int) -> FetchError:
    return FetchError(413, "UPLOAD_TOO_LARGE",
                      f"the file at the URL is larger than the server's limit of "
                      f"{limit_bytes // (1024 * 1024)} MB (--max-upload-mb)")


async def fetch_track(request: Request) -> JSONResponse:
    services = services_of(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, "BAD_JSON", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise HTTPProblem(422, "MISSING_FIELD", "send a JSON object with a string field 'url'")
    limit = services.settings.max_upload_mb * 1024 * 1024
    try:
        url = check_url(body.get("url"))
        target, name = await download(url, services.settings.uploads_dir, limit)
    except FetchError as exc:
        raise HTTPProblem(exc.status, exc.code, str(exc)) from exc
    title = PurePosixPath(name).stem or None
    try:
        track = await services.library.add_file(target, TrackSource.UPLOAD, title=title)
    except AudioError as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise HTTPProblem(422, exc.code.value,
                          str(exc).replace(str(target), name or url[:200])) from exc
    return JSONResponse({"success": True, **track.to_api()}, status_code=201)
