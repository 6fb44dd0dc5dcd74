"""The merge engine: one embedded DuckDB that joins fragment streams, locked down (DESIGN.md §6).

One in-memory instance per runtime. Each query takes its own cursor, registers its fragments'
Arrow streams on it under the fragment names, runs the residual, and closes the cursor. The
instance reads no files, loads no extensions, and its configuration is locked before any query.
"""

from __future__ import annotations

import threading

import duckdb
import pyarrow as pa

from flightmesh.connectors.duckdb import lock_down
from flightmesh.connectors.engine_errors import duckdb_failure, mesh_error
from flightmesh.mesh import QueryError, Settings

__all__ = ["MergeEngine"]


class MergeEngine:
    def __init__(self, settings: Settings) -> None:
        self._connection = duckdb.connect(":memory:")
        self._connection.execute("SET preserve_insertion_order = true")
        lock_down(self._connection, threads=settings.merge_threads, memory_limit=settings.merge_memory_limit)
        self._lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:  # cursor() on one connection from many threads: serialize the call
            return self._connection.cursor()

    def schema_of(self, sql: str, inputs: dict[str, pa.Schema]) -> pa.Schema:
        """The schema ``sql`` produces over empty tables with the ``inputs`` schemas."""
        cursor = self.cursor()
        try:
            for name, schema in inputs.items():
                cursor.register(name, schema.empty_table())
            return cursor.sql(f"SELECT * FROM ({sql}) AS typed LIMIT 0").to_arrow_table().schema
        except (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException) as error:
            # Over empty tables only literals can fail: the client's or a policy's. The message
            # names the reason class; the executor quotes the value only if it is the client's.
            raise mesh_error(None, duckdb_failure(error), str(error), scope="the query does not type-check") from None
        except (duckdb.BinderException, duckdb.TypeMismatchException, duckdb.CatalogException,
                duckdb.ParserException) as error:
            # ParserException: sqlglot accepted a malformed call (EXISTS(-2)) and printed SQL that
            # DuckDB cannot read; still the client's statement, not an incident.
            # Typing runs over empty tables: its messages speak of types and of the client's own
            # literals, never of rows. Reported as the query's mistake, not an internal error.
            message = str(error).split("\n")[0].split(": ", 1)[-1]
            raise QueryError(f"the query does not type-check: {message}") from None
        finally:
            cursor.close()

    def close(self) -> None:
        self._connection.close()
