"""HTTP: register tracks by path or upload, and list them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from stemcast.audio import AudioError
from stemcast.http.api_meta import Query, endpoint
from stemcast.http.api_types import AddTrack, Track, TrackAdded, TrackAnalysis
from stemcast.http.deps import HttpDeps as Services
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem
from stemcast.library.library import TrackIdError
from stemcast.library.paths import PathNotAllowedError, resolve_allowed
from stemcast.library.tracks import TrackSource
from stemcast_protocol import Priority

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")


@endpoint("Register a track by path (JSON) or upload (multipart)", tags=("tracks",),
          request=AddTrack, form={"file": "the audio file"},
          responses={201: TrackAdded, 400: None, 403: None, 404: None, 409: None, 413: None,
                     415: None, 422: None})
async def add_track(request: Request) -> JSONResponse:
    services = services_of(request)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        track = await _add_by_path(request, services)
    elif content_type.startswith("multipart/form-data"):
        track = await _add_by_upload(request, services)
    else:
        raise HTTPProblem(
            415, "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type '{content_type[:100] or '(none)'}' is not accepted: send "
            "application/json with {\"path\": \"/abs/file.mp3\"} or multipart/form-data "
            "with a 'file' field",
        )
    return JSONResponse({"success": True, **track.to_api()}, status_code=201)


async def _add_by_path(request: Request, services: Services) -> Any:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, "BAD_JSON", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("path"), str) or not body["path"]:
        raise HTTPProblem(422, "MISSING_FIELD",
                          "send a JSON object with a non-empty string field 'path'")
    track_id = body.get("trackId")
    if track_id is None:
        return await track_from_path(body["path"], services)
    if not isinstance(track_id, str):
        raise HTTPProblem(422, "INVALID_FIELD", "field 'trackId' must be a string (your "
                          "track's id, e.g. the app server's UUID) or left out")
    return await track_with_id(body["path"], track_id, services)


@contextlib.contextmanager
def _path_problems() -> Iterator[None]:
    """A client-named path's failures as HTTP answers (shared by every way to add one)."""
    try:
        yield
    except PathNotAllowedError as exc:
        raise HTTPProblem(403, "PATH_NOT_ALLOWED", str(exc)) from exc
    except AudioError as exc:
        status = 404 if exc.code.value == "FILE_NOT_FOUND" else 422
        raise HTTPProblem(status, exc.code.value, str(exc)) from exc
    except ValueError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", f"path: {exc}") from exc


async def track_with_id(path: str, track_id: str, services: Services) -> Any:
    """A client-named path registered under the client's own track id."""
    with _path_problems():
        try:
            resolved = resolve_allowed(path, services.library.allowed_dirs)
            return await services.library.add_file_with_id(resolved, TrackSource.API,
                                                           track_id)
        except TrackIdError as exc:
            raise HTTPProblem(409 if exc.conflict else 422,
                              "TRACK_ID_CONFLICT" if exc.conflict else "INVALID_FIELD",
                              str(exc)) from exc


async def track_from_path(path: str, services: Services) -> Any:
    """A client-named path: inside the allowed folders, existing, audio."""
    with _path_problems():
        return await services.library.add_allowed_path(path, TrackSource.API)


def _too_large(services: Services) -> HTTPProblem:
    return HTTPProblem(413, "UPLOAD_TOO_LARGE",
                       f"the upload is larger than the server's limit of "
                       f"{services.settings.max_upload_mb} MB (--max-upload-mb)")


def check_upload_size(request: Request, services: Services) -> None:
    """Refuse before reading when Content-Length already says it is too big."""
    limit = services.settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _too_large(services)


async def track_from_upload(upload: Any, services: Services) -> Any:
    """Store a multipart 'file' field in the uploads folder and register it as a track."""
    if not isinstance(upload, UploadFile):
        raise HTTPProblem(422, "MISSING_FIELD",
                          "multipart upload needs the audio in a file field named 'file'")
    limit = services.settings.max_upload_mb * 1024 * 1024
    original = Path(upload.filename or "upload")
    suffix = original.suffix.lower() if _SAFE_SUFFIX.match(original.suffix) else ""
    target = services.settings.uploads_dir / f"{uuid.uuid4()}{suffix}"
    size, digest = await asyncio.to_thread(_copy_limited, upload, target, limit)
    if size > limit:
        target.unlink(missing_ok=True)
        raise _too_large(services)
    try:
        track, _known = await services.library.add_upload(target, original.stem, digest)
        return track
    except AudioError as exc:
        target.unlink(missing_ok=True)  # keep no junk from a refused upload
        raise HTTPProblem(422, exc.code.value, str(exc).replace(str(target), original.name)) \
            from exc
    except BaseException:
        # Not registered (a full disk, a locked database): no file without its track.
        target.unlink(missing_ok=True)
        raise


async def _add_by_upload(request: Request, services: Services) -> Any:
    check_upload_size(request, services)
    async with request.form(max_files=1, max_fields=10) as form:
        return await track_from_upload(form.get("file"), services)


def _copy_limited(upload: UploadFile, target: Path, limit: int) -> tuple[int, str]:
    """Copies at most `limit` bytes; the size read and the sha256 of the bytes kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as out:
            while chunk := upload.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    break
                out.write(chunk)
                digest.update(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk leaves no half-written upload
        raise
    if size > limit:
        partial.unlink(missing_ok=True)
        return size, ""
    shutil.move(partial, target)
    return size, digest.hexdigest()


@endpoint("One track", tags=("tracks",), responses={200: Track, 404: None})
async def get_track(request: Request) -> JSONResponse:
    services = services_of(request)
    track = await services.library.get(request.path_params["track_id"])
    if track is None:
        raise HTTPProblem(404, "TRACK_NOT_FOUND",
                          f"no track with id '{request.path_params['track_id']}'")
    return JSONResponse(track.to_api())


@endpoint("A track's analysis: bpm, beats, key, loudness, the mix's peaks",
          tags=("tracks",), responses={200: TrackAnalysis, 404: None},
          query=(Query("wait", "1: wait up to 60 s for a pending analysis"),))
async def get_track_analysis(request: Request) -> JSONResponse:
    """The track's analysis (bpm, beats, key, loudness, ...) and the mix's waveform peaks;
    ?wait=1 waits (up to 60 s) for a pending analysis, lifted to high priority."""
    services = services_of(request)
    track = await services.library.get(request.path_params["track_id"])
    if track is None:
        raise HTTPProblem(404, "TRACK_NOT_FOUND",
                          f"no track with id '{request.path_params['track_id']}'")
    if track.analysis_state == "pending" and request.query_params.get("wait") in ("1", "true"):
        with contextlib.suppress(TimeoutError):
            track = await services.analysis.wait(track, Priority.HIGH, timeout=60)
    waveform: Any = None
    if track.analysis_state == "done":
        path = services.analysis.waveform_path(track.id)
        with contextlib.suppress(OSError, ValueError):
            waveform = json.loads(await asyncio.to_thread(path.read_text))
    return JSONResponse({"trackId": track.id, "bpm": track.bpm, "key": track.musical_key,
                         "mode": track.mode, **track.analysis_api(), "waveforms": waveform})

