"""HTTP: a track's hot cues (eight pads), read and written by the page or an app.

GET /api/tracks/{id}/cues, PUT (all at once) and DELETE (all); GET, PUT and DELETE
/api/tracks/{id}/cues/{index} for one pad. Engines get the same list as `hotCues` in
trackInfo and trackAnalysis.
"""

from __future__ import annotations

import json
from typing import Any, NotRequired, TypedDict

from starlette.requests import Request
from starlette.responses import JSONResponse

from stemcast.http.api_meta import endpoint
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem
from stemcast.library.cues import CUE_SLOTS, CueError, HotCue, check_index, parse_cue
from stemcast.library.tracks import Track


class HotCueBody(TypedDict):
    """One pad's cue, in requests and replies (and in trackInfo's hotCues)."""

    index: int  # 0..7; taken from the URL on PUT /cues/{index}
    position: float  # seconds
    isLoop: NotRequired[bool]  # default false
    loopEnd: NotRequired[float]  # seconds, after position; only (and required) on loops
    name: NotRequired[str]  # at most 100 characters
    color: NotRequired[str]  # "#rrggbb"


class CueListBody(TypedDict):
    trackId: str
    hotCues: list[HotCueBody]


async def _track(request: Request) -> Track:
    track_id = request.path_params["track_id"]
    track = await services_of(request).library.get(track_id)
    if track is None:
        raise HTTPProblem(404, "TRACK_NOT_FOUND", f"no track with id '{track_id}'")
    return track


def _index(request: Request) -> int:
    try:
        return check_index(request.path_params["index"])
    except CueError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", str(exc)) from exc


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, "BAD_JSON", f"the body is not valid JSON: {exc}") from exc


async def _listing(request: Request, track: Track) -> JSONResponse:
    cues = await services_of(request).library.cues.for_track(track.id)
    body = {"trackId": track.id, "hotCues": [cue.to_api() for cue in cues]}
    return JSONResponse(body)


@endpoint("A track's hot cues", tags=("cues",), responses={200: CueListBody, 404: None})
async def get_cues(request: Request) -> JSONResponse:
    return await _listing(request, await _track(request))


@endpoint("Replace all of a track's hot cues", tags=("cues",), request=CueListBody,
          responses={200: CueListBody, 400: None, 404: None, 422: None})
async def put_cues(request: Request) -> JSONResponse:
    """Replaces all the track's cues with {"hotCues": [cue, ...]} (each with its index)."""
    track = await _track(request)
    body = await _json(request)
    if not isinstance(body, dict) or not isinstance(body.get("hotCues"), list):
        raise HTTPProblem(422, "MISSING_FIELD", "send {\"hotCues\": [{\"index\": 0, "
                          "\"position\": 12.5}, ...]} (an empty list removes them all)")
    cues: list[HotCue] = []
    for number, item in enumerate(body["hotCues"]):
        try:
            cues.append(parse_cue(item, track.duration_seconds))
        except CueError as exc:
            raise HTTPProblem(422, "INVALID_FIELD", f"hotCues[{number}]: {exc}") from exc
    indexes = [cue.index for cue in cues]
    if len(set(indexes)) != len(indexes) or len(cues) > CUE_SLOTS:
        raise HTTPProblem(422, "INVALID_FIELD", "hotCues names a pad twice: one cue per "
                          "index, 0 to 7")
    await services_of(request).library.cues.replace_all(track.id, cues)
    return await _listing(request, track)


@endpoint("Remove all of a track's hot cues", tags=("cues",),
          responses={200: CueListBody, 404: None})
async def delete_cues(request: Request) -> JSONResponse:
    track = await _track(request)
    await services_of(request).library.cues.delete(track.id)
    return await _listing(request, track)


@endpoint("One hot cue (pad 0-7)", tags=("cues",), responses={200: HotCueBody, 404: None})
async def get_cue(request: Request) -> JSONResponse:
    track = await _track(request)
    index = _index(request)
    for cue in await services_of(request).library.cues.for_track(track.id):
        if cue.index == index:
            return JSONResponse(cue.to_api())
    raise HTTPProblem(404, "CUE_NOT_FOUND", f"pad {index} of this track has no cue; "
                      f"set one with PUT /api/tracks/{track.id}/cues/{index}")


@endpoint("Set one hot cue (pad 0-7)", tags=("cues",), request=HotCueBody,
          responses={200: HotCueBody, 400: None, 404: None, 422: None})
async def put_cue(request: Request) -> JSONResponse:
    track = await _track(request)
    index = _index(request)
    try:
        cue = parse_cue(await _json(request), track.duration_seconds, index)
    except CueError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", str(exc)) from exc
    await services_of(request).library.cues.put(track.id, cue)
    return JSONResponse(cue.to_api())


@endpoint("Remove one hot cue", tags=("cues",), responses={200: CueListBody, 404: None})
async def delete_cue(request: Request) -> JSONResponse:
    track = await _track(request)
    index = _index(request)
    if not await services_of(request).library.cues.delete(track.id, index):
        raise HTTPProblem(404, "CUE_NOT_FOUND", f"pad {index} of this track has no cue")
    return await _listing(request, track)
