"""The audit around queries: a record for every refusal, and one per run when its stream ends.

A run's record is written however the stream ends (read to the end, failed, cancelled, closed
early), with the tables it touched and the policies the planner applied, as the plan names them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pyarrow as pa

from flightmesh.governance.audit import AuditLog, AuditRecord, touched
from flightmesh.mesh import AuthenticationError, FlightmeshError, Principal, QueryCancelled, QueryError
from flightmesh.planner import Plan

__all__ = ["audited", "refused"]


def refused(audit: AuditLog, sql: str, principal: Principal, error: FlightmeshError, started: float) -> None:
    audit.write(AuditRecord.for_principal(
        principal, kind="query", statement=sql, outcome="refused", error=str(error),
        duration_ms=(time.perf_counter() - started) * 1000.0))


def audited(audit: AuditLog, plan: Plan, principal: Principal | None, policies: tuple[str, ...],
            open_stream: Callable[[], pa.RecordBatchReader]) -> pa.RecordBatchReader:
    """Run ``open_stream`` for ``plan``; write its audit record when the stream ends, however it ends."""
    started = time.perf_counter()
    products, tables = touched(table for fragment in plan.fragments for table in fragment.tables)
    if principal is None:
        policies = ()

    def record(outcome: str, rows: int | None, error: BaseException | None = None) -> None:
        audit.write(AuditRecord.for_principal(
            principal, kind="query", statement=plan.sql, products=products, tables=tables,
            policies=policies, rows=rows, outcome=outcome,
            error=str(error) if error is not None else None,
            duration_ms=(time.perf_counter() - started) * 1000.0))

    try:
        reader = open_stream()
    except BaseException as error:
        record(_outcome(error), None, error)
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        outcome, failure = "closed early", None
        try:
            for batch in reader:
                rows += batch.num_rows
                yield batch
            outcome = "ok"
        except GeneratorExit:
            raise
        except BaseException as error:
            outcome, failure = _outcome(error), error
            raise
        finally:
            record(outcome, rows, failure)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _outcome(error: BaseException) -> str:
    if isinstance(error, QueryCancelled):
        return "cancelled"
    if isinstance(error, (QueryError, AuthenticationError)):
        return "refused"
    return "failed"
