"""HTTP: health and queue figures for operators and app servers."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from stemcast import __version__
from stemcast.http.auth import has_token
from stemcast.http.deps import services_of
from stemcast_protocol import ModelState


async def health(request: Request) -> JSONResponse:
    services = services_of(request)
    model = services.scheduler.catalog.status
    if not has_token(request.scope, services.settings.token):
        # Open to healthchecks without the token: alive and ready, nothing more (no worker
        # ids, queue contents or paths).
        return JSONResponse({"status": "ok", "ready": model.state == ModelState.READY})
    return JSONResponse({
        "status": "ok",
        "version": __version__,
        "ready": model.state == ModelState.READY,
        "model": {
            "name": model.name,
            "requested": model.requested,
            "choice": model.choice,
            "state": model.state,
            "error": model.error,
            "sources": list(model.sources),
            "sampleRate": model.sample_rate,
            "precision": model.precision,
            "segmentSeconds": model.segment_seconds,
            "repo": str(services.settings.model_repo) if services.settings.model_repo else None,
        },
        "models": model.offer(),
        "analysis": {"analysed": services.analysis.analysed,
                     "failed": services.analysis.failed},
        "device": model.device or services.settings.device,
        "queue": services.scheduler.snapshot(),
        "connectedClients": services.connected_clients,
        "uptimeSeconds": round(time.time() - services.started_at, 1),
    })


async def queue(request: Request) -> JSONResponse:
    services = services_of(request)
    # `workers`: the local worker processes, or the fleet's (serve --queue) with their
    # device, model, job and last heartbeat.
    return JSONResponse({"jobs": services.scheduler.queue_listing(),
                         "workers": services.scheduler.workers()})
