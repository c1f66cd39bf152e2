"""`GET /metrics` in the Prometheus text format.

One CollectorRegistry per app (never the global one), so several apps in one process
don't clash. Counters and histograms are fed by the scheduler's JobObserver hooks; live
figures (jobs by state and priority, queue, clients, cache size) are read at scrape time,
and so are the running totals the services keep (restarts, callbacks, removals,
renditions: counters named `_total`, app/metrics_totals.py).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from stemcast.app.metrics_totals import TotalsCollector
from stemcast.cache.retention import parse_time
from stemcast.http.api_meta import Media, endpoint
from stemcast.jobs.models import JobState
from stemcast.jobs.observer import JobObserver
from stemcast_protocol import ModelState, Priority

if TYPE_CHECKING:
    from stemcast.app.services import Services

_WAIT_BUCKETS = (0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_SEPARATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
_RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5, 10)



class Metrics(JobObserver):
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cache_requests = Counter(
            "stemcast_cache_requests", "Stem requests by how they were answered: hit "
            "(cached stems), joined (a live job), miss (a new separation)", ["result"],
            registry=r)
        self.jobs_started = Counter("stemcast_jobs_started", "Jobs handed to a worker",
                                    ["priority"], registry=r)
        self.jobs_finished = Counter("stemcast_jobs_finished", "Jobs that ended",
                                     ["state", "priority"], registry=r)
        self.queue_wait = Histogram("stemcast_queue_wait_seconds",
                                    "Time from submission to a worker", ["priority"],
                                    buckets=_WAIT_BUCKETS, registry=r)
        self.separation_time = Histogram("stemcast_separation_seconds",
                                         "Processing time of completed jobs",
                                         buckets=_SEPARATION_BUCKETS, registry=r)
        self.realtime_factor = Histogram("stemcast_realtime_factor",
                                         "Processing seconds per second of audio",
                                         buckets=_RTF_BUCKETS, registry=r)
        self.jobs = Gauge("stemcast_jobs", "Jobs in the database by state and priority",
                          ["state", "priority"], registry=r)
        self.queue_length = Gauge("stemcast_queue_length", "Jobs waiting", registry=r)
        self.running = Gauge("stemcast_jobs_running", "Jobs on a worker now", registry=r)
        self.clients = Gauge("stemcast_connected_clients", "Open WebSocket sessions",
                             registry=r)
        # `serve --queue`: the fleet's workers by state, and how long ago each one last
        # heartbeat (a worker missing for long is dead; its job goes to another).
        self.fleet_workers = Gauge("stemcast_fleet_workers", "Fleet workers by state",
                                   ["state"], registry=r)
        self.fleet_heartbeat_age = Gauge("stemcast_fleet_heartbeat_age_seconds",
                                         "Seconds since a fleet worker's last heartbeat",
                                         ["worker", "device", "model"], registry=r)
        self.cache_bytes = Gauge("stemcast_cache_bytes",
                                 "Bytes of stems in the cache (at the last prune)", registry=r)
        self.cache_entries = Gauge("stemcast_cache_entries",
                                   "Completed jobs in the cache (at the last prune)",
                                   registry=r)
        self.cache_readers = Gauge("stemcast_cache_open_downloads",
                                   "Stem downloads being sent now", registry=r)
        self.model_ready = Gauge("stemcast_model_ready", "1 when the model is loaded",
                                 registry=r)
        self.uptime = Gauge("stemcast_uptime_seconds", "Seconds since start", registry=r)
        for result in ("hit", "joined", "miss"):
            self.cache_requests.labels(result)
        # Running totals the services keep: counters read at scrape time.
        self.totals = TotalsCollector()
        r.register(self.totals)

    # JobObserver ---------------------------------------------------------------------

    def cache_lookup(self, result: str) -> None:
        self.cache_requests.labels(result).inc()

    def job_started(self, priority: Priority, created_at: str) -> None:
        self.jobs_started.labels(priority.value).inc()
        wait = time.time() - parse_time(created_at)
        self.queue_wait.labels(priority.value).observe(max(0.0, wait))

    def job_finished(self, state: JobState, priority: Priority,
                     processing_time: float | None = None,
                     duration: float | None = None) -> None:
        self.jobs_finished.labels(state.value, priority.value).inc()
        if state == JobState.COMPLETED and processing_time is not None:
            self.separation_time.observe(processing_time)
            if duration:
                self.realtime_factor.observe(processing_time / duration)

    # scrape ----------------------------------------------------------------------------

    async def refresh(self, services: Services) -> None:
        self.totals.services = services
        counts = await services.jobs.count_by_state_priority()
        for state in JobState:
            for priority in Priority:
                self.jobs.labels(state.value, priority.value).set(
                    counts.get((state.value, priority.value), 0))
        snapshot = services.scheduler.snapshot()
        self.queue_length.set(_number(snapshot.get("queued")))
        self.running.set(_number(snapshot.get("running")))
        self.clients.set(services.connected_clients)
        self._fleet(services.scheduler.pool.describe())
        if services.pruner is not None:
            stats = services.pruner.stats
            self.cache_bytes.set(stats.cache_bytes)
            self.cache_entries.set(stats.cache_entries)
        self.cache_readers.set(len(services.leases.active()))
        model_state = services.scheduler.catalog.status.state
        self.model_ready.set(1 if model_state == ModelState.READY else 0)
        self.uptime.set(time.time() - services.started_at)


    def _fleet(self, workers: list[dict[str, object]]) -> None:
        if not workers or "heartbeatAgeS" not in workers[0]:
            return  # local worker processes: no fleet
        self.fleet_workers.clear()
        self.fleet_heartbeat_age.clear()
        for worker in workers:
            self.fleet_workers.labels(str(worker["state"])).inc()
            self.fleet_heartbeat_age.labels(str(worker["name"]), str(worker["device"]),
                                            str(worker["model"])).set(
                _number(worker["heartbeatAgeS"]))


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


@endpoint("Prometheus metrics (text exposition format)", tags=("health",),
          responses={200: Media(CONTENT_TYPE_LATEST)})
async def metrics_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    metrics = services.metrics
    await metrics.refresh(services)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
