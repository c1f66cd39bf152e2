"""Running totals kept by the services themselves, exposed as Prometheus counters.

The worker pool, the callback dispatcher, the pruner, analysis and renditions each count
what they did since start; a Gauge set from those at scrape time would tell Prometheus
they may go down (so `rate()` and `increase()` would be wrong). This collector reads them
when scraped and yields counters: `stemcast_X_total`, as Prometheus names them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from stemcast.app.services import Services

# name (without _total) -> help; the labels of each are in collect().
TOTALS: dict[str, str] = {
    "stemcast_worker_restarts": "Worker processes restarted after dying",
    "stemcast_cpu_pool_restarts": "CPU processes (analysis, renditions) restarted after dying",
    "stemcast_callback_attempts": "Callback POSTs tried",
    "stemcast_callback_failures": "Callback POSTs that failed",
    "stemcast_cache_removed": "Cache entries removed, by reason",
    "stemcast_cache_removed_bytes": "Bytes removed from the cache",
    "stemcast_tracks_analysed": "Track analyses, by result",
    "stemcast_renditions": "Stem outputs rendered (formats, variants)",
    "stemcast_drum_transcriptions": "Drum transcriptions made",
}


class TotalsCollector(Collector):
    def __init__(self) -> None:
        self.services: Services | None = None  # set at the first scrape

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield from self._families().values()

    def collect(self) -> Iterator[CounterMetricFamily]:
        values = self._families()
        services = self.services
        if services is not None:
            pool = services.scheduler.pool
            values["stemcast_worker_restarts"].add_metric([], pool.restarts)
            values["stemcast_cpu_pool_restarts"].add_metric(
                [], services.analysis.pool.restarts + services.renditions.pool.restarts)
            values["stemcast_callback_attempts"].add_metric([], services.callbacks.attempts)
            values["stemcast_callback_failures"].add_metric([], services.callbacks.failures)
            stats = services.pruner.stats if services.pruner is not None else None
            for reason in ("age", "size"):
                values["stemcast_cache_removed"].add_metric(
                    [reason], stats.removed.get(reason, 0) if stats else 0)
            values["stemcast_cache_removed_bytes"].add_metric(
                [], stats.removed_bytes if stats else 0)
            values["stemcast_tracks_analysed"].add_metric(["done"], services.analysis.analysed)
            values["stemcast_tracks_analysed"].add_metric(["failed"], services.analysis.failed)
            values["stemcast_renditions"].add_metric([], services.renditions.rendered)
            values["stemcast_drum_transcriptions"].add_metric([], services.drums.transcribed)
        yield from values.values()

    @staticmethod
    def _families() -> dict[str, CounterMetricFamily]:
        labels = {"stemcast_cache_removed": ["reason"], "stemcast_tracks_analysed": ["result"]}
        return {name: CounterMetricFamily(name, text, labels=labels.get(name, []))
                for name, text in TOTALS.items()}
