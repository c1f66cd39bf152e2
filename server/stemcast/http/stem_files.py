"""HTTP: stem files of a separation job by its id (the `jobId` of `stemsReady`).

`GET /api/stems/{job_id}/{stem}` and `GET /api/stems/{job_id}.zip` serve what the browser
page plays and downloads, in any output the job can give (query `format`, `sampleRate`,
`bitDepth`, `bitrate`, `variant`, as in getTrackInfo); `.../waveforms` their peaks;
`GET /api/tracks/{track_id}/stems` finds the newest finished separation of a track, so a
track can be opened again without separating it anew; `.../drums.mid` and
`.../onsets.json` its drum transcription.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from stemcast.analysis.drum_service import drums_folder
from stemcast.analysis.tasks import DRUMS_MIDI, ONSETS_JSON
from stemcast.cache.leases import LeasedResponse
from stemcast.delivery.renditions import ALL_ZOOM_LEVELS, Delivered, spec_for, waveform_texts
from stemcast.delivery.zip_stream import zip_files
from stemcast.http.api_meta import Media, Query, endpoint
from stemcast.http.api_types import JobWaveforms, TrackStems
from stemcast.http.deps import HttpDeps as Services
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem
from stemcast.jobs.models import Job, JobState
from stemcast.jobs.submission import completed_event
from stemcast.storage.folder_cache import read_manifest
from stemcast_protocol import OptionError, parse_output_options

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}

# The output options of getTrackInfo, as query parameters (PROTOCOL.md 3.5).
OUTPUT_QUERY = (Query("format", "wav, flac or mp3"),
                Query("sampleRate", "44100 or 48000", "integer"),
                Query("bitDepth", "16, 24 or 32", "integer"),
                Query("bitrate", "mp3 kbit/s", "integer"),
                Query("variant", "e.g. 2stems"))

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9 ._()-]+")


def safe_file_name(title: str | None) -> str:
    """A title fit for a Content-Disposition file name ("" when nothing is left)."""
    return _UNSAFE_NAME.sub("_", title or "").strip(" ._")


def _files_present(stems: dict[str, str]) -> bool:
    return bool(stems) and all(os.path.isfile(p) for p in stems.values())


async def completed_job(services: Services, job_id: str) -> Job:
    job = await services.jobs.get(job_id)
    if job is None:
        raise HTTPProblem(404, "JOB_NOT_FOUND", f"no separation job with id '{job_id}'")
    # 409 NOT_READY as on /jobs/*: the job is there, its stems are not (yet).
    if job.state.is_live:
        raise HTTPProblem(409, "NOT_READY", f"separation job '{job_id}' is {job.state.value}; "
                          "its stems are served once stemsReady says so")
    if job.state != JobState.COMPLETED:
        raise HTTPProblem(409, "NO_STEMS", f"separation job '{job_id}' is {job.state.value} "
                          "and made no stems"
                          + (f": {job.error_message}" if job.error_message else ""))
    if not _files_present(job.stems):
        raise HTTPProblem(404, "STEMS_REMOVED", f"the stems of job '{job_id}' were removed "
                          "from disk; ask for the track's stems again to separate it anew")
    return job


def stem_urls(job: Job) -> dict[str, str]:
    return {name: f"/api/stems/{job.id}/{quote(name)}.wav" for name in job.stems}


async def delivered(request: Request, services: Services, job: Job,
                    levels: tuple[int, ...] = ()) -> Delivered:
    """The job's stems in the output the query asks for (rendered once, then cached),
    with their waveform peaks at `levels`."""
    query = request.query_params
    try:
        output = parse_output_options(query.get, camel=True)
        spec = spec_for(output, completed_event(job, cached=True))
    except OptionError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", f"query {exc}") from exc
    return await services.renditions.deliver(completed_event(job, cached=True), spec, levels)


@endpoint("A stem of a separation job (the jobId of stemsReady), in any output",
          tags=("stems",), query=OUTPUT_QUERY,
          responses={200: Media("audio/*", "The stem (wav, flac or mp3)"), 404: None,
                     409: None, 422: None})
async def get_job_stem(request: Request) -> Response:
    services = services_of(request)
    job = await completed_job(services, request.path_params["job_id"])
    name, _, extension = request.path_params["stem"].partition(".")
    result = await delivered(request, services, job)
    if name not in result.stems:
        raise HTTPProblem(404, "STEM_NOT_FOUND",
                          f"job '{job.id}' has no stem '{name}' in this output; it has "
                          f"{', '.join(result.stems)}")
    fmt = result.spec.format
    if extension and extension != fmt:
        raise HTTPProblem(404, "STEM_NOT_FOUND", f"'{name}.{extension}' is not made here: "
                          f"ask for '{name}.{fmt}', or add ?format={extension}")
    await services.jobs.touch(job.id)
    return LeasedResponse(FileResponse(result.stems[name], media_type=MEDIA_TYPES[fmt],
                                       filename=f"{name}.{fmt}"), services.leases, job.id)


@endpoint("Peaks of the mix and every stem", tags=("stems",),
          query=(*OUTPUT_QUERY, Query("zoom", "one zoom level (1, 2, 3)", "integer")),
          responses={200: JobWaveforms, 404: None, 409: None, 422: None})
async def get_job_waveforms(request: Request) -> Response:
    """Peaks of the mix and every stem of the output asked for; ?zoom=N for one level."""
    services = services_of(request)
    job = await completed_job(services, request.path_params["job_id"])
    zoom = request.query_params.get("zoom")
    levels: tuple[int, ...] = ALL_ZOOM_LEVELS
    if zoom is not None:
        if not zoom.isdigit() or int(zoom) not in ALL_ZOOM_LEVELS:
            raise HTTPProblem(422, "INVALID_FIELD", "query 'zoom' must be a zoom level (1, 2, 3)")
        levels = (int(zoom),)
    result = await delivered(request, services, job)

    def body() -> Iterator[bytes]:
        # The entries' text as the worker wrote it, one entry at a time: an hour's three
        # levels as Python lists and one JSON string were ~250 MB in the server process.
        yield b'{"jobId":' + json.dumps(job.id).encode() + b',"waveforms":['
        for index, text in enumerate(waveform_texts(job.output_dir, result, levels)):
            yield b"," + text if index else text
        yield b"]}"

    await services.jobs.touch(job.id)
    return LeasedResponse(StreamingResponse(body(), media_type="application/json"),
                          services.leases, job.id)


@endpoint("All stems of a separation job as a zip (streamed)", tags=("stems",),
          query=OUTPUT_QUERY,
          responses={200: Media("application/zip"), 404: None, 409: None, 422: None})
async def get_job_stems_zip(request: Request) -> Response:
    services = services_of(request)
    job = await completed_job(services, request.path_params["job_id"])
    title = None
    if job.track_id:
        track = await services.library.get(job.track_id)
        title = track.title if track else None
    base = safe_file_name(title) or job.id
    result = await delivered(request, services, job)
    files = [(f"{name}.{result.spec.format}", Path(path))
             for name, path in sorted(result.stems.items())]
    await services.jobs.touch(job.id)
    return LeasedResponse(StreamingResponse(
        zip_files(files), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{base}-stems.zip"'}),
        services.leases, job.id)


@endpoint("The newest finished separation of a track, with its stems' URLs",
          tags=("tracks",), responses={200: TrackStems, 404: None})
async def get_track_stems(request: Request) -> JSONResponse:
    """The newest completed separation of a track, with URLs of its stems."""
    services = services_of(request)
    track_id = request.path_params["track_id"]
    track = await services.library.get(track_id)
    if track is None:
        raise HTTPProblem(404, "TRACK_NOT_FOUND", f"no track with id '{track_id}'")
    job = await services.jobs.latest_completed_for_track(track.id, track.pcm_hash)
    if job is None or not _files_present(job.stems):
        raise HTTPProblem(404, "NO_STEMS", f"track '{track_id}' has no separated stems on "
                          "disk yet; ask for its stems to separate it")
    return JSONResponse({
        "trackId": track.id,
        "jobId": job.id,
        "model": job.model,
        "stems": stem_urls(job),
        "zip": f"/api/stems/{job.id}.zip",
        "waveforms": f"/api/stems/{job.id}/waveforms",
        "processingTime": job.processing_time,
        "finishedAt": job.finished_at,
    })


@endpoint("The drum transcription: onsets.json or drums.mid", tags=("tracks",),
          responses={200: Media("application/json or audio/midi"), 404: None})
async def get_track_drums(request: Request) -> Response:
    """The drum transcription (onsets.json or drums.mid) of the track's newest separation
    that has one; made when a request asks for `drums`."""
    services = services_of(request)
    track_id = request.path_params["track_id"]
    track = await services.library.get(track_id)
    if track is None:
        raise HTTPProblem(404, "TRACK_NOT_FOUND", f"no track with id '{track_id}'")
    manifest = None
    for job in await services.jobs.completed_for_track(track.id, track.pcm_hash):
        manifest = await asyncio.to_thread(read_manifest, drums_folder(job.output_dir))
        if manifest is not None:
            break
    if manifest is None:
        raise HTTPProblem(404, "NO_DRUMS", f"track '{track_id}' has no drum transcription "
                          "yet; ask for it with getTrackInfo {\"drums\": true} or a job with "
                          "options {\"drums\": true}")
    if request.url.path.endswith(".mid"):
        return FileResponse(manifest["files"]["midi"], media_type="audio/midi",
                            filename=f"{track.title or track.id}-{DRUMS_MIDI}")
    return FileResponse(manifest["files"]["onsets"], media_type="application/json",
                        filename=ONSETS_JSON)
