"""The HTTP routes, by concern (the app adds /ws, /metrics and the page)."""

from __future__ import annotations

from starlette.routing import Route

from stemcast.http.cues_api import (
    delete_cue,
    delete_cues,
    get_cue,
    get_cues,
    put_cue,
    put_cues,
)
from stemcast.http.jobs_api import (
    delete_job,
    get_job,
    get_stem_file,
    get_stems,
    get_stems_zip,
    stats,
    submit_job,
)
from stemcast.http.library_api import delete_track, list_library
from stemcast.http.mix_export import post_mix
from stemcast.http.openapi import docs_page, openapi_json
from stemcast.http.status import health, health_live, health_ready, queue
from stemcast.http.stem_files import (
    get_job_stem,
    get_job_stems_zip,
    get_job_waveforms,
    get_track_drums,
    get_track_stems,
)
from stemcast.http.tracks import add_track, get_track, get_track_analysis
from stemcast.http.url_fetch import fetch_track


def http_routes() -> list[Route]:
    return [*_status_routes(), *_track_routes(), *_stem_routes(), *_job_api_routes()]


def _status_routes() -> list[Route]:
    """For operators and app servers; the API's own description."""
    return [Route("/health", health), Route("/health/live", health_live),
            Route("/openapi.json", openapi_json), Route("/docs", docs_page),
            Route("/health/ready", health_ready), Route("/queue", queue),
            Route("/stats", stats)]


def _track_routes() -> list[Route]:
    """The browser page's tracks: by path, upload or URL; analysis, last stems, drums."""
    return [
        Route("/api/tracks", add_track, methods=["POST"]),
        Route("/api/tracks", list_library, methods=["GET"]),
        Route("/api/tracks/fetch", fetch_track, methods=["POST"]),
        Route("/api/tracks/{track_id}/stems", get_track_stems),
        Route("/api/tracks/{track_id}/analysis", get_track_analysis),
        Route("/api/tracks/{track_id}/drums.mid", get_track_drums),
        Route("/api/tracks/{track_id}/onsets.json", get_track_drums),
        *_cue_routes(),
        Route("/api/tracks/{track_id}", get_track, methods=["GET"]),
        Route("/api/tracks/{track_id}", delete_track, methods=["DELETE"]),
    ]


def _cue_routes() -> list[Route]:
    """A track's hot cues: all at once, or one pad (0-7)."""
    return [
        Route("/api/tracks/{track_id}/cues", get_cues, methods=["GET"]),
        Route("/api/tracks/{track_id}/cues", put_cues, methods=["PUT"]),
        Route("/api/tracks/{track_id}/cues", delete_cues, methods=["DELETE"]),
        Route("/api/tracks/{track_id}/cues/{index}", get_cue, methods=["GET"]),
        Route("/api/tracks/{track_id}/cues/{index}", put_cue, methods=["PUT"]),
        Route("/api/tracks/{track_id}/cues/{index}", delete_cue, methods=["DELETE"]),
    ]


def _stem_routes() -> list[Route]:
    """Stems by separation job id, as files, a zip, or waveform peaks."""
    return [
        Route("/api/stems/{job_id}.zip", get_job_stems_zip),
        Route("/api/stems/{job_id}/waveforms", get_job_waveforms),
        Route("/api/stems/{job_id}/mix", post_mix, methods=["POST"]),
        Route("/api/stems/{job_id}/{stem}", get_job_stem),
    ]


def _job_api_routes() -> list[Route]:
    """The seed job API (PROTOCOL.md section 8)."""
    return [
        Route("/jobs", submit_job, methods=["POST"]),
        Route("/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/jobs/{job_id}", delete_job, methods=["DELETE"]),
        Route("/jobs/{job_id}/stems", get_stems),
        Route("/jobs/{job_id}/stems.zip", get_stems_zip),
        Route("/jobs/{job_id}/stems/{stem}", get_stem_file),
    ]
