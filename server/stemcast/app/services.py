"""The long-lived parts of a running server, built in the lifespan and shared by routes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiosqlite

from stemcast.analysis.drum_service import DrumTranscriber
from stemcast.analysis.service import AnalysisService
from stemcast.apijobs.service import ApiJobService
from stemcast.cache.leases import ReaderLeases
from stemcast.cache.pruner import CachePruner
from stemcast.config import Settings
from stemcast.delivery.callbacks import CallbackDispatcher
from stemcast.delivery.renditions import Renditions
from stemcast.http.metrics import Metrics
from stemcast.jobs.events import EventBus
from stemcast.jobs.scheduler import Scheduler
from stemcast.jobs.store import JobStore
from stemcast.library.library import TrackLibrary
from stemcast.ws.subscription import Deliverers


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
    started_at: float = field(default_factory=time.time)
    connected_clients: int = 0
    leases: ReaderLeases = field(default_factory=ReaderLeases)
    pruner: CachePruner | None = None
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def deliverers(self) -> Deliverers:
        return Deliverers(self.renditions, self.drums, self._bpm_of)

    async def _bpm_of(self, track_id: str) -> float | None:
        track = await self.library.get(track_id)
        return track.bpm if track else None
