"""The Starlette application: routes, and the lifespan that starts and stops services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from stemcast.analysis.drum_service import DrumTranscriber
from stemcast.analysis.service import AnalysisService
from stemcast.analysis.tasks import warm_up_analysis, warm_up_delivery
from stemcast.apijobs.callbacks import CallbackDispatcher
from stemcast.apijobs.service import ApiJobService
from stemcast.apijobs.store import ApiJobStore
from stemcast.app.metrics import Metrics, metrics_endpoint
from stemcast.app.services import Services
from stemcast.audio.decode import set_decode_limit
from stemcast.cache.leases import ReaderLeases
from stemcast.cache.pruner import CachePruner, Limits
from stemcast.config import Settings
from stemcast.cpu_pool import CpuPool
from stemcast.db.busy import DatabaseBusyError
from stemcast.db.database import open_database
from stemcast.delivery.renditions import Renditions
from stemcast.fleet.local_nodes import LocalNodes
from stemcast.fleet.remote_pool import fleet_transport
from stemcast.http.auth import TokenAuthMiddleware
from stemcast.http.errors import HTTPProblem, handle_http_exception, problem_response
from stemcast.http.fault_responses import handle_unexpected
from stemcast.http.routes import http_routes
from stemcast.http.security_stack import security_middleware
from stemcast.jobs.events import EventBus
from stemcast.jobs.scheduler import Scheduler
from stemcast.jobs.store import JobStore
from stemcast.library.library import TrackLibrary
from stemcast.library.tracks import TrackStore
from stemcast.logging_setup import RequestIdMiddleware
from stemcast.net.webhooks import WebhookSigner
from stemcast.requests import StemsPipeline
from stemcast.storage.job_objects import use_store
from stemcast.storage.store import open_store
from stemcast.storage.store_record import record_store
from stemcast.ws.engine_peer import EnginePeer
from stemcast.ws.session import ClientSession

log = logging.getLogger(__name__)


def web_root() -> Path:
    return Path(str(resources.files("stemcast_web") / "static"))


async def websocket_endpoint(websocket: WebSocket) -> None:
    await ClientSession(websocket, websocket.app.state.sessions).run()


async def handle_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc)


def create_app(settings: Settings) -> Starlette:
    set_decode_limit(settings.max_duration_s)  # before any worker process is started
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.prepare_dirs()
        db = await open_database(settings.db_path, settings.db_busy_timeout_s)
        bus = EventBus()
        jobs = JobStore(db, settings.db_busy_timeout_s)
        library = TrackLibrary(TrackStore(db), settings.allowed_dirs)
        # Two CPU processes: background analysis never delays what a client waits for.
        analysis_pool = CpuPool(settings.numba_cache("analysis"), log_settings=settings.log,
                                role="analysis")
        delivery_pool = CpuPool(settings.numba_cache("delivery"), log_settings=settings.log,
                                role="delivery")
        analysis_pool.warm(warm_up_analysis)
        delivery_pool.warm(warm_up_delivery)
        analysis = AnalysisService(library.store, analysis_pool, settings.analysis_dir)
        library.listeners.append(analysis.request)
        await analysis.start()
        renditions = Renditions(delivery_pool, jobs)
        drums = DrumTranscriber(delivery_pool)
        # With --storage, deleting a job's files deletes its objects in the store too.
        use_store(open_store(settings.storage_url, settings.storage_endpoint)
                  if settings.storage_url else None)
        if settings.storage_url:  # for an offline `stemcast cache clear` (store_record.py)
            record_store(settings.data_dir, settings.storage_url, settings.storage_endpoint)
        scheduler = Scheduler(jobs, settings, bus, transport=fleet_transport(settings)
                              if settings.queue_url else None)
        metrics = Metrics()
        scheduler.observer = metrics
        pipeline = StemsPipeline(scheduler, library, renditions, drums,
                                 max_duration_s=settings.max_duration_s)
        # A job whose audio changed is asked again through the pipeline, like any request.
        scheduler.audio_changes.ask_again = pipeline.ask_again
        await scheduler.start()
        # `serve --queue --workers N`: this server's own nodes of the fleet.
        nodes = LocalNodes(settings) if settings.queue_url and settings.workers else None
        if nodes is not None:
            nodes.start()
        api_store = ApiJobStore(db)
        callbacks = CallbackDispatcher(api_store, retries=settings.callback_retries,
                                       retry_delay=settings.callback_retry_delay,
                                       timeout=settings.callback_timeout,
                                       policy=settings.callback_policy(),
                                       inline_max_bytes=settings.callback_inline_max_bytes,
                                       public_url=settings.public_url,
                                       signer=WebhookSigner(settings.callback_secret),
                                       # Bodies are spooled to unlinked files on the
                                       # data disk, not /tmp (which may be small tmpfs).
                                       spool_dir=settings.data_dir)
        callbacks.start()
        api_jobs = ApiJobService(api_store, library, pipeline, scheduler, callbacks,
                                 analysis=analysis)
        await api_jobs.start()
        leases = ReaderLeases()
        pruner = CachePruner(jobs, Limits(settings.retention_hours, settings.cache_max_gb,
                                          settings.min_keep_minutes),
                             leases, interval_s=settings.prune_interval_s)
        pruner.start()  # prunes at once, then every --prune-interval-s
        services = Services(settings=settings, db=db, library=library, jobs=jobs, bus=bus,
                            scheduler=scheduler, api_jobs=api_jobs, callbacks=callbacks,
                            analysis=analysis, renditions=renditions, drums=drums,
                            pipeline=pipeline,
                            leases=leases, pruner=pruner, metrics=metrics)
        app.state.services = services  # the app's own: /metrics, shutdown
        app.state.http = services.for_http()
        app.state.sessions = services.for_sessions()
        scan = asyncio.create_task(_scan_library(library, settings.library_dirs))
        engine = (EnginePeer(settings.engine_url, app.state.sessions)
                  if settings.engine_url else None)
        if engine is not None:
            engine.start()  # dial the DJ engine, as Mismo's app server does
        log.info("stemcast ready on http://%s:%s (data in %s, model %s)", settings.host,
                 settings.port, settings.data_dir, settings.model)
        if settings.model == "auto":
            log.info("model auto: htdemucs if its weights are on disk (--model-repo or the "
                     "HuggingFace cache), else the offline engine at once while htdemucs "
                     "downloads in the background; the workers say which once loaded")
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
            if nodes is not None:
                await nodes.stop()
            await scheduler.stop()
            await analysis.stop()
            analysis_pool.shutdown()
            delivery_pool.shutdown()
            await db.close()

    routes = [
        WebSocketRoute("/ws", websocket_endpoint),
        Route("/metrics", metrics_endpoint),
        *http_routes(),
        Mount("/", StaticFiles(directory=web_root(), html=True), name="web"),
    ]
    middleware = [Middleware(TokenAuthMiddleware, token=settings.token)] if settings.token \
        else []
    middleware[:0] = security_middleware(settings)
    middleware.insert(0, Middleware(RequestIdMiddleware))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        # Storage faults and bugs answer in the JSON error shape too (BUSY, DISK_FULL).
        exception_handlers={HTTPProblem: handle_problem, HTTPException: handle_http_exception,
                            sqlite3.Error: handle_unexpected,
                            DatabaseBusyError: handle_unexpected,
                            OSError: handle_unexpected, Exception: handle_unexpected},
    )


async def _scan_library(library: TrackLibrary, folders: list[Path]) -> None:
    if not folders:
        return
    count = await library.scan(folders)
    log.info("library scan: %d audio file(s) in %s", count, ", ".join(map(str, folders)))
