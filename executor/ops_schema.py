"""The operations schema ``flightmesh`` at run time: its product, and connectors bound per principal.

The same seam as the discovery schemas (``executor.system_schemas``): an unbound connector
describes the tables for the catalog and refuses to run; each plan gets one bound to its
principal, whose snapshot functions compute that principal's rows when the fragment runs —
their own queries, or everyone's for an administrator (``governance.ops_tables``). The audit log
(``flightmesh.audit``), when configured, is served from here too, to its audit roles only; anyone
else gets the answer a table that does not exist gets.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from flightmesh.connectors import Connector, FragmentQuery
from flightmesh.connectors.virtual import VirtualConnector
from flightmesh.governance.audit import AUDIT_SCHEMA
from flightmesh.governance.ops_tables import OPS_SCHEMA, QUERIES_TABLE, QUERY_HISTORY_TABLE, ops_product, visible_user
from flightmesh.mesh import CancelScope, Principal, ProductSpec, QueryError, UnknownTable

from .query_tracker import QueryTracker

__all__ = ["OperationsSchema"]


class _Unbound(VirtualConnector):
    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        raise QueryError(f"the {self.product} tables are computed per principal; this plan was not bound to one")


class OperationsSchema:
    def __init__(self, tracker: QueryTracker) -> None:
        self.tracker = tracker
        self._audit: Callable[[], pa.Table] | None = None
        self._audit_roles: tuple[str, ...] = ()
        self.unbound: VirtualConnector = self._unbound()

    def product(self, audit: ProductSpec | None, audit_table: Callable[[], pa.Table],
                audit_roles: tuple[str, ...]) -> ProductSpec:
        """The ``flightmesh`` product of a mesh being assembled (with the audit table when ``audit``)."""
        self._audit = audit_table if audit is not None else None
        self._audit_roles = audit_roles
        self.unbound = self._unbound()
        return ops_product(audit)

    def bound(self, principal: Principal) -> dict[str, Connector]:
        """``principal``'s connector for the schema."""
        tables: dict[str, Callable[[], pa.Table]] = {
            QUERIES_TABLE.name: lambda: self._queries(principal),
            QUERY_HISTORY_TABLE.name: lambda: self._history(principal),
        }
        if self._audit is not None:
            tables["audit"] = lambda: self._audit_rows(principal)
        return {OPS_SCHEMA: self.unbound.with_tables(tables)}

    def _unbound(self) -> VirtualConnector:
        tables: dict[str, Callable[[], pa.Table]] = {
            QUERIES_TABLE.name: QUERIES_TABLE.schema.empty_table,
            QUERY_HISTORY_TABLE.name: QUERY_HISTORY_TABLE.schema.empty_table,
        }
        if self._audit is not None:
            tables["audit"] = AUDIT_SCHEMA.empty_table
        return _Unbound(OPS_SCHEMA, tables)

    def _whose(self, principal: Principal) -> str | None:
        return visible_user(principal, self.tracker.admin_roles())

    def _queries(self, principal: Principal) -> pa.Table:
        rows = [{
            "query_id": q.query_id, "user_name": q.user, "sql": q.sql, "state": q.state,
            "started_at": q.started_at, "elapsed_ms": q.elapsed_ms(), "rows": q.rows, "bytes": q.bytes,
            "products": ", ".join(q.products) or None, "fragments": q.fragments(),
        } for q in self.tracker.registry.snapshot(self._whose(principal))]
        return pa.Table.from_pylist(rows, schema=QUERIES_TABLE.schema)

    def _history(self, principal: Principal) -> pa.Table:
        rows = [{
            "query_id": e.query_id, "user_name": e.user, "sql": e.sql, "outcome": e.outcome,
            "started_at": e.started_at, "ended_at": e.ended_at, "elapsed_ms": e.elapsed_ms, "rows": e.rows,
            "bytes": e.bytes, "products": ", ".join(e.products) or None, "error": e.error,
        } for e in self.tracker.history.entries(self._whose(principal))]
        return pa.Table.from_pylist(rows, schema=QUERY_HISTORY_TABLE.schema)

    def _audit_rows(self, principal: Principal) -> pa.Table:
        if self._audit is None or not principal.has_any(self._audit_roles):
            raise UnknownTable(f"{OPS_SCHEMA}.audit")
        return self._audit()
