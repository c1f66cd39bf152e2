"""The long-lived parts of a running server, built in the lifespan; each front door gets
only the parts it uses (HttpDeps, SessionDeps), never this whole bundle."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiosqlite

from stemcast.analysis.drum_service import DrumTranscriber
from stemcast.analysis.service import AnalysisService
from stemcast.apijobs.callbacks import CallbackDispatcher
from stemcast.apijobs.service import ApiJobService
from stemcast.app.metrics import Metrics
from stemcast.cache.leases import ReaderLeases
from stemcast.cache.pruner import CachePruner
from stemcast.config import Settings
from stemcast.delivery.renditions import Renditions
from stemcast.http.deps import HttpDeps
from stemcast.jobs.events import EventBus
from stemcast.jobs.scheduler import Scheduler
from stemcast.jobs.store import JobStore
from stemcast.library.library import TrackLibrary
from stemcast.requests import StemsPipeline
from stemcast.ws.session import ConnectedClients, SessionDeps


@dataclass
class Services:
    settings: Settings
    db: aiosqlite.Connection
    library: TrackLibrary
    jobs: JobStore
    bus: EventBus
    scheduler: Scheduler
    api_jobs: ApiJobService
    callbacks: CallbackDispatcher
    analysis: AnalysisService
    renditions: Renditions
    drums: DrumTranscriber
    pipeline: StemsPipeline
    started_at: float = field(default_factory=time.time)
    clients: ConnectedClients = field(default_factory=ConnectedClients)
    leases: ReaderLeases = field(default_factory=ReaderLeases)
    pruner: CachePruner | None = None
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def connected_clients(self) -> int:
        return self.clients.count

    def for_http(self) -> HttpDeps:
        return HttpDeps(settings=self.settings, library=self.library, jobs=self.jobs,
                        scheduler=self.scheduler, api_jobs=self.api_jobs, callbacks=self.callbacks,
                        analysis=self.analysis, renditions=self.renditions,
                        leases=self.leases, clients=lambda: self.clients.count,
                        started_at=self.started_at)

    def for_sessions(self) -> SessionDeps:
        return SessionDeps(library=self.library, analysis=self.analysis,
                           pipeline=self.pipeline, configured_model=self.settings.model,
                           clients=self.clients)
