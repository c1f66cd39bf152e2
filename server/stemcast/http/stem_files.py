"""HTTP: stem files of a separation job by its id (the `jobId` of `stemsReady`).

`GET /api/stems/{job_id}/{stem}` and `GET /api/stems/{job_id}.zip` serve what the browser
page plays and downloads; `GET /api/tracks/{track_id}/stems` finds the newest finished
separation of a track, so a track can be opened again without separating it anew.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from stemcast.app.services import Services
from stemcast.cache.leases import LeasedResponse
from stemcast.delivery.zip_stream import zip_files
from stemcast.http.errors import HTTPProblem
from stemcast.http.tracks import services_of
from stemcast.jobs.models import Job, JobState

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9 ._()-]+")


def _files_present(stems: dict[str, str]) -> bool:
    return bool(stems) and all(os.path.isfile(p) for p in stems.values())


async def _completed_job(services: Services, job_id: str) -> Job:
    job = await services.jobs.get(job_id)
    if job is None:
        raise HTTPProblem(404, "JOB_NOT_FOUND", f"no separation job with id '{job_id}'")
    if job.state != JobState.COMPLETED:
        raise HTTPProblem(404, "STEMS_NOT_READY",
                          f"separation job '{job_id}' is {job.state.value}, not completed"
                          + (f": {job.error_message}" if job.error_message else ""))
    if not _files_present(job.stems):
        raise HTTPProblem(404, "STEMS_REMOVED", f"the stems of job '{job_id}' were removed "
                          "from disk; ask for the track's stems again to separate it anew")
    return job


def stem_urls(job: Job) -> dict[str, str]:
    return {name: f"/api/stems/{job.id}/{quote(name)}.wav" for name in job.stems}


async def get_job_stem(request: Request) -> Response:
    services = services_of(request)
    job = await _completed_job(services, request.path_params["job_id"])
    name = request.path_params["stem"].removesuffix(".wav")
    if name not in job.stems:
        raise HTTPProblem(404, "STEM_NOT_FOUND",
                          f"job '{job.id}' has no stem '{name}'; it has {', '.join(job.stems)}")
    await services.jobs.touch(job.id)
    return LeasedResponse(FileResponse(job.stems[name], media_type="audio/wav",
                                       filename=f"{name}.wav"), services.leases, job.id)


async def get_job_stems_zip(request: Request) -> Response:
    services = services_of(request)
    job = await _completed_job(services, request.path_params["job_id"])
    title = None
    if job.track_id:
        track = await services.library.get(job.track_id)
        title = track.title if track else None
    base = _UNSAFE_NAME.sub("_", title or "").strip(" ._") or job.id
    files = [(f"{name}.wav", Path(path)) for name, path in sorted(job.stems.items())]
    await services.jobs.touch(job.id)
    return LeasedResponse(StreamingResponse(
        zip_files(files), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{base}-stems.zip"'}),
        services.leases, job.id)


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
        "processingTime": job.processing_time,
        "finishedAt": job.finished_at,
    })
