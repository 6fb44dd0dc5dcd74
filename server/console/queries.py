"""Running one console query as the Flight SQL side runs a DoGet: prepared, bound and executed by
the runtime for the user's principal, with the same query id, history row, admission, query log
line and metrics (``server/operations.py``, ``executor/query_tracker.py``); only the transport differs.

A console answer is bounded: at most ``cap`` rows are read, then the query is stopped, so a
``SELECT *`` over a large table costs the engines a page, not the table.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from flightmesh.executor.query_tracker import QueryTracker
from flightmesh.mesh import Principal, QueryCancelled
from flightmesh.mesh.cancel import CancelScope

from ..auth import Caller
from ..errors import with_query_id
from ..operations import Operations
from ..runtime import Runtime
from ..statements import PendingResult
from ..tracking import tracker_of

__all__ = ["Answer", "run_query"]


@dataclass
class Answer:
    table: pa.Table
    truncated: bool     # more rows existed than the cap let through
    query_id: str
    ms: float


def run_query(runtime: Runtime, operations: Operations, principal: Principal, session: str, sql: str,
              cap: int, scope: CancelScope) -> Answer:
    started = time.perf_counter()
    caller = Caller(principal, session)
    tracker = tracker_of(runtime)
    started_at = dt.datetime.now(dt.UTC)
    with operations.planning(caller, sql, issues_ticket=False):
        try:
            prepared = runtime.prepare(sql, principal)
            plan = runtime.bind(prepared, principal, ())
        except Exception as error:
            with_query_id(error, tracker.refused(principal.name, sql, error, started_at=started_at))
            raise
    fragments = getattr(getattr(plan, "plan", None), "fragments", ())
    products = tuple(sorted({p for fragment in fragments for p in fragment.products}))
    query_id = tracker.issue(scope, sql, products)
    result = PendingResult(secrets.token_bytes(16), principal.name, session, [plan], plan.schema,
                           time.monotonic(), scope, query_id)
    batches: list[pa.RecordBatch] = []
    rows = 0
    truncated = False
    observed = operations.observe(result, _execute(runtime, tracker, result))
    try:
        for batch in observed:
            if rows + batch.num_rows > cap:
                batches.append(batch.slice(0, cap - rows))
                rows = cap
                truncated = True
                break
            batches.append(batch)
            rows += batch.num_rows
    finally:
        close = getattr(observed, "close", None)  # (a generator: its cleanup stops the engines)
        if close is not None:
            close()  # a truncated read stops the engines here (the executor's own cleanup)
    table = pa.Table.from_batches(batches, schema=plan.schema)
    return Answer(table, truncated, query_id, (time.perf_counter() - started) * 1000.0)


def _execute(runtime: Runtime, tracker: QueryTracker, result: PendingResult) -> Iterator[pa.RecordBatch]:
    scope = result.scope
    tracked = tracker.start(result.owner, scope)
    completed = False
    failure: BaseException | None = None
    try:
        reader = runtime.execute(result.plans[0], cancel=scope)
        exhausted = False
        try:
            for batch in reader:
                tracked.query.rows += batch.num_rows
                tracked.query.bytes += batch.nbytes
                yield batch
            exhausted = True
        finally:
            if not exhausted:
                scope.cancel()  # first, so an engine blocked in a read lets go
            reader.close()
        completed = True
    except BaseException as error:
        failure = with_query_id(error, result.query_id)
        if tracked.query.killed_by:
            raise with_query_id(QueryCancelled(f"the query was killed by {tracked.query.killed_by}"),
                                result.query_id) from None
        raise
    finally:
        tracker.finish(tracked, failure, completed=completed)
