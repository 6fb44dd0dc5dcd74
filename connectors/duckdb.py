"""DuckDB products: a database file, opened read-only and locked down.

One DuckDB instance per file per process (DuckDB refuses to open a file twice with different
settings), shared by every product that names the file; each fragment runs on its own cursor so
fragments run concurrently and each can be interrupted alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa
from sqlglot import exp

from flightmesh.mesh import (
    CancelScope,
    EngineError,
    EngineUnavailable,
    ProductSpec,
    QueryCancelled,
    Settings,
    UnknownTable,
)
from flightmesh.mesh.constraints import EngineConstraints
from flightmesh.mesh.statistics import TableStatistics

from .base import Capabilities, FragmentQuery, KeyDelivery, cast_batches
from .constraints import assemble, duckdb_rows
from .duckdb_stats import duckdb_statistics
from .engine_errors import duckdb_failure, mesh_error
from .pool import engine_timeout
from .stats import CachedTableStatistics, TtlCache

__all__ = ["DuckDBConnector", "lock_down"]

_BATCH_ROWS = 65_536


def lock_down(connection: duckdb.DuckDBPyConnection, *, threads: int | None = None,
              memory_limit: str | None = None) -> None:
    """No files, no extensions, no configuration changes from here on (DESIGN.md §6)."""
    if threads is not None:
        connection.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        connection.execute("SET memory_limit = $1", [memory_limit])
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute("SET autoload_known_extensions = false")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


class DuckDBConnector(CachedTableStatistics):
    capabilities: ClassVar[Capabilities] = Capabilities(dialect="duckdb", key_delivery=KeyDelivery.KEY_TABLE)

    _instances: ClassVar[dict[Path, duckdb.DuckDBPyConnection]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, product: str, path: Path, *, timeout_seconds: float | None = None) -> None:
        self.product = product
        self.path = Path(path).resolve()
        self.timeout_seconds = timeout_seconds
        self._connection: duckdb.DuckDBPyConnection | None = None
        self.column_statistics_cache: TtlCache[TableStatistics] = TtlCache()

    @classmethod
    def from_spec(cls, product: ProductSpec, settings: Settings) -> DuckDBConnector:
        engine = product.engine
        assert engine.path is not None
        return cls(product.name, engine.path, timeout_seconds=engine_timeout(engine.options, settings))

    # -- connection ------------------------------------------------------------------------------

    def _root(self) -> duckdb.DuckDBPyConnection:
        """The shared connection fragments take cursors from; opened on first use."""
        if self._connection is not None:
            return self._connection
        with self._instances_lock:
            connection = self._instances.get(self.path)
            if connection is None:
                if not self.path.is_file():
                    raise EngineUnavailable(self.product, f"database file {self.path.name} is missing")
                try:
                    connection = duckdb.connect(str(self.path), read_only=True)
                    lock_down(connection)
                except duckdb.Error as error:
                    raise EngineUnavailable(self.product, "cannot open the database file",
                                            internal=str(error)) from None
                self._instances[self.path] = connection
            self._connection = connection
        return connection

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # The file may have been removed after start: DuckDB keeps reading its open handle, but
        # a product whose file is gone is unavailable, and saying so beats serving stale data.
        if not self.path.is_file():
            self._forget()
            raise EngineUnavailable(self.product, f"database file {self.path.name} is missing")
        return self._root().cursor()

    def _forget(self) -> None:
        with self._instances_lock:
            connection = self._instances.pop(self.path, None)
        self._connection = None
        if connection is not None:
            connection.close()

    def identity(self) -> str:
        return f"duckdb:{self.path}"

    # -- metadata --------------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        rows = self._cursor().execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal"
        ).fetchall()
        return [name if schema == "main" else f"{schema}.{name}" for schema, name in rows]

    def table_expression(self, source: str) -> exp.Table:
        return exp.to_table(source, dialect="duckdb")

    def describe(self, source: str) -> pa.Schema:
        table = self.table_expression(source).sql("duckdb")
        try:
            return self._cursor().sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema
        except duckdb.CatalogException:
            raise UnknownTable(source) from None
        except duckdb.Error as error:
            raise EngineError(self.product, "cannot describe a table", internal=str(error)) from None

    def constraints(self, source: str) -> EngineConstraints:
        table = self.table_expression(source)
        return assemble(duckdb_rows(lambda sql, params: self._cursor().execute(sql, params).fetchall(),
                                    table.db or "main", table.name))

    def _table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        rows = self.estimate_rows(source)
        if rows is None:  # a view: its statistics would cost its query
            return TableStatistics()
        return duckdb_statistics(self._cursor(), self.table_expression(source).sql("duckdb"), schema, rows)

    def estimate_rows(self, source: str) -> int | None:
        table = self.table_expression(source)
        schema = table.db or "main"
        row = self._cursor().execute(
            "SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = $1 AND table_name = $2",
            [schema, table.name],
        ).fetchone()
        return int(row[0]) if row else None

    # -- queries ---------------------------------------------------------------------------------

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        cursor = self._cursor()
        self._register_keys(cursor, query, empty=True)
        try:
            return cursor.sql(f"SELECT * FROM ({query.sql}) AS fragment LIMIT 0").to_arrow_table().schema
        except duckdb.Error as error:
            raise self._error(error) from None

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        cursor = self._cursor()
        self._register_keys(cursor, query, empty=False)
        unregister = cancel.on_cancel(cursor.interrupt)
        # An interrupt reaches only a running statement: one cancelled before this point (a
        # console cancel that overtook its query) would otherwise run to its time limit.
        try:
            cancel.check()
        except BaseException:
            unregister()
            cursor.close()
            raise
        try:
            reader = cursor.sql(query.sql).to_arrow_reader(_BATCH_ROWS)
        except duckdb.Error as error:
            unregister()
            cancel.check()
            raise self._error(error) from None
        schema = query.expected_schema or reader.schema
        return pa.RecordBatchReader.from_batches(
            schema, cast_batches(self._stream(reader, cursor, cancel, unregister), schema)
        )

    def _stream(self, reader: pa.RecordBatchReader, cursor: duckdb.DuckDBPyConnection, cancel: CancelScope,
                unregister: object) -> Iterator[pa.RecordBatch]:
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (duckdb.Error, pa.ArrowException, OSError) as error:
                    # DuckDB's Arrow reader reports an interrupt (our cancel) as a plain OSError.
                    cancel.check()
                    raise self._error(error) from None
                yield batch
        finally:
            if callable(unregister):
                unregister()
            cursor.close()

    def _register_keys(self, cursor: duckdb.DuckDBPyConnection, query: FragmentQuery, *, empty: bool) -> None:
        for name, keys in query.key_tables.items():
            cursor.register(name, keys.slice(0, 0) if empty else keys)

    def _error(self, error: BaseException) -> Exception:
        if isinstance(error, duckdb.InterruptException):
            return QueryCancelled("the query was cancelled")
        return mesh_error(self.product, duckdb_failure(error), str(error))

    def close(self) -> None:
        self._connection = None
