"""The console's JSON API over the runtime: each answer is computed for the logged-in principal
through SQL the runtime runs for that principal, so the catalog, masks, hidden products, audit and
history are exactly those of a Flight SQL client asking the same (``governance/discovery.py``).

    catalog()                products, their tables and columns, and what applies to the viewer
    status(product)          its data contract, latest quality checks and privacy budget (``product_status.py``)
    query(sql, ...)          a bounded page of rows (``cap``), cancellable by its run id
    explain(sql, analyze)    the runtime's EXPLAIN rows: one per step (kind, engine, sql, rows, ms)
    history()                the viewer's rows of ``flightmesh.query_history`` (all, for an admin)
    running() / kill(id)     ``flightmesh.queries`` and the query tracker's kill
    export(sql, fmt)         CSV or Parquet bytes of a query (``EXPORT_CAP`` rows at most)
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import logging
import re
import secrets
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from flightmesh.executor.state_store import StateUnavailable
from flightmesh.mesh import (
    AccessDenied,
    AuthenticationError,
    EngineUnavailable,
    FlightmeshError,
    NotFound,
    Principal,
    QueryCancelled,
    QueryTimeout,
)
from flightmesh.mesh.cancel import CancelScope

from ..operations import Operations
from ..runtime import Runtime
from ..tracking import tracker_of
from .product_status import mesh_tables, product_status
from .queries import Answer, run_query
from .sessions import ConsoleSession

__all__ = ["EXPORT_CAP", "PAGE_CAP", "ApiError", "ConsoleApi", "error_answer"]

log = logging.getLogger("flightmesh.console")

PAGE_CAP = 1_000        # rows a result page may hold, whatever the page asks for
EXPORT_CAP = 1_000_000  # rows an export may hold: a download, but not an unbounded one
_EXPLAIN = re.compile(r"^\s*explain\b", re.IGNORECASE)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_answer(error: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body for ``error``: a flightmesh error's own message (written to be
    shown to the caller: no hidden value, no server path), anything else a generic one."""
    query_id = getattr(error, "_flightmesh_query_id", None)
    if isinstance(error, ApiError):
        return error.status, {"error": str(error)}
    if isinstance(error, FlightmeshError):
        status = (401 if isinstance(error, AuthenticationError) else 403 if isinstance(error, AccessDenied)
                  else 404 if isinstance(error, NotFound) else 409 if isinstance(error, QueryCancelled)
                  else 408 if isinstance(error, QueryTimeout)
                  else 503 if isinstance(error, (EngineUnavailable, StateUnavailable)) else 400)
        return status, {"error": str(error), "kind": type(error).__name__, "query_id": query_id}
    incident = secrets.token_hex(4)
    log.error("console request failed (incident %s)", incident, exc_info=error)
    return 500, {"error": f"internal error (incident {incident}; the server log has the details)",
                 "kind": "InternalError", "query_id": query_id}


