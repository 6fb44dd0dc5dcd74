"""Streaming results to a DoGet, and stopping the engines when the client goes away.

A client that cancels (ADBC cancels the gRPC call; there is no cancel RPC) is noticed two ways:

* between batches, the stream checks ``context.is_cancelled()``; and when pyarrow fails to send
  a batch it closes the generator, whose ``finally`` cancels the query;
* while the stream is blocked waiting for the next batch (an engine still computing), a single
  ``CancelWatcher`` thread polls the calls of all running streams and cancels the query's
  ``CancelScope``, which interrupts the engines through the connectors.

Every batch leaves with exactly the schema announced in FlightInfo (ADBC rejects a stream whose
schema differs, nullability included), and large batches are sliced so no single message comes
near gRPC client receive limits (ADBC's default is 16 MiB).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from flightmesh.executor.privacy_gate import announced
from flightmesh.executor.query_context import query_id_of
from flightmesh.executor.query_tracker import QueryTracker, Tracked
from flightmesh.mesh import CancelScope, QueryCancelled

from .errors import guarded, log, with_query_id
from .runtime import Runtime
from .statements import PendingResult

__all__ = ["MAX_BATCH_BYTES", "CancelWatcher", "conform", "result_stream", "split_large"]

MAX_BATCH_BYTES = 8 * 1024 * 1024


class CancelWatcher:
    """One daemon thread that cancels the queries of calls their clients abandoned."""

    def __init__(self, interval_seconds: float = 0.1) -> None:
        self.interval_seconds = interval_seconds
        # Held while polling and while unregistering, so a call's context is never touched
        # after its stream has finished (pyarrow frees the context with the call).
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[flight.ServerCallContext, CancelScope]] = {}
        self._next_id = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, context: flight.ServerCallContext, scope: CancelScope) -> Iterator[None]:
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._watched[key] = (context, scope)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="flightmesh-cancel-watcher", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._watched[key]

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            with self._lock:
                abandoned = [scope for context, scope in self._watched.values() if context.is_cancelled()]
            for scope in abandoned:
                scope.cancel()


def result_stream(
    runtime: Runtime,
    result: PendingResult,
    context: flight.ServerCallContext,
    watcher: CancelWatcher,
    on_finish: Callable[[], None],
    observe: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] | None = None,
    tracker: QueryTracker | None = None,
) -> flight.GeneratorStream:
    """The DoGet stream of ``result``: each plan executed in turn, results concatenated.

    ``observe`` wraps the batches as they leave (the server's metrics and query log).

    A privacy-mode result's budget is reserved here, before the schema leaves, so the schema says
    what remains once it is paid (``executor.privacy_gate``); a plan that releases nothing gives
    its reservation back when the stream ends."""
    holds: list[Any] = [None] * len(result.plans)
    if any(getattr(getattr(plan, "plan", None), "privacy", None) is not None for plan in result.plans):
        holds = runtime.hold_budgets(result.plans)
    schema = announced(result.schema, holds)
    batches = _batches(runtime, result, context, watcher, on_finish, tracker, holds, schema)
    return flight.GeneratorStream(schema, guarded(observe(batches) if observe else batches))


def _batches(
    runtime: Runtime,
    result: PendingResult,
    context: flight.ServerCallContext,
    watcher: CancelWatcher,
    on_finish: Callable[[], None],
    tracker: QueryTracker | None = None,
    holds: list[Any] | None = None,
    schema: pa.Schema | None = None,
) -> Iterator[pa.RecordBatch]:
    scope = result.scope
    holds = holds or [None] * len(result.plans)
    schema = schema or result.schema
    completed = False
    tracked: Tracked | None = None
    failure: BaseException | None = None
    try:
        with watcher.watching(context, scope):
            if tracker is not None:  # registered in flightmesh.queries; waits for admission or is refused
                tracked = tracker.start(result.owner, scope)
            for plan, hold in zip(result.plans, holds, strict=True):
                scope.check()
                # No read-ahead thread here: the executor already reads every fragment ahead on
                # its own thread, and a second hop measured slower (more GIL handoffs per batch).
                reader = runtime.execute(plan, cancel=scope, hold=hold) if hold is not None else \
                    runtime.execute(plan, cancel=scope)
                exhausted = False
                try:
                    for batch in reader:
                        if context.is_cancelled():
                            return  # nobody is listening; `finally` stops the engines
                        for piece in split_large(conform(batch, schema)):
                            if tracked is not None:
                                tracked.query.rows += piece.num_rows
                                tracked.query.bytes += piece.nbytes
                            yield piece
                    exhausted = True
                finally:
                    if not exhausted:
                        scope.cancel()  # first, so an engine blocked in a read lets go
                    reader.close()
            completed = True
    except BaseException as error:
        failure = with_query_id(error, query_id_of(scope))  # the client's message names the query
        if isinstance(error, QueryCancelled) and tracked is not None and tracked.query.killed_by:
            raise with_query_id(QueryCancelled(f"the query was killed by {tracked.query.killed_by}"),
                                query_id_of(scope)) from None
        raise
    finally:
        if not completed:
            scope.cancel()
        for hold in holds:   # the budget of plans that never released (cancelled, failed before) comes back
            if hold is not None:
                hold.give_back()
        if tracker is not None and tracked is not None:
            tracker.finish(tracked, failure, completed=completed)
        on_finish()


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly ``schema`` (names, types, nullability, metadata)."""
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    if batch.schema.equals(schema):
        # Same names and types; only metadata differs.
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    if [f.type for f in batch.schema] == [f.type for f in schema] and batch.num_columns == len(schema):
        # Only names or nullability differ: relabel, no copy.
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    log.warning("result batch schema differs from the announced one; casting %s -> %s", batch.schema, schema)
    return pa.RecordBatch.from_arrays(
        [column.cast(field.type) for column, field in zip(batch.columns, schema, strict=True)], schema=schema
    )


def split_large(batch: pa.RecordBatch, max_bytes: int = MAX_BATCH_BYTES) -> Iterator[pa.RecordBatch]:
    """``batch`` in zero-copy slices of about ``max_bytes`` at most."""
    size = batch.nbytes
    if size <= max_bytes or batch.num_rows <= 1:
        yield batch
        return
    rows = max(1, batch.num_rows * max_bytes // size)
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)
