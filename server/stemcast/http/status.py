"""HTTP: health and queue figures for operators and app servers.

`/health/live` and `/health/ready` are the probes of load balancers and Kubernetes: live
is 200 while the process answers at all; ready is 503 (`NOT_READY`) until a worker has the
default model loaded, then 200. `/health` (always 200, `ready` in its body) stays for the
seeds' app servers.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from stemcast import __version__
from stemcast.http.api_meta import endpoint
from stemcast.http.api_types import Health, Live, QueueListing, Ready
from stemcast.http.auth import has_token
from stemcast.http.deps import services_of
from stemcast.http.errors import HTTPProblem, problem_response
from stemcast_protocol import ModelState


@endpoint("Alive, ready, and (with the token) the model, device and queue", tags=("health",),
          responses={200: Health})
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


@endpoint("Jobs running and waiting, running first", tags=("health",),
          responses={200: QueueListing})
async def queue(request: Request) -> JSONResponse:
    services = services_of(request)
    # `workers`: the local worker processes, or the fleet's (serve --queue) with their
    # device, model, job and last heartbeat.
    return JSONResponse({"jobs": services.scheduler.queue_listing(),
                         "workers": services.scheduler.workers()})


@endpoint("Liveness probe: 200 while the process serves", tags=("health",),
          responses={200: Live})
async def health_live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@endpoint("Readiness probe: 503 NOT_READY until a worker has the model loaded",
          tags=("health",), responses={200: Ready, 503: None})
async def health_ready(request: Request) -> Response:
    model = services_of(request).scheduler.catalog.status
    if model.state != ModelState.READY:
        # Says only the state: the probe is open without the token, like /health.
        return problem_response(HTTPProblem(
            503, "NOT_READY", f"no worker is ready yet (model {model.state.value}); "
            "GET /health with the token says why"), headers={"Retry-After": "5"})
    return JSONResponse({"status": "ok", "ready": True})
