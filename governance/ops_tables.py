"""The operations schema ``flightmesh``: ``queries`` (running now) and ``query_history`` (persistent).

Like the discovery schemas (``governance.discovery``), it is answered by flightmesh itself, every
principal may name it (``AccessSpec.public``), and each principal's rows are computed for that
principal alone: a user sees the rows of their own queries, a principal holding one of
``auth.admin_roles`` sees everyone's (``visible_user``). The executor supplies the rows
(``executor.query_tracker``); this module owns their shape and who sees which.

When the audit log is readable (``governance.audit.read``), its table ``audit`` joins this schema,
still served only to the audit roles (``audit_roles`` of ``ops_product``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from flightmesh.mesh import AccessSpec, ColumnSpec, EngineSpec, Principal, ProductSpec, TableSpec

from .system_tables import SystemTable

__all__ = ["OPS_SCHEMA", "OPS_TABLES", "QUERIES_TABLE", "QUERY_HISTORY_TABLE", "ops_product", "visible_user"]

OPS_SCHEMA = "flightmesh"

_S, _I, _T = pa.string(), pa.int64(), pa.timestamp("us", tz="UTC")

QUERIES_TABLE = SystemTable("queries", "One row per query running now (yours; every user's for administrators)", (
    ("query_id", _S, "the query's id, as in the server log, its error messages and EXPLAIN ANALYZE"),
    ("user_name", _S, "who runs it"),
    ("sql", _S, "its SQL text"),
    ("state", _S, "queued (waiting for admission) or running"),
    ("started_at", _T, "when its stream started (UTC)"),
    ("elapsed_ms", _I, "milliseconds since then"),
    ("rows", _I, "rows streamed to the client so far"),
    ("bytes", _I, "bytes streamed to the client so far"),
    ("products", _S, "the products it reads, joined by ', '"),
    ("fragments", _S, "each fragment's progress: rows read so far, and its time once done"),
))

QUERY_HISTORY_TABLE = SystemTable("query_history", "One row per finished query (yours; every user's for "
                                  "administrators), kept in the mesh's state store", (
    ("query_id", _S, "the query's id"),
    ("user_name", _S, "who ran it"),
    ("sql", _S, "its SQL text (cut at settings.audit_statement_max_chars)"),
    ("outcome", _S, "ok, refused (before running: syntax, names, policy, admission), failed (an engine or "
                    "internal error), cancelled (client cancel, disconnect or kill) or timeout"),
    ("started_at", _T, "when it started (UTC)"),
    ("ended_at", _T, "when it ended (UTC)"),
    ("elapsed_ms", _I, "milliseconds from start to end"),
    ("rows", _I, "rows streamed to the client"),
    ("bytes", _I, "bytes streamed to the client"),
    ("products", _S, "the products it read, joined by ', '"),
    ("error", _S, "why it did not end ok, as the client was told"),
))

OPS_TABLES = (QUERIES_TABLE, QUERY_HISTORY_TABLE)


def ops_product(audit: ProductSpec | None = None) -> ProductSpec:
    """``flightmesh`` as a product every principal may name; with ``audit``'s table when given."""
    tables = {t.name: TableSpec(name=t.name, source=t.name, description=t.description) for t in OPS_TABLES}
    columns: dict[str, Mapping[str, ColumnSpec]] = {
        t.name: {column: ColumnSpec(description=text) for column, _, text in t.columns} for t in OPS_TABLES}
    description = "flightmesh's operations: running queries and query history"
    if audit is not None:
        tables.update(audit.tables)
        columns.update(audit.columns)
        description += ", and the audit log"
    return ProductSpec(name=OPS_SCHEMA, engine=EngineSpec(kind="virtual", origin="governance.ops_tables"),
                       tables=tables, columns=columns, description=description, owner="flightmesh",
                       # public: everyone names it; read: the audit roles count it among their products too
                       access=AccessSpec(read=audit.access.read if audit is not None else (), public=True),
                       origin="governance.ops_tables")


def visible_user(principal: Principal, admin_roles: tuple[str, ...]) -> str | None:
    """Whose rows ``principal`` sees: their own (their name), or everyone's (None) for an administrator."""
    return None if principal.has_any(admin_roles) else principal.name
