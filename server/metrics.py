"""The server's Prometheus metrics (``prometheus-client``), served at ``/metrics`` on the HTTP side port.

=====================================================  ===========================================
metric                                                 what
=====================================================  ===========================================
flightmesh_queries_total{outcome}                      queries by outcome: ok, refused, failed,
                                                       cancelled, timeout
flightmesh_query_duration_seconds{outcome}             histogram: planning to last batch (refusals:
                                                       to the refusal)
flightmesh_rows_streamed_total                         rows sent to clients
flightmesh_bytes_streamed_total                        Arrow bytes of the batches sent to clients
flightmesh_fragment_duration_seconds{product}          histogram: one fragment inside its engine
flightmesh_fragment_errors_total{product}              fragments that failed in their engine
flightmesh_queries_running                             queries streaming now
flightmesh_queries_queued                              queries waiting for admission
flightmesh_active_sessions                             sessions with a call in the last
                                                       ``SESSION_ACTIVE_SECONDS``
flightmesh_plan_cache_entries                          bound plans cached (at most plan_cache_size)
flightmesh_merge_idle_instances                        merge DuckDBs kept for the next query (closed
                                                       after merge_idle_seconds)
process_resident_memory_bytes, process_*               the server process (prometheus-client's
                                                       process collector, on Linux)
=====================================================  ===========================================

The two cache gauges tell memory that is filled once (bounded by design) from growth: a server
whose RSS climbs while both stay level has a leak.

Each server has a registry of its own (two servers in one process, as in the tests, do not
share counts); the process's default registry is left alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

__all__ = ["OUTCOMES", "SESSION_ACTIVE_SECONDS", "ServerMetrics"]

OUTCOMES = ("ok", "refused", "failed", "cancelled", "timeout")
SESSION_ACTIVE_SECONDS = 300.0

# Queries of a federation server span milliseconds (a cached point lookup) to minutes.
_QUERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_FRAGMENT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._queries = Counter("flightmesh_queries", "Queries by outcome.", ["outcome"], registry=self.registry)
        self._duration = Histogram("flightmesh_query_duration_seconds", "Query latency, planning to last batch.",
                                   ["outcome"], buckets=_QUERY_BUCKETS, registry=self.registry)
        self._rows = Counter("flightmesh_rows_streamed", "Rows sent to clients.", registry=self.registry)
        self._bytes = Counter("flightmesh_bytes_streamed", "Arrow bytes sent to clients.", registry=self.registry)
        self._fragment_duration = Histogram(
            "flightmesh_fragment_duration_seconds", "Time of one fragment inside its product's engine.",
            ["product"], buckets=_FRAGMENT_BUCKETS, registry=self.registry)
        self._fragment_errors = Counter("flightmesh_fragment_errors", "Fragments that failed in their engine.",
                                        ["product"], registry=self.registry)
        self._running = Gauge("flightmesh_queries_running", "Queries streaming now.", registry=self.registry)
        self.queued = Gauge("flightmesh_queries_queued", "Queries waiting for admission.", registry=self.registry)
        self._sessions = Gauge("flightmesh_active_sessions",
                               f"Sessions with a call in the last {SESSION_ACTIVE_SECONDS:.0f} s.",
                               registry=self.registry)
        self._plan_cache = Gauge("flightmesh_plan_cache_entries", "Bound plans in the plan cache.",
                                 registry=self.registry)
        self._idle_merges = Gauge("flightmesh_merge_idle_instances", "Merge DuckDB instances kept idle.",
                                  registry=self.registry)
        ProcessCollector(registry=self.registry)
        for outcome in OUTCOMES:  # every series exists from the start: rate() needs a zero to begin from
            self._queries.labels(outcome)
        self._seen_lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._sessions.set_function(self._active_sessions)

    def count_running(self, running: Callable[[], int]) -> None:
        """Read the running-queries gauge from ``running`` at each scrape."""
        self._running.set_function(lambda: float(running()))

    def count_caches(self, plan_cache: Callable[[], int], idle_merges: Callable[[], int]) -> None:
        """Read the two cache gauges from these at each scrape."""
        self._plan_cache.set_function(lambda: float(plan_cache()))
        self._idle_merges.set_function(lambda: float(idle_merges()))

    def query_finished(self, outcome: str, seconds: float) -> None:
        self._queries.labels(outcome).inc()
        self._duration.labels(outcome).observe(seconds)

    def streamed(self, rows: int, nbytes: int) -> None:
        self._rows.inc(rows)
        self._bytes.inc(nbytes)

    def fragment_finished(self, product: str, seconds: float, failed: bool) -> None:
        self._fragment_duration.labels(product).observe(seconds)
        if failed:
            self._fragment_errors.labels(product).inc()

    def session_seen(self, session: str) -> None:
        now = time.monotonic()
        with self._seen_lock:
            self._seen[session] = now
            if len(self._seen) > 10_000:  # forget the idle ones before the map grows without bound
                self._forget_idle(now)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return bytes(generate_latest(self.registry))

    def _active_sessions(self) -> float:
        with self._seen_lock:
            self._forget_idle(time.monotonic())
            return float(len(self._seen))

    def _forget_idle(self, now: float) -> None:
        for session in [s for s, seen in self._seen.items() if now - seen > SESSION_ACTIVE_SECONDS]:
            del self._seen[session]
