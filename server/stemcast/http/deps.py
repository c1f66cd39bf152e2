"""What the HTTP routes may use, handed to them by the app at start (no service locator).

The app builds one `HttpDeps` in its lifespan and puts it on `app.state.http`; routes
read it with `services_of(request)`. Everything here is of a lower layer (application
and domain), so no route imports the app that wires it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from stemcast.analysis.service import AnalysisService
from stemcast.apijobs.callbacks import CallbackDispatcher
from stemcast.apijobs.service import ApiJobService
from stemcast.cache.leases import ReaderLeases
from stemcast.config import Settings
from stemcast.delivery.renditions import Renditions
from stemcast.jobs.scheduler import Scheduler
from stemcast.jobs.store import JobStore
from stemcast.library.library import TrackLibrary


@dataclass(frozen=True)
class HttpDeps:
    settings: Settings
    library: TrackLibrary
    jobs: JobStore  # separation job records (stems by job and track)
    scheduler: Scheduler  # read-only here: model status, /health and /queue figures
    api_jobs: ApiJobService
    callbacks: CallbackDispatcher  # its attempt and failure counts, for /stats
    analysis: AnalysisService
    renditions: Renditions
    leases: ReaderLeases  # files being read by a download: kept from the pruner
    clients: Callable[[], int]  # WebSocket clients connected now
    started_at: float

    @property
    def connected_clients(self) -> int:
        return self.clients()


def services_of(request: Request) -> HttpDeps:
    deps: HttpDeps = request.app.state.http
    return deps
