"""What operators see of every query: its outcome counted and timed, its log line, and the drain.

Two moments of a query pass through here (``app`` calls them):

* ``planning(caller, sql)`` around GetFlightInfo and CreatePreparedStatement: a draining server
  refuses the query here; a query refused while planning (syntax, names, policy, admission) is
  counted and logged here, since it never streams;
* ``observe(result, batches)`` around the DoGet stream: rows and bytes as they leave, the
  outcome and latency when the stream ends, however it ends.

Outcomes are exactly ``ok``, ``refused`` (before running: the statement, names, policy,
admission, draining), ``failed`` (an engine or internal error), ``cancelled`` (the client
cancelled or went away, a kill) and ``timeout``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from flightmesh.executor import tracing
from flightmesh.mesh import (
    AccessDenied,
    AuthenticationError,
    EngineUnavailable,
    FlightmeshError,
    PrivacyBudgetExhausted,
    QueryCancelled,
    QueryError,
    QueryTimeout,
)
from flightmesh.mesh.errors import ServerBusy

from .auth import Caller
from .errors import BadRequest
from .lifecycle import Lifecycle
from .metrics import ServerMetrics
from .query_log import query_line, utc_iso
from .runtime import Runtime
from .statements import PendingResult

__all__ = ["Operations", "outcome_of"]

_REFUSALS = (QueryError, AccessDenied, AuthenticationError, PrivacyBudgetExhausted, ServerBusy, BadRequest,
             flight.FlightUnavailableError, flight.FlightUnauthorizedError, NotImplementedError)


def outcome_of(error: BaseException | None, *, planning: bool) -> str:
    """The outcome of a query that ended with ``error`` (None: read to the end)."""
    if error is None:
        return "ok"
    if isinstance(error, QueryTimeout):
        return "timeout"
    if isinstance(error, (QueryCancelled, GeneratorExit, flight.FlightCancelledError)):
        return "cancelled"
    if planning and isinstance(error, _REFUSALS):
        return "refused"
    return "failed"


class Operations:
    def __init__(self, runtime: Runtime, metrics: ServerMetrics | None = None,
                 lifecycle: Lifecycle | None = None) -> None:
        self.runtime = runtime
        self.metrics = metrics or ServerMetrics()
        self.lifecycle = lifecycle or Lifecycle()
        self.metrics.count_running(self.lifecycle.running)
        plans = getattr(runtime, "plans", None)
        idle_merges = getattr(getattr(getattr(runtime, "executor", None), "merge", None), "idle_instances", None)
        if plans is not None and idle_merges is not None:  # (test doubles have neither)
            self.metrics.count_caches(lambda: len(plans), idle_merges)
        settings = runtime.settings
        if settings.otel_exporter:  # spans of plan / fragment / merge (executor.tracing); off: no cost
            tracing.configure(settings.otel_exporter, settings.otel_endpoint)
        # product -> why its last fragment could not reach the engine (cleared by a success)
        self.unreachable: dict[str, str] = {}
        self._streams_lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}   # DoGet streams not ended yet

    # -- the executor's fragments ------------------------------------------------------------------

    def fragment_finished(self, products: tuple[str, ...], seconds: float, error: BaseException | None) -> None:
        label = ",".join(sorted(products))
        self.metrics.fragment_finished(label, seconds, error is not None)
        for product in products:
            if isinstance(error, EngineUnavailable):
                self.unreachable[product] = str(error)
            elif error is None:
                self.unreachable.pop(product, None)

    # -- a query's two moments -----------------------------------------------------------------------

    @contextlib.contextmanager
    def planning(self, caller: Caller, sql: str, *, issues_ticket: bool = True) -> Iterator[None]:
        """Around planning ``sql`` for ``caller``: refused while draining; a refusal counted and logged."""
        wall, started = time.time(), time.perf_counter()
        self.metrics.session_seen(caller.session)
        try:
            with tracing.plan_span(caller.principal.name):  # the query's trace (settings.otel_exporter)
                self.lifecycle.admit()
                yield
        except Exception as error:
            outcome = outcome_of(error, planning=True)
            elapsed = time.perf_counter() - started
            self.metrics.query_finished(outcome, elapsed)
            # The id the query tracker gave the refusal, when it saw it (errors.with_query_id).
            refused_id = getattr(error, "_flightmesh_query_id", None)
            self._line(refused_id, caller.principal.name, outcome, wall, elapsed, sql, error=error)
            raise
        if issues_ticket:
            self.lifecycle.issued()

    def observe(self, result: PendingResult, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches`` (what DoGet sends for ``result``), counted; the query's outcome when they end."""
        stream = _Stream(result, time.time(), time.perf_counter())
        self.metrics.session_seen(result.session)
        failure: BaseException | None = None
        with self._streams_lock:
            self._streams[id(stream)] = stream
        with self.lifecycle.query_running():
            try:
                for batch in batches:
                    size = batch.nbytes
                    stream.rows += batch.num_rows
                    stream.nbytes += size
                    self.metrics.streamed(batch.num_rows, size)
                    yield batch
            except BaseException as error:
                failure = error
                raise
            finally:
                self._finish(stream, outcome_of(failure, planning=False), failure)
                # The inner stream's own cleanup (it stops watching the call's context) must run now, not
                # when a garbage collection finds it: pyarrow frees the context with the call. And the
                # error kept here would hold this frame in a cycle through its traceback.
                failure = None
                close = getattr(batches, "close", None)
                if close is not None:
                    close()

    def finish_unfinished(self) -> int:
        """Count and log as cancelled the streams that never ended (at an exit that cannot wait for them:
        a stream blocked in a gRPC write, its client no longer reading, never runs its own ending)."""
        with self._streams_lock:
            unfinished = list(self._streams.values())
        for stream in unfinished:
            self._finish(stream, "cancelled", QueryCancelled("the server stopped before the stream ended"))
        return len(unfinished)

    # -- helpers -------------------------------------------------------------------------------------

    def _finish(self, stream: _Stream, outcome: str, error: BaseException | None) -> None:
        with self._streams_lock:  # once per stream, whoever comes first
            if self._streams.pop(id(stream), None) is None:
                return
        elapsed = time.perf_counter() - stream.started
        self.metrics.query_finished(outcome, elapsed)
        plans = stream.result.plans
        sql = plans[0].plan.sql if plans and hasattr(plans[0], "plan") else ""
        products = sorted({p for plan in plans if hasattr(plan, "plan")
                           for fragment in plan.plan.fragments for p in fragment.products})
        self._line(_query_id(stream.result), stream.result.owner, outcome, stream.wall, elapsed, sql,
                   rows=stream.rows, nbytes=stream.nbytes, products=products, error=error)

    def _line(self, query_id: str | None, user: str, outcome: str, wall: float, elapsed: float, sql: str, *,
              rows: int | None = None, nbytes: int | None = None, products: list[str] | None = None,
              error: BaseException | None = None) -> None:
        limit = self.runtime.settings.audit_statement_max_chars
        fields: dict[str, Any] = {
            "query_id": query_id, "user": user, "outcome": outcome, "started": utc_iso(wall),
            "elapsed_ms": round(elapsed * 1000.0, 3), "rows": rows, "bytes": nbytes,
            "products": products or [], "sql": sql[:limit], "error": _error_text(error)}
        query_line(fields)


@dataclass
class _Stream:
    """One DoGet stream's counts, until its query line is written."""

    result: PendingResult
    wall: float
    started: float
    rows: int = 0
    nbytes: int = 0


def _query_id(result: PendingResult) -> str:
    """The query's id (the ticket's handle for a result issued without one)."""
    named = getattr(result, "query_id", None)
    return str(named) if named else result.handle.hex()[:16]


def _error_text(error: BaseException | None) -> str | None:
    if error is None or isinstance(error, GeneratorExit):
        return None if error is None else "the client went away"
    if isinstance(error, (FlightmeshError, flight.FlightError, BadRequest, NotImplementedError)):
        return str(error).split("\n")[0]
    return type(error).__name__  # details are in the error's own log record, not in a query line