class ConsoleApi:
    def __init__(self, runtime: Runtime, operations: Operations) -> None:
        self.runtime = runtime
        self.operations = operations

    # -- reading the mesh through its own discovery schemas ------------------------------------

    def _rows(self, principal: Principal, sql: str, cap: int = PAGE_CAP * 100) -> list[dict[str, Any]]:
        answer = run_query(self.runtime, self.operations, principal, "console", sql, cap, CancelScope())
        rows: list[dict[str, Any]] = answer.table.to_pylist()
        return rows

    def catalog(self, principal: Principal) -> dict[str, Any]:
        # The producers of mesh.products, mesh.tables, ... themselves: the viewer's rows, computed
        # as a query of them would be, without four history rows per page view.
        mesh = mesh_tables(self.runtime, principal)
        products, tables, columns = (mesh[name]().to_pylist() for name in ("products", "tables", "columns"))
        access = {row["product"]: row for row in mesh["my_access"]().to_pylist()}
        by_table: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for column in columns:
            by_table.setdefault((column["product"], column["table_name"]), []).append(
                {key: column[key] for key in ("column_name", "data_type", "description", "tags", "masked")})
        listed = []
        for product in products:
            name = product["product"]
            listed.append({
                **{key: product.get(key) for key in ("product", "domain", "owner", "description", "engine", "tags",
                                                     "freshness", "available")},
                # what applies, in the words of mesh.my_access: policies by name, never their bodies
                **{key: access.get(name, {}).get(column) for key, column in (
                    ("access", "summary"), ("access_kind", "access"), ("row_filters", "row_filters"),
                    ("masked_columns", "masked_columns"))},
                "tables": [{"table_name": t["table_name"], "description": t["description"], "tags": t["tags"],
                            "row_estimate": t["row_estimate"], "columns": by_table.get((name, t["table_name"]), [])}
                           for t in tables if t["product"] == name]})
        return {"products": listed}

    def status(self, principal: Principal, product: str) -> dict[str, Any]:
        # Asked for by name: a product the viewer may not read is answered as one that does not exist.
        visible = {row["product"] for row in mesh_tables(self.runtime, principal)["products"]().to_pylist()}
        if product not in visible:
            raise ApiError(404, f"no data product named {product!r}")
        return product_status(self.runtime, principal, product, lambda error: error_answer(error)[1], _plain)

    # -- queries ---------------------------------------------------------------------------------

    def query(self, principal: Principal, session: ConsoleSession, sql: str, run_id: str, cap: int) -> dict[str, Any]:
        if not sql.strip():
            raise ApiError(400, "the editor is empty: write a query first")
        answer = self._run(principal, session, sql, run_id, min(max(cap, 1), PAGE_CAP))
        return _json_answer(answer)

    def explain(self, principal: Principal, session: ConsoleSession, sql: str, run_id: str,
                analyze: bool) -> dict[str, Any]:
        if not sql.strip():
            raise ApiError(400, "the editor is empty: write a query first")
        if not _EXPLAIN.match(sql):
            sql = ("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + sql
        return _json_answer(self._run(principal, session, sql, run_id, PAGE_CAP))

    def export(self, principal: Principal, session: ConsoleSession, sql: str, run_id: str, fmt: str) -> bytes:
        if fmt not in ("csv", "parquet"):
            raise ApiError(400, f"export as csv or parquet, not {fmt!r}")
        table = self._run(principal, session, sql, run_id, EXPORT_CAP).table
        sink = io.BytesIO()
        if fmt == "csv":
            pacsv.write_csv(table, sink)
        else:
            pq.write_table(table, sink)
        return sink.getvalue()

    def cancel(self, session: ConsoleSession, run_id: str) -> bool:
        scope = session.running.get(run_id)
        if scope is None:
            if run_id and len(session.cancelled_early) < 1_000:
                session.cancelled_early.add(run_id)  # its query may still be on its way
            return False
        scope.cancel()
        return True

    def history(self, principal: Principal) -> dict[str, Any]:
        rows = self._rows(principal, "SELECT * FROM flightmesh.query_history ORDER BY started_at DESC LIMIT 100")
        running = self._rows(principal, "SELECT * FROM flightmesh.queries")
        return {"history": [_plain(row) for row in rows], "running": [_plain(row) for row in running],
                "admin": tracker_of(self.runtime).is_admin(principal)}

    def kill(self, principal: Principal, query_id: str) -> dict[str, Any]:
        query = tracker_of(self.runtime).kill(query_id, principal)
        return {"killed": query.query_id}

    def _run(self, principal: Principal, session: ConsoleSession, sql: str, run_id: str, cap: int) -> Answer:
        scope = CancelScope()
        if run_id:
            session.running[run_id] = scope
            if run_id in session.cancelled_early:
                session.cancelled_early.discard(run_id)
                scope.cancel()
        try:
            return run_query(self.runtime, self.operations, principal, session.token[:8], sql, cap, scope)
        finally:
            if run_id:
                session.running.pop(run_id, None)


def _json_answer(answer: Answer) -> dict[str, Any]:
    table = answer.table
    return {"columns": [{"name": field.name, "type": str(field.type)} for field in table.schema],
            "rows": [[_value(v) for v in row.values()] for row in table.to_pylist()],
            "truncated": answer.truncated, "query_id": answer.query_id, "ms": round(answer.ms, 1)}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _value(value) for key, value in row.items()}


def _value(value: Any) -> Any:
    """A JSON value for an Arrow one: numbers and strings as they are, the rest as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, (dt.date, dt.time, dt.datetime, dt.timedelta)):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    return str(value)


