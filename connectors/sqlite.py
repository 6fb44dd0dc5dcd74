"""SQLite products: a database file, read through the ADBC SQLite driver, opened read-only.

SQLite's types are per value, not per column: the driver guesses Arrow types from the rows it
sees (DECIMAL comes back as double, DATE as text, BOOLEAN as integer). So this connector trusts
only declared column types (``describe``) and casts every result to the schema the planner
expects (``typed_results=False``).

Stopping: the driver cannot cancel a statement, so every connection carries flightmesh's own
small extension (``sqlite_interrupt.py`` explains it). A cancel, or the fragment's timeout,
stops the running statement within milliseconds, also before its first row, and the fragment
ends with QueryCancelled or QueryTimeout. Without the built extension a warning is logged once
and both take effect at the next batch boundary only.

Connections are pooled (``_MAX_CONNECTIONS``): fragments run on short-lived threads, and one
connection per thread would leave one open file per fragment ever run. Each keeps a large page
cache under one process-wide bound (``_SESSION_PRAGMAS``), so a reused connection reads the
file's hot pages from memory; the file is never memory-mapped (SIGBUS on truncation).
"""

from __future__ import annotations

import contextlib
import functools
import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa
from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from flightmesh.mesh import (
    CancelScope,
    EngineError,
    EngineUnavailable,
    FlightmeshError,
    ProductSpec,
    QueryCancelled,
    QueryError,
    QueryTimeout,
    Settings,
    UnknownTable,
)
from flightmesh.mesh.constraints import EngineConstraints
from flightmesh.mesh.statistics import TableStatistics

from . import sqlite_semantics
from .base import Capabilities, FragmentQuery, KeyDelivery, Pushdown, cast_batches
from .constraints import assemble, sqlite_rows
from .engine_errors import Problem, mesh_error, sqlite_failure
from .pool import ConnectionPool, PoolTimeout, engine_timeout
from .sqlite_interrupt import RunningStatement, Watch, interrupt_library
from .sqlite_stats import sqlite_statistics
from .stats import CachedTableStatistics, TtlCache

__all__ = ["SQLiteConnector", "sqlite_type"]

_BATCH_ROWS = 65_536
# SQLite's page cache. Its default, 2 MiB per connection, holds almost nothing of a product's
# file: index-driven fragments (a join through an index, dynamic-filter lookups) read pages at
# random, and each miss is a pread() again: on TPC-H SF 1, q11's fragment spent 51 of its 107 ms
# of CPU in the kernel and q09's 81 of 191; cached, 67 and 147 ms (issue 11). So a connection
# may cache up to _CONNECTION_CACHE_BYTES, allocated only as pages are read (a cache smaller than
# the hot pages thrashes: 128 MiB on the 173 MiB SF 1 file saved a third of what 256 MiB did).
# All connections of the driver's SQLite together stop growing at _PAGE_CACHE_BYTES:
# sqlite3_soft_heap_limit64, which PRAGMA soft_heap_limit sets for the whole library (linked
# statically into the driver, so ours alone). Past it each cache recycles its own pages; a
# connection opened then (more than four busy at once on big files) keeps a small cache, as all
# did before. Nothing is given back while a connection lives (the driver's SQLite is built
# without SQLITE_ENABLE_MEMORY_MANAGEMENT).
# Not mmap_size, though it saves the same reads: a file truncated in place while mapped (a
# ``cp`` over the product's file mid-query) kills the whole server with SIGBUS, where a pread()
# fails that one fragment with "database disk image is malformed" (measured, SQLite 3.53.1).
_CONNECTION_CACHE_BYTES = 256 * 1024 * 1024
_PAGE_CACHE_BYTES = 1024 * 1024 * 1024
_SESSION_PRAGMAS = (f"PRAGMA cache_size = -{_CONNECTION_CACHE_BYTES // 1024}",  # negative: KiB, not pages
                    f"PRAGMA soft_heap_limit = {_PAGE_CACHE_BYTES}")
# Statements running at once per product. Far more than the cores that run them, so no queue in
# practice; a bound, so a burst of queries cannot open connections (files, caches) without end.
_MAX_CONNECTIONS = 32

_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")


