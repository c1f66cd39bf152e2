"""The seed-compatible job API: POST /jobs, GET /jobs/{id}[/stems[/{stem}|.zip]], DELETE.

Field names are the seeds' (snake_case: file_path, track_hash, callback_url,
stem_delivery_mode), so an app server written for the seeds' analysis server works by
changing its server URL only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from stemcast.apijobs.callback_body import body_pieces
from stemcast.apijobs.callback_waveforms import write_callback_waveforms
from stemcast.apijobs.models import AnalysisOptions, ApiJob, ApiJobStatus, DeliveryMode
from stemcast.apijobs.stems_payload import (
    CALLBACK_ZOOM_LEVELS,
    InlineTooLargeError,
    absolute_urls,
    inline_audio,
    stems_data,
)
from stemcast.cache.leases import LeasedResponse
from stemcast.delivery.renditions import Delivered, spec_for
from stemcast.delivery.zip_stream import zip_files
from stemcast.http.api_meta import Media, endpoint
from stemcast.http.api_types import (
    JobCreated,
    JobDeleted,
    JobPending,
    JobRecord,
    JobRequest,
    JobStems,
    Stats,
)
from stemcast.http.callback_guard import check_callback
from stemcast.http.deps import HttpDeps as Services
from stemcast.http.errors import HTTPProblem
from stemcast.http.stem_files import MEDIA_TYPES
from stemcast.http.tracks import (
    check_upload_size,
    services_of,
    track_from_path,
    track_from_upload,
)
from stemcast.jobs.submission import completed_event
from stemcast.requests import TrackTooLongError
from stemcast_protocol import OptionError, Priority, parse_output_options

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# POST /jobs as multipart: the JSON body's fields as form fields, the audio in `file`.
_FORM = {"file": "the audio file", "track_hash": "the job id", "options": "JSON object",
         "callback_url": "where callbacks go", "stem_delivery_mode": "path, callback or poll",
         "priority": "high, normal or low"}


def _field_error(field: str, problem: str) -> HTTPProblem:
    return HTTPProblem(422, "INVALID_FIELD", f"field '{field}': {problem}")


def _parse_options(raw: Any) -> AnalysisOptions:
    if raw is None:
        return AnalysisOptions()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise HTTPProblem(400, "BAD_JSON", f"field 'options' is not valid JSON: {exc}; "
                              "send e.g. {\"stems\": true}") from exc
    if not isinstance(raw, dict):
        raise _field_error("options", "must be an object like {\"stems\": true}")
    values: dict[str, bool] = {}
    for name in ("stems", "basic_features", "characteristics", "drums"):
        value = raw.get(name)
        if value is None or (name == "stems" and isinstance(value, list)):
            continue
        if not isinstance(value, bool):
            raise _field_error(f"options.{name}", "must be true or false"
                               + (" or a list of stem names" if name == "stems" else ""))
        values[name] = value
    try:
        output = parse_output_options(raw.get, camel=False)
    except OptionError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", f"options: {exc}") from exc
    model = raw.get("model")
    if model is not None and (not isinstance(model, str) or not model or len(model) > 200):
        raise _field_error("options.model", "must be a model name such as htdemucs or dsp")
    options = AnalysisOptions(**values, model=model, output=output)
    if options.drums or output.stems is not None:
        options = replace(options, stems=True)  # both need the stems separated
    if not (options.stems or options.basic_features or options.characteristics):
        raise _field_error("options", "asks for nothing: set stems or basic_features to true")
    return options


def _parse_callback_url(raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise _field_error("callback_url", "must be a string")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _field_error("callback_url",
                           f"must be an http:// or https:// URL, got {raw[:200]!r}")
    return raw


def _parse_mode(raw: Any, callback_url: str | None) -> DeliveryMode:
    if raw in (None, ""):
        return DeliveryMode.PATH
    try:
        return DeliveryMode(raw)
    except ValueError:
        raise _field_error("stem_delivery_mode",
                           f"must be one of path, callback, poll; got {repr(raw)[:80]}") from None


def _parse_job_id(raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, str) or not _JOB_ID.match(raw):
        raise _field_error("track_hash", "must be 1-128 letters, digits, '-', '_' or '.'")
    return raw


def _parse_priority(raw: Any) -> Priority:
    if raw in (None, ""):
        return Priority.NORMAL
    try:
        return Priority(raw)
    except ValueError:
        raise _field_error("priority",
                           f"must be high, normal or low; got {repr(raw)[:80]}") from None


@endpoint("Submit a job (seeds 000 and 004): a path or an upload", tags=("jobs",),
          request=JobRequest, form=_FORM,
          responses={200: JobCreated, 400: None, 403: None, 404: None, 413: None, 415: None,
                     422: None})
async def submit_job(request: Request) -> JSONResponse:
    services = services_of(request)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPProblem(400, "BAD_JSON", f"the body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise HTTPProblem(400, "BAD_JSON", "the body must be a JSON object")
        fields = _validated(body)
        if not isinstance(body.get("file_path"), str) or not body["file_path"]:
            raise HTTPProblem(422, "MISSING_FIELD",
                              "JSON jobs need 'file_path' (an absolute path in an allowed "
                              "folder); to send the audio itself use multipart/form-data "
                              "with a 'file' field")
        track = await track_from_path(body["file_path"], services)
    elif content_type.startswith("multipart/form-data"):
        check_upload_size(request, services)
        async with request.form(max_files=1, max_fields=20) as form:
            fields = _validated({k: v for k, v in form.items() if isinstance(v, str)})
            track = await track_from_upload(form.get("file"), services)
    else:
        raise HTTPProblem(415, "UNSUPPORTED_MEDIA_TYPE",
                          f"Content-Type '{content_type[:100] or '(none)'}' is not accepted: send "
                          "application/json with file_path, or multipart/form-data with file")
    await check_callback(services.settings, fields["callback_url"], fields["mode"],
                         fields["options"], track)
    try:
        job = await services.api_jobs.submit(
            job_id=fields["job_id"] or track.id, track=track, track_hash=fields["track_hash"],
            options=fields["options"], priority=fields["priority"],
            callback_url=fields["callback_url"], mode=fields["mode"])
    except TrackTooLongError as exc:
        raise HTTPProblem(422, "TRACK_TOO_LONG", str(exc)) from exc
    await services.api_jobs.store.set_public_url(job.id, public_base(request))
    return JSONResponse({
        "job_id": job.id,
        "status": job.status.value,
        "track_hash": job.track_hash,
        "track_id": job.track_id,
        "created_at": job.created_at,
        "callback_url": job.callback_url,
        "stem_delivery_mode": job.delivery_mode.value,
    })


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    callback_url = _parse_callback_url(body.get("callback_url"))
    track_hash = _parse_job_id(body.get("track_hash"))
    return {
        "job_id": track_hash,  # the job id is the track hash when one is given (seeds)
        "track_hash": track_hash,
        "options": _parse_options(body.get("options")),
        "callback_url": callback_url,
        "mode": _parse_mode(body.get("stem_delivery_mode"), callback_url),
        "priority": _parse_priority(body.get("priority")),
    }


def public_base(request: Request) -> str:
    """--public-url, else the scheme, host and port the request came to."""
    configured = services_of(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


async def _job_or_404(services: Services, job_id: str) -> ApiJob:
    job = await services.api_jobs.store.get(job_id)
    if job is None:
        raise HTTPProblem(404, "JOB_NOT_FOUND", f"no job with id '{job_id}'")
    return job


@endpoint("A job's status, stages done, error and callbacks", tags=("jobs",),
          responses={200: JobRecord, 404: None})
async def get_job(request: Request) -> JSONResponse:
    services = services_of(request)
    job = await _job_or_404(services, request.path_params["job_id"])
    body = job.to_api()
    body["callbacks"] = await services.api_jobs.store.callbacks_for(job.id)
    return JSONResponse(body)


async def _finished_stems(services: Services, job: ApiJob) -> tuple[Delivered, Any]:
    """The stems of a completed job as its options ask (checking the files are there)."""
    if job.status.is_live:
        raise HTTPProblem(409, "NOT_READY", f"job '{job.id}' is {job.status.value} "
                          f"({job.stage}, {job.progress:.0%}); poll GET /jobs/{job.id}/stems")
    if job.status != ApiJobStatus.COMPLETED or not job.options.stems:
        raise HTTPProblem(409, job.error_code or "NO_STEMS",
                          job.error_message or f"job '{job.id}' did not make stems")
    separation = await services.jobs.get(job.separation_job_id or "")
    stems = separation.stems if separation else {}
    if separation is None or not stems or not all(os.path.isfile(p) for p in stems.values()):
        raise HTTPProblem(410, "STEMS_REMOVED", f"the stems of job '{job.id}' were removed "
                          "from disk; submit the job again")
    completed = completed_event(separation, cached=True)
    try:
        spec = spec_for(job.options.output, completed)
    except OptionError as exc:
        raise HTTPProblem(409, "INVALID_FIELD", f"options: {exc}") from exc
    return await services.renditions.deliver(completed, spec), separation


@endpoint("The stems data as the `stems` callback carries it", tags=("jobs",),
          responses={200: JobStems, 202: JobPending, 404: None, 409: None, 410: None,
                     413: None})
async def get_stems(request: Request) -> Response:
    services = services_of(request)
    job = await _job_or_404(services, request.path_params["job_id"])
    try:
        result, separation = await _finished_stems(services, job)
    except HTTPProblem as problem:
        if problem.code != "NOT_READY":
            raise
        return JSONResponse({"job_id": job.id, "status": job.status.value, "stage": job.stage,
                             "progress": job.progress}, status_code=202)
    waveforms = await asyncio.to_thread(write_callback_waveforms, separation.output_dir,
                                        result, CALLBACK_ZOOM_LEVELS)
    data = stems_data(mode=job.delivery_mode, api_job_id=job.id, delivered=result,
                      model=separation.model, processing_time=separation.processing_time,
                      waveforms=waveforms)
    try:
        data = await asyncio.to_thread(inline_audio, data,
                                       services.settings.callback_inline_max_bytes)
    except InlineTooLargeError as exc:
        raise HTTPProblem(413, "CALLBACK_TOO_LARGE", str(exc)) from exc
    data = absolute_urls(data, public_base(request))
    # The waveforms (and callback mode's stems) are read from their files as the body is
    # sent, like the callback's: an hour's track is not held in memory.
    await services.jobs.touch(separation.id)
    return LeasedResponse(StreamingResponse(
        body_pieces({"job_id": job.id, "stage": "stems", "status": "completed", "data": data}),
        media_type="application/json"), services.leases, separation.id)


@endpoint("One stem's audio, in the job's output format", tags=("jobs",),
          responses={200: Media("audio/*", "The stem (wav, flac or mp3)"), 404: None,
                     409: None, 410: None})
async def get_stem_file(request: Request) -> Response:
    services = services_of(request)
    job = await _job_or_404(services, request.path_params["job_id"])
    result, separation = await _finished_stems(services, job)
    fmt = result.spec.format
    name = request.path_params["stem"].removesuffix(f".{fmt}")
    if name not in result.stems:
        raise HTTPProblem(404, "STEM_NOT_FOUND", f"job '{job.id}' has no stem '{name}'; it "
                          f"has {', '.join(result.stems)} (as .{fmt})")
    await services.jobs.touch(separation.id)
    return LeasedResponse(FileResponse(result.stems[name], media_type=MEDIA_TYPES[fmt],
                                       filename=f"{name}.{fmt}"), services.leases, separation.id)


@endpoint("All stems of a job as a zip (streamed)", tags=("jobs",),
          responses={200: Media("application/zip"), 404: None, 409: None, 410: None})
async def get_stems_zip(request: Request) -> Response:
    services = services_of(request)
    job = await _job_or_404(services, request.path_params["job_id"])
    result, separation = await _finished_stems(services, job)
    files = [(f"{name}.{result.spec.format}", Path(path)) for name, path in result.stems.items()]
    await services.jobs.touch(separation.id)
    return LeasedResponse(StreamingResponse(
        zip_files(files), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{job.id}-stems.zip"'}),
        services.leases, separation.id)


@endpoint("Cancel a job and remove its files", tags=("jobs",),
          responses={200: JobDeleted, 404: None})
async def delete_job(request: Request) -> JSONResponse:
    services = services_of(request)
    job = await _job_or_404(services, request.path_params["job_id"])
    cancelled = await services.api_jobs.cancel(job.id)
    assert cancelled is not None
    return JSONResponse({"job_id": job.id, "status": cancelled.status.value, "deleted": True})


@endpoint("Counts: jobs, API jobs, callbacks, tracks, queue, clients", tags=("health",),
          responses={200: Stats})
async def stats(request: Request) -> JSONResponse:
    services = services_of(request)
    return JSONResponse({
        "jobs": await services.jobs.count_by_state(),
        "api_jobs": await services.api_jobs.store.count_by_status(),
        "callbacks": await services.api_jobs.store.callback_counts(),
        "callback_attempts": services.callbacks.attempts,
        "callback_failures": services.callbacks.failures,
        "tracks": await services.library.store.count(),
        "queue": services.scheduler.snapshot(),
        "connected_clients": services.connected_clients,
        "uptime_seconds": round(time.time() - services.started_at, 1),
    })
