"""The long-lived parts of a running server, built in the lifespan and shared by routes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiosqlite

from stemcast.apijobs.service import ApiJobService
from stemcast.cache.leases import ReaderLeases
from stemcast.cache.pruner import CachePruner
from stemcast.config import Settings
from stemcast.delivery.callbacks import CallbackDispatcher
from stemcast.http.metrics import Metrics
from stemcast.jobs.events import EventBus
from stemcast.jobs.scheduler import Scheduler
from stemcast.jobs.store import JobStore
from stemcast.library.library import TrackLibrary


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
    started_at: float = field(default_factory=time.time)
    connected_clients: int = 0
    leases: ReaderLeases = field(default_factory=ReaderLeases)
    pruner: CachePruner | None = None
    metrics: Metrics = field(default_factory=Metrics)
