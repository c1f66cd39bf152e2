"""HTTP: POST /api/stems/{job_id}/mix, a custom mix of a separation's stems rendered on
the server (delivery/mix.py does the math) and sent back as a WAV or MP3 file.

The body names gains in dB per stem, mutes, a loop region, a tempo ratio and a key shift;
`variant` picks which stems the names mean (2stems: vocals and accompaniment). The
settings are checked here; the CPU pool renders the mix block by block into a file in
the job's folder (delivery/mix_file.py), which is sent and then removed. The folder is
leased from the render to the last byte sent, so the pruner leaves it alone.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import NotRequired, TypedDict

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from stemcast.cache.leases import LeasedResponse
from stemcast.delivery.mix import MixError, parse_settings
from stemcast.delivery.mix_file import render_mix_file
from stemcast.delivery.outputs import variant_plan
from stemcast.http.api_meta import Media, endpoint
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem
from stemcast.http.stem_files import MEDIA_TYPES, completed_job, safe_file_name
from stemcast.storage.job_folder import JobFolder
from stemcast_protocol.options import VARIANTS, OptionError


class LoopBody(TypedDict):
    start: float  # seconds
    end: float  # seconds, after start
    repeats: NotRequired[int]  # 1..64, default 1


class MixRequestBody(TypedDict, total=False):
    """POST /api/stems/{jobId}/mix. Every field may be left out (the plain sum)."""

    gains: dict[str, float]  # stem -> dB, -60..12 (0 when absent)
    mutes: list[str]  # stems left out
    loop: LoopBody  # only this region (repeated `repeats` times)
    tempo: float  # 0.5..2.0; 0.9 plays at 90% speed, pitch kept
    semitones: float  # key shift, -12..12
    format: str  # wav (16-bit, default) or mp3 (320 kbit/s)
    variant: str  # the stems the names mean: 4stems, 6stems, 2stems, 2stems-drums


@endpoint("Render the current mix of a job's stems (gains, mutes, loop, tempo, key)",
          tags=("stems",), request=MixRequestBody,
          responses={200: Media("audio/wav", "the mix as WAV or MP3 (audio/mpeg)"),
                     400: None, 404: None, 409: None, 422: None})
async def post_mix(request: Request) -> Response:
    services = services_of(request)
    job = await completed_job(services, request.path_params["job_id"])
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, "BAD_JSON", f"the body is not valid JSON: {exc}") from exc
    variant = body.get("variant") if isinstance(body, dict) else None
    if variant is not None and variant not in VARIANTS:
        raise HTTPProblem(422, "INVALID_FIELD", f"variant {str(variant)[:30]!r} must be one "
                          f"of {', '.join(VARIANTS)}, or left out for the job's own stems")
    try:
        plan = variant_plan("2stems-vocals" if variant == "2stems" else variant,
                            list(job.stems))
    except OptionError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", str(exc)) from exc
    paths = {name: tuple(job.stems[part] for part in parts) for name, parts in plan.items()}
    duration = job.duration_seconds or 0.0
    track = await services.library.get(job.track_id) if job.track_id else None
    if track is not None:
        duration = track.duration_seconds
    try:
        settings = parse_settings(body, list(paths), duration)
    except MixError as exc:
        raise HTTPProblem(422, "INVALID_FIELD", str(exc)) from exc
    target = JobFolder.of(job.output_dir).mix_export(f"{uuid.uuid4().hex}.{settings.format}")
    with services.leases.hold(job.id):
        try:
            await services.renditions.pool.run(render_mix_file, paths, settings, str(target))
        except MixError as exc:
            raise HTTPProblem(422, "INVALID_FIELD", str(exc)) from exc
    await services.jobs.touch(job.id)
    name = safe_file_name(track.title if track else None) or job.id
    sent = FileResponse(target, media_type=MEDIA_TYPES[settings.format],
                        background=BackgroundTask(Path.unlink, target, missing_ok=True),
                        headers={"Content-Disposition":
                                 f'attachment; filename="{name} (mix).{settings.format}"'})
    return LeasedResponse(sent, services.leases, job.id)