def sqlite_type(declared: str) -> pa.DataType:
    """Arrow type for a declared SQLite column type, following SQLite's affinity rules."""
    text = declared.strip().upper()
    decimal = _DECIMAL.match(text)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2) or 0)
        return pa.decimal128(min(max(precision, 1), 38), min(scale, 38))
    if text in ("DATE",):
        return pa.date32()
    if text in ("DATETIME", "TIMESTAMP"):
        return pa.timestamp("us")
    if text in ("BOOLEAN", "BOOL"):
        return pa.bool_()
    if "INT" in text:
        return pa.int64()
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")) or text == "":
        return pa.string()
    if "BLOB" in text:
        return pa.binary()
    if any(word in text for word in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return pa.float64()  # NUMERIC affinity without precision


def _configure(connection: Any) -> None:
    """The session pragmas (``_SESSION_PRAGMAS``) on a new connection, before its first statement."""
    cursor = connection.cursor()
    try:
        for pragma in _SESSION_PRAGMAS:
            cursor.execute(pragma)
            cursor.fetchall()
    finally:
        cursor.close()


@dataclass
class _Session:
    connection: Any
    watch: Watch | None  # None: the interrupt extension is not available


class SQLiteConnector(CachedTableStatistics):
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect="sqlite",
        # SQLite has window functions (3.25+) and everything else we push; FULL OUTER JOIN
        # arrived in 3.39, which Python wheels ship, so OUTER_JOIN stays declared.
        # No correlated subqueries: SQLite runs one once per outer row (EXPLAIN QUERY PLAN:
        # CORRELATED SCALAR SUBQUERY over a SCAN), with no decorrelation and no cache per outer
        # value. benchmarks/broad.py b15 at SF 1 (items priced over their category's average,
        # 18,000 items) ran 56 s in SQLite and then timed out; the merge DuckDB decorrelates it.
        pushdown=frozenset(Pushdown) - {Pushdown.CORRELATED_SUBQUERY},
        # Found by the conformance suite: rendered from DuckDB SQL, run on SQLite, compared.
        missing=frozenset({exp.StddevSamp, exp.StddevPop, exp.Stddev, exp.VariancePop, exp.Variance,
                           exp.Corr, exp.CovarSamp, exp.CovarPop, exp.ApproxDistinct, exp.Median,
                           exp.PercentileCont, exp.PercentileDisc, exp.RegexpLike, exp.RegexpExtract,
                           exp.RegexpReplace, exp.ArgMax, exp.ArgMin, exp.ArrayAgg, exp.Array, exp.Mode,
                           exp.StartsWith, exp.Contains, exp.SplitPart, exp.Levenshtein, exp.Left, exp.Right,
                           exp.Pad, exp.Reverse, exp.MD5, exp.Cbrt, exp.IsNan, exp.TimestampTrunc,
                           exp.DateTrunc, exp.DateDiff, exp.DateFromParts, exp.TimeToStr, exp.DayOfWeek,
                           exp.TryCast, exp.Extract, exp.Lateral,
                           exp.Bracket}),  # rendered as x[0]: SQLite reads [0] as a quoted name
        # Found by rendering a CAST to every mesh type for the engine (tests/connectors/test_cast_types.py).
        missing_types=frozenset({
            DType.INT128, DType.UTINYINT, DType.USMALLINT, DType.UINT, DType.UBIGINT, DType.TIMESTAMP_S,
            DType.TIMESTAMP_MS, DType.TIMESTAMP_NS, DType.INTERVAL, DType.TIMESTAMPTZ, DType.UUID
        }),
        differences=sqlite_semantics.DIFFERENCES,
        faithful=sqlite_semantics.faithful,
        key_delivery=KeyDelivery.LITERALS,
        typed_results=False,
        index_driven=True,
        # GROUP BY, DISTINCT and COUNT(DISTINCT) sort every input row into a temporary B-tree
        # (EXPLAIN QUERY PLAN: USE TEMP B-TREE FOR GROUP BY), unless an index already orders
        # the keys. Read through the ADBC driver from the TPC-H SF 1 file (warm cache, medians
        # of 3): part grouped by p_type 74 ms against 28 ms for shipping its 200,000 p_type
        # values; partsupp's sum per ps_suppkey 400 ms against 140 ms for its 800,000 rows;
        # q16's join grouped with COUNT(DISTINCT) 92 ms against 71 ms for its 118,000 rows.
        grouping_row_cost=2.0,
        # Two key ranges of TPC-H SF 1 q11's fragment (partsupp joined to GERMANY's suppliers,
        # 31,680 rows) on two connections in two threads: 20.8 ms against 40.0 for one (best of
        # 7, load ~0.5); the driver reads without the GIL. Through the server q11 went from 72.7
        # to 50.3 ms (mesh/settings.py has the figures that made two ranges the default).
        partitioned_reads=True,
        # sqlite3WhereCodeOneLoopStart codes the remaining terms of each loop in WHERE order
        # (correlated subqueries last): TPC-H q16's part scan took 27 ms with p_size IN (...)
        # written last, 21 ms with it first.
        filters_in_written_order=True,
    )

    def __init__(self, product: str, path: Path, *, timeout_seconds: float | None = None) -> None:
        self.product = product
        self.path = Path(path).resolve()
        self.timeout_seconds = timeout_seconds
        self._pool: ConnectionPool[_Session] = ConnectionPool(self._open, self._close, _MAX_CONNECTIONS)
        self._distinct: dict[tuple[str, str], int | None] = {}
        self.column_statistics_cache: TtlCache[TableStatistics] = TtlCache()

    @classmethod
    def from_spec(cls, product: ProductSpec, settings: Settings) -> SQLiteConnector:
        engine = product.engine
        assert engine.path is not None
        return cls(product.name, engine.path, timeout_seconds=engine_timeout(engine.options, settings))

    def identity(self) -> str:
        return f"sqlite:{self.path}"

    # -- connections -----------------------------------------------------------------------------

    def _open(self) -> _Session:
        # A pooled connection moves between threads, one at a time: the driver's SQLite is
        # built THREADSAFE=1 (serialized), so that is safe.
        try:
            connection = adbc_sqlite.connect(f"file:{self.path}?mode=ro", autocommit=True)
        except Exception as error:
            raise EngineUnavailable(self.product, "cannot open the database file", internal=str(error)) from None
        try:
            _configure(connection)
        except Exception as error:
            with contextlib.suppress(Exception):
                connection.close()
            raise EngineUnavailable(self.product, "cannot set up the database connection",
                                    internal=str(error)) from None
        library = interrupt_library()
        if library is None:
            return _Session(connection, None)
        try:
            return _Session(connection, library.attach(connection))
        except Exception as error:
            # Fail closed: loading may still be switched on, and a connection that cannot be
            # stopped is the resource hole this extension closes.
            with contextlib.suppress(Exception):
                connection.close()
            raise EngineUnavailable(self.product, "cannot set up the database connection",
                                    internal=str(error)) from None

    @staticmethod
    def _close(session: _Session) -> None:
        session.connection.close()

    def _lease(self, timeout: float | None, cancel: CancelScope | None = None) -> _Session:
        if not self.path.is_file():
            raise EngineUnavailable(self.product, f"database file {self.path.name} is missing")
        try:
            return self._pool.acquire(timeout, should_stop=cancel.check if cancel is not None else None)
        except PoolTimeout:
            raise QueryTimeout(f"product {self.product}: no free engine connection in time") from None

    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        session = self._lease(self.timeout_seconds)
        try:
            cursor = session.connection.cursor()
            try:
                cursor.execute(sql, parameters)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        finally:
            self._pool.release(session)

    def table_names(self) -> list[str]:
        rows = self._rows("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                          "AND name NOT LIKE 'sqlite_%' ORDER BY name")
        return [row[0] for row in rows]

    def table_expression(self, source: str) -> exp.Table:
        return exp.table_(exp.to_identifier(source, quoted=True))

    def describe(self, source: str) -> pa.Schema:
        rows = self._rows("SELECT name, type, \"notnull\" FROM pragma_table_info(?)", (source,))
        if not rows:
            raise UnknownTable(source)
        return pa.schema([pa.field(name, sqlite_type(declared or ""), nullable=not notnull)
                          for name, declared, notnull in rows])

    def constraints(self, source: str) -> EngineConstraints:
        return assemble(sqlite_rows(self._rows, source))

    def _table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        return sqlite_statistics(self._rows, source, self.table_expression(source).sql("sqlite"), schema,
                                 self.estimate_rows(source))

    def estimate_rows(self, source: str) -> int | None:
        # sqlite_stat1 exists only after ANALYZE; a count on a rowid table is cheap enough here.
        try:
            rows = self._rows(f"SELECT count(*) FROM {self.table_expression(source).sql('sqlite')}")
        except Exception:
            return None
        return int(rows[0][0]) if rows else None

    def distinct_estimate(self, source: str, column: str) -> int | None:
        """Distinct values of ``column``, from ``sqlite_stat1`` (ANALYZE) or the rowid; else None.

        stat1 holds, per index, "rows avg1 avg2 ...": avg1 rows share each value of the
        index's first column, so rows / avg1 is its number of distinct values.
        """
        key = (source, column.lower())
        if key in self._distinct:
            return self._distinct[key]
        estimate = None
        try:
            for (name,) in self._rows("SELECT name FROM pragma_index_list(?)", (source,)):
                first = self._rows("SELECT name FROM pragma_index_info(?) WHERE seqno = 0", (name,))
                if not first or str(first[0][0]).lower() != column.lower():
                    continue
                stats = self._rows("SELECT stat FROM sqlite_stat1 WHERE tbl = ? AND idx = ?", (source, name))
                if stats:
                    numbers = [int(part) for part in str(stats[0][0]).split() if part.isdigit()]
                    if len(numbers) >= 2 and numbers[1] > 0:
                        estimate = max(1, round(numbers[0] / numbers[1]))  # avg is rounded up
                        break
            if estimate is None:
                declared = self._rows('SELECT name, pk, type FROM pragma_table_info(?)', (source,))
                keys = [row for row in declared if row[1]]
                if len(keys) == 1 and str(keys[0][0]).lower() == column.lower() and "INT" in str(keys[0][2]).upper():
                    estimate = self.estimate_rows(source)  # an INTEGER PRIMARY KEY: one row per value
        except Exception:
            estimate = None
        self._distinct[key] = estimate
        return estimate

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        if query.expected_schema is None:
            raise QueryError("internal: a SQLite fragment needs the planner's expected schema")
        return query.expected_schema

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        schema = self.result_schema(query)
        cancel.check()
        timeout = query.timeout_seconds if query.timeout_seconds is not None else self.timeout_seconds
        session = self._lease(timeout, cancel)
        if query.on_connection is not None:
            query.on_connection()
        statement = RunningStatement(session.watch, timeout)
        unregister = cancel.on_cancel(statement.stop)
        cursor = None
        try:
            cursor = session.connection.cursor()
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(_BATCH_ROWS)})
            cursor.execute(query.sql)  # runs the statement up to its first batch
            reader = cursor.fetch_record_batch()
        except BaseException as error:
            self._finish(statement, session, unregister, cursor, None)
            if isinstance(error, Exception) and not isinstance(error, FlightmeshError):
                raise self._failure(error, cancel, statement, "the engine rejected the fragment") from None
            raise
        finish = functools.partial(self._finish, statement, session, unregister, cursor, reader)
        batches = self._stream(reader, statement, cancel, schema, finish)
        # A stream dropped before its first read never enters its ``finally``: the connection
        # must go back to the pool all the same.
        weakref.finalize(batches, finish)
        return pa.RecordBatchReader.from_batches(schema, cast_batches(batches, schema))

    def _stream(self, reader: pa.RecordBatchReader, statement: RunningStatement, cancel: CancelScope,
                schema: pa.Schema, finish: Callable[[], None]) -> Iterator[pa.RecordBatch]:
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except Exception as error:
                    raise self._failure(error, cancel, statement, "the engine failed while streaming") from None
                # Batch boundaries are where a stop takes effect without the extension.
                cancel.check()
                if statement.expired():
                    raise self._timed_out()
                if batch.num_columns != len(schema):
                    raise EngineError(self.product, "the fragment returned an unexpected number of columns")
                # Names come from the planner; SQLite may spell expression columns differently.
                yield pa.RecordBatch.from_arrays(batch.columns, names=schema.names)
        finally:
            finish()

    def _finish(self, statement: RunningStatement, session: _Session, unregister: Callable[[], None],
                cursor: Any, reader: pa.RecordBatchReader | None) -> None:
        """Release the statement's connection; once, however many ways the stream ends."""
        if not statement.finish():  # from here on no stop reaches the connection
            return
        unregister()
        for resource in (reader, cursor):
            if resource is not None:
                with contextlib.suppress(Exception):
                    resource.close()
        # A failed or stopped statement leaves an SQLite connection as it was: keep it.
        self._pool.release(session)

    def _failure(self, error: Exception, cancel: CancelScope, statement: RunningStatement,
                 detail: str) -> FlightmeshError:
        """The mesh's error for a driver error: a stop we asked for is QueryCancelled/QueryTimeout."""
        try:
            cancel.check()
        except (QueryCancelled, QueryTimeout) as stopped:
            return stopped
        if statement.expired():
            return self._timed_out()
        failure = sqlite_failure(str(error))
        if failure.problem is Problem.ENGINE:
            return EngineError(self.product, detail, internal=str(error))
        return mesh_error(self.product, failure, str(error))

    def _timed_out(self) -> QueryTimeout:
        return QueryTimeout(f"product {self.product}: the fragment ran past its time limit and was stopped")

    def close(self) -> None:
        self._pool.close()  # connections still streaming close when their stream ends
