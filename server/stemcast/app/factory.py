"""The Starlette application: routes, and the lifespan that starts and stops services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from stemcast.analysis.drum_service import DrumTranscriber
from stemcast.analysis.service import AnalysisService
from stemcast.analysis.tasks import warm_up_analysis, warm_up_delivery
from stemcast.apijobs.service import ApiJobService
from stemcast.apijobs.store import ApiJobStore
from stemcast.app.services import Services
from stemcast.cache.leases import ReaderLeases
from stemcast.cache.pruner import CachePruner, Limits
from stemcast.config import Settings
from stemcast.cpu_pool import CpuPool
from stemcast.db.database import open_database
from stemcast.delivery.callbacks import CallbackDispatcher
from stemcast.delivery.renditions import Renditions
from stemcast.http.auth import TokenAuthMiddleware
from stemcast.http.errors import HTTPProblem, problem_response
from stemcast.http.jobs_api import (
    delete_job,
    get_job,
    get_stem_file,
    get_stems,
    get_stems_zip,
    stats,
    submit_job,
)
from stemcast.http.metrics import Metrics, metrics_endpoint
from stemcast.http.status import health, queue
from stemcast.http.stem_files import (
    get_job_stem,
    get_job_stems_zip,
    get_job_waveforms,
    get_track_drums,
    get_track_stems,
)
from stemcast.http.tracks import add_track, get_track, get_track_analysis, list_tracks
from stemcast.http.url_fetch import fetch_track
from stemcast.jobs.events import EventBus
from stemcast.jobs.scheduler import Scheduler
from stemcast.jobs.store import JobStore
from stemcast.library.library import TrackLibrary
from stemcast.library.tracks import TrackStore
from stemcast.logging_setup import RequestIdMiddleware
from stemcast.ws.engine_peer import EnginePeer
from stemcast.ws.session import ClientSession

log = logging.getLogger(__name__)


def web_root() -> Path:
    return Path(str(resources.files("stemcast_web") / "static"))


async def websocket_endpoint(websocket: WebSocket) -> None:
    await ClientSession(websocket, websocket.app.state.services).run()


async def handle_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc)


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.prepare_dirs()
        db = await open_database(settings.db_path)
        bus = EventBus()
        jobs = JobStore(db)
        library = TrackLibrary(TrackStore(db), settings.allowed_dirs)
        # Two CPU processes: background analysis never delays what a client waits for.
        analysis_pool = CpuPool(settings.numba_cache("analysis"))
        delivery_pool = CpuPool(settings.numba_cache("delivery"))
        analysis_pool.warm(warm_up_analysis)
        delivery_pool.warm(warm_up_delivery)
        analysis = AnalysisService(library.store, analysis_pool, settings.analysis_dir)
        library.listeners.append(analysis.request)
        await analysis.start()
        renditions = Renditions(delivery_pool, jobs)
        drums = DrumTranscriber(delivery_pool)
        scheduler = Scheduler(jobs, settings, bus)
        metrics = Metrics()
        scheduler.observer = metrics
        await scheduler.start()
        api_store = ApiJobStore(db)
        callbacks = CallbackDispatcher(api_store, retries=settings.callback_retries,
                                       retry_delay=settings.callback_retry_delay,
                                       timeout=settings.callback_timeout,
                                       public_url=settings.public_url)
        callbacks.start()
        api_jobs = ApiJobService(api_store, library, scheduler, settings, callbacks,
                                 analysis=analysis, renditions=renditions, drums=drums)
        await api_jobs.start()
        leases = ReaderLeases()
        pruner = CachePruner(jobs, Limits(settings.retention_hours, settings.cache_max_gb,
                                          settings.min_keep_minutes),
                             leases, interval_s=settings.prune_interval_s)
        pruner.start()  # prunes at once, then every --prune-interval-s
        services = Services(settings=settings, db=db, library=library, jobs=jobs, bus=bus,
                            scheduler=scheduler, api_jobs=api_jobs, callbacks=callbacks,
                            analysis=analysis, renditions=renditions, drums=drums,
                            leases=leases, pruner=pruner, metrics=metrics)
        app.state.services = services
        scan = asyncio.create_task(_scan_library(library, settings.library_dirs))
        engine = EnginePeer(settings.engine_url, services) if settings.engine_url else None
        if engine is not None:
            engine.start()  # dial the DJ engine, as Mismo's app server does
        log.info("stemcast ready on http://%s:%s (data in %s, model %s)", settings.host,
                 settings.port, settings.data_dir, settings.model)
        if settings.model == "auto":
            log.info("model auto: htdemucs if its weights are found (--model-repo, the "
                     "HuggingFace cache, or a download within %g s), else the weightless DSP "
                     "engine; the workers say which once loaded", settings.model_fetch_timeout)
        try:
            yield
        finally:
            scan.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scan
            if engine is not None:
                await engine.stop()
            await pruner.stop()
            await api_jobs.stop()
            await callbacks.stop()
            await scheduler.stop()
            await analysis.stop()
            analysis_pool.shutdown()
            delivery_pool.shutdown()
            await db.close()

    routes = [
        WebSocketRoute("/ws", websocket_endpoint),
        Route("/health", health),
        Route("/queue", queue),
        Route("/metrics", metrics_endpoint),
        Route("/api/tracks", add_track, methods=["POST"]),
        Route("/api/tracks", list_tracks, methods=["GET"]),
        # The browser page: fetch by URL, stems by separation job id, a track's last stems.
        Route("/api/tracks/fetch", fetch_track, methods=["POST"]),
        Route("/api/tracks/{track_id}/stems", get_track_stems),
        Route("/api/tracks/{track_id}/analysis", get_track_analysis),
        Route("/api/tracks/{track_id}/drums.mid", get_track_drums),
        Route("/api/tracks/{track_id}/onsets.json", get_track_drums),
        Route("/api/stems/{job_id}.zip", get_job_stems_zip),
        Route("/api/stems/{job_id}/waveforms", get_job_waveforms),
        Route("/api/stems/{job_id}/{stem}", get_job_stem),
        Route("/api/tracks/{track_id}", get_track),
        Route("/stats", stats),
        Route("/jobs", submit_job, methods=["POST"]),
        Route("/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/jobs/{job_id}", delete_job, methods=["DELETE"]),
        Route("/jobs/{job_id}/stems", get_stems),
        Route("/jobs/{job_id}/stems.zip", get_stems_zip),
        Route("/jobs/{job_id}/stems/{stem}", get_stem_file),
        Mount("/", StaticFiles(directory=web_root(), html=True), name="web"),
    ]
    middleware = [Middleware(TokenAuthMiddleware, token=settings.token)] if settings.token \
        else []
    middleware.insert(0, Middleware(RequestIdMiddleware))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={HTTPProblem: handle_problem},
    )


async def _scan_library(library: TrackLibrary, folders: list[Path]) -> None:
    if not folders:
        return
    count = await library.scan(folders)
    log.info("library scan: %d audio file(s) in %s", count, ", ".join(map(str, folders)))
