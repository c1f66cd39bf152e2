"""HTTP: the library as the page browses it (one row per audio, search, sort) and
removing a track. Bodies are TypedDicts so that the API description can name them."""

from __future__ import annotations

from typing import Any, TypedDict

from starlette.requests import Request
from starlette.responses import JSONResponse

from stemcast.cache.track_removal import TrackInUseError, remove_track
from stemcast.delivery.outputs import variant_plan
from stemcast.http.api_meta import Query, endpoint
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem
from stemcast.jobs.models import Job
from stemcast.library.listing import LibraryQuery, ListingError, Separation, build_rows
from stemcast_protocol.options import OptionError

# The variants a separation can be opened as, in the page's order.
_LAYOUTS = ("6stems", "4stems", "2stems", "2stems-drums")


class SeparationBody(TypedDict):
    jobId: str
    model: str
    state: str  # completed | queued | running
    stems: list[str]  # the master stems the job wrote
    layouts: list[str]  # variants it can be opened as: 6stems, 4stems, 2stems, 2stems-drums
    finishedAt: str | None


class LibraryListBody(TypedDict):
    """GET /api/tracks: one row per audio; each row is a track (as GET /api/tracks/{id})
    with `trackIds` (every track of that audio) and `separations` (SeparationBody)."""

    tracks: list[dict[str, Any]]
    query: dict[str, Any]  # the q, sort, order and limit applied


class TrackRemovedBody(TypedDict):
    success: bool
    trackId: str
    stemsRemoved: list[str]  # separation job ids whose stems were deleted
    fileRemoved: bool  # the uploaded file was deleted (files in your folders are kept)


def _layouts(stems: list[str]) -> tuple[str, ...]:
    found = []
    for variant in _LAYOUTS:
        try:
            variant_plan("2stems-vocals" if variant == "2stems" else variant, stems)
        except OptionError:
            continue
        found.append(variant)
    return tuple(found)


def _separation(job: Job) -> Separation:
    stems = list(job.stems)
    return Separation(job_id=job.id, model=job.model, state=job.state.value,
                      stems=tuple(stems), layouts=_layouts(stems) if stems else (),
                      finished_at=job.finished_at, pcm_hash=job.pcm_hash,
                      track_id=job.track_id)


@endpoint("The library: one row per audio, with its separations", tags=("tracks",),
          responses={200: LibraryListBody, 422: None},
          query=(Query("q", "search in titles and file names"),
                 Query("sort", "added, title, duration, bpm or key"),
                 Query("order", "asc or desc"),
                 Query("limit", "1 to 1000 (default 200)", "integer")))
async def list_library(request: Request) -> JSONResponse:
    """?q= search in titles and file names, ?sort=added|title|duration|bpm|key,
    ?order=asc|desc, ?limit=1..1000 (default 200)."""
    services = services_of(request)
    try:
        query = LibraryQuery.parse(dict(request.query_params))
    except ListingError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", str(exc)) from exc
    tracks = await services.library.all_tracks()
    separations = [_separation(j) for j in await services.jobs.separations()]
    rows = build_rows(tracks, separations, query)
    body: LibraryListBody = {
        "tracks": [row.to_api() for row in rows],
        "query": {"q": query.q, "sort": query.sort, "order": query.order,
                  "limit": query.limit}}
    return JSONResponse(body)


@endpoint("Remove a track, its cues, analysis and (if unshared) its stems",
          tags=("tracks",), responses={200: TrackRemovedBody, 404: None, 409: None})
async def delete_track(request: Request) -> JSONResponse:
    """Removes the track, its cues and analysis, its uploaded file, and its stems when no
    other track has the same audio. 409 JOB_RUNNING / STEMS_IN_USE while in use."""
    services = services_of(request)
    track_id = request.path_params["track_id"]
    track = await services.library.get(track_id)
    if track is None:
        raise HTTPProblem(404, "TRACK_NOT_FOUND", f"no track with id '{track_id}'")
    try:
        removed = await remove_track(track, library=services.library,
                                     scheduler=services.scheduler, leases=services.leases,
                                     analysis_dir=services.settings.analysis_dir,
                                     uploads_dir=services.settings.uploads_dir)
    except TrackInUseError as exc:
        raise HTTPProblem(409, exc.code, str(exc)) from exc
    body: TrackRemovedBody = {"success": True, "trackId": removed.track_id,
                              "stemsRemoved": list(removed.stems_removed),
                              "fileRemoved": removed.file_removed}
    return JSONResponse(body)
