"""Virtual products: tables flightmesh itself produces (the audit log), served like any product.

A ``VirtualConnector`` holds named *snapshot functions*, each returning a ``pyarrow.Table`` of
the current rows. Every fragment runs on its own cursor of a private in-memory DuckDB (locked
down like every DuckDB: no files, no extensions, no settings), with each table's snapshot
registered under its name just for that cursor. So a system table goes through the same
planner, policies and access checks as a data product, and a principal without the product's
role gets the same "table does not exist" as for any other::

    audit = VirtualConnector("flightmesh", {"audit": audit_log.table})
    audit.execute(FragmentQuery('SELECT count(*) FROM "audit"'), CancelScope())

Only the tables a fragment names are produced for it, so a table that is costly to compute
(``mesh.columns`` over a large mesh) is not built for a query that reads another one.

``with_tables`` gives a connector serving other snapshot functions from the same private DuckDB:
the discovery schemas (``mesh``, ``information_schema``) bind one per principal and plan, whose
functions compute that principal's rows (``executor.system_schemas``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

import duckdb
import pyarrow as pa
import sqlglot
import sqlglot.errors
from sqlglot import exp

from flightmesh.mesh import CancelScope, QueryCancelled, UnknownTable

from .base import Capabilities, FragmentQuery, KeyDelivery, cast_batches
from .duckdb import lock_down
from .engine_errors import duckdb_failure, mesh_error

__all__ = ["VirtualConnector"]

_BATCH_ROWS = 65_536


class VirtualConnector:
    capabilities: ClassVar[Capabilities] = Capabilities(dialect="duckdb", key_delivery=KeyDelivery.KEY_TABLE)

    def __init__(self, product: str, tables: Mapping[str, Callable[[], pa.Table]]) -> None:
        self.product = product
        self.tables = dict(tables)
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._home = self  # whose DuckDB the cursors come from (with_tables shares it)

    def with_tables(self, tables: Mapping[str, Callable[[], pa.Table]]) -> VirtualConnector:
        """A connector for the same product serving ``tables``, on this connector's DuckDB."""
        other = VirtualConnector(self.product, tables)
        other._home = self._home
        return other

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        home = self._home
        with home._lock:
            if home._connection is None:
                connection = duckdb.connect()
                lock_down(connection, threads=1, memory_limit="256MB")
                home._connection = connection
            return home._connection.cursor()

    def identity(self) -> str:
        # Never merged with another engine's fragments: the snapshots exist only on this cursor.
        return f"virtual:{self.product}:{id(self)}"

    def table_names(self) -> list[str]:
        return list(self.tables)

    def table_expression(self, source: str) -> exp.Table:
        return exp.Table(this=exp.to_identifier(source, quoted=True))

    def _snapshot(self, source: str) -> pa.Table:
        producer = self.tables.get(source)
        if producer is None:
            raise UnknownTable(source)
        return producer()

    def describe(self, source: str) -> pa.Schema:
        return self._snapshot(source).schema

    def estimate_rows(self, source: str) -> int | None:
        rows: int = self._snapshot(source).num_rows
        return rows

    def _prepared(self, query: FragmentQuery, *, empty: bool) -> duckdb.DuckDBPyConnection:
        cursor = self._cursor()
        for name in _named_tables(query.sql) & set(self.tables):
            snapshot = self._snapshot(name)
            cursor.register(name, snapshot.slice(0, 0) if empty else snapshot)
        for name, keys in query.key_tables.items():
            cursor.register(name, keys.slice(0, 0) if empty else keys)
        return cursor

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        cursor = self._prepared(query, empty=True)
        try:
            return cursor.sql(f"SELECT * FROM ({query.sql}) AS fragment LIMIT 0").to_arrow_table().schema
        except duckdb.Error as error:
            raise self._error(error) from None
        finally:
            cursor.close()

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        cursor = self._prepared(query, empty=False)
        unregister = cancel.on_cancel(cursor.interrupt)
        try:
            reader = cursor.sql(query.sql).to_arrow_reader(_BATCH_ROWS)
        except duckdb.Error as error:
            unregister()
            cursor.close()
            cancel.check()
            raise self._error(error) from None
        schema = query.expected_schema or reader.schema

        def stream() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            except (duckdb.Error, pa.ArrowException) as error:
                cancel.check()
                raise self._error(error) from None
            finally:
                unregister()
                cursor.close()

        return pa.RecordBatchReader.from_batches(schema, cast_batches(stream(), schema))

    def _error(self, error: BaseException) -> Exception:
        if isinstance(error, duckdb.InterruptException):
            return QueryCancelled("the query was cancelled")
        return mesh_error(self.product, duckdb_failure(error), str(error))

    def close(self) -> None:
        if self._home is not self:
            return  # the home connector owns the DuckDB
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _named_tables(sql: str) -> set[str]:
    """The table names ``sql`` reads (fragments are rendered by sqlglot in DuckDB's dialect)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return set()  # DuckDB reports the error itself
    return {table.name for table in tree.find_all(exp.Table)}
