"""MariaDB / MySQL products, read Arrow-natively through connectorx.

There is no Apache ADBC driver for MySQL. connectorx decodes the wire protocol in Rust straight
into Arrow; a DB-API driver needs a Python object per value before any batching. Measured on
this machine, one million rows of (int, bigint, decimal, double, varchar, date, datetime):
connectorx 0.52-0.64 s, mysqlclient with 64k-row ``fetchmany`` -> ``pa.array`` 5.4 s, PyMySQL
10.6 s. connectorx it is.

How connectorx shapes this module:

- It opens its own connection per statement (1.5 ms on loopback, measured), and when the
  engine is down or refuses the credentials its internal pool retries for 30 s before giving
  up. So every statement first leases a *control* connection (PyMySQL) from a bounded pool of
  ``pool_size`` and pings it: that bounds the statements running per product, fails within
  milliseconds with the engine's own error code when it is down or refuses us, and is where
  metadata queries (bound parameters) and ``KILL QUERY`` run. Nothing is opened before the
  first query, so a server starts while the engine is down; a failed connection is discarded
  and the next lease reconnects: recovery needs no restart.
- Streaming. connectorx's ``arrow`` mode releases the GIL but reads the whole result into
  memory (a hostile self join could abort the server). Its ``arrow_stream`` mode waits for each
  batch inside ``__next__`` holding the GIL (measured: a ticker thread got 1 of 100 ticks during
  a ``SELECT sleep(1)``, 43 of 228 while rows trickled in; even the canceller thread could not
  run), and its producer thread fills an unbounded channel (a consumer taking 0.2 s per batch:
  +451 MiB after 20 batches of 64k rows). So each fragment is read by ``arrow_stream`` in a
  *worker process* (``mysql_stream``, ``mysql_worker``): it streams Arrow IPC over a socket
  that the server reads a batch at a time, and it is paused when it reads too far ahead.
  Measured on 1M rows x 7 columns, 12 runs interleaved on a shared machine: whole read
  0.67 s (min) / 0.79 s (median), worker stream 0.63 / 0.80 s; the decoding's ~0.6 s of CPU
  is now the worker's (the server's own: 0.03 s). Reading the first 20 of 153 batches of a
  10M-row result grew the server's RSS by 16 MiB (whole read: 1021 MiB); with its consumer
  taking 1 s per batch the worker stayed within 64 MiB of its idle size (never paused: +985
  MiB in 8 s); a ticker thread gets 99 of 100 ticks during ``SELECT sleep(1)``.
  Ending a stream early kills the engine's statement (``KILL QUERY``) and the worker (a hard
  stop; a new one starts in ~0.1 s). An idle worker's RSS is ~85 MiB, ~30 MiB of it its
  own (the rest shared libraries); there are at most ``pool_size`` per product, started on
  first use and kept for the next fragments.
- Session settings ride on ``pre_execution_query``: the per-fragment timeout is the engine's
  own (MariaDB ``max_statement_time``, MySQL ``max_execution_time``), the time zone is UTC
  (TIMESTAMP columns come back as UTC) and the transaction is READ ONLY.
- What one connection costs (benchmarks/broad.py's inventory, 900,000 rows x 4 integer columns,
  SF 1, MariaDB 10.11, loaded 2-core machine): the engine's CPU ~120 ms (a scan without sending,
  ``SUM`` over the table: 80 ms), connectorx's decoding ~150 ms CPU; wall 270-290 ms through
  connectorx alone, the ``mariadb`` client 230-250 ms, this connector (worker process included)
  283-302 ms: the reader process adds ~15 ms. Tried and left as they are, each within noise:
  connectorx's binary protocol (``cxprotocol=binary``) against text, 16k-131k rows per batch,
  ``in_predicate_conversion_threshold`` on a 4,687-key IN-list (b22), and loopback TCP
  (``prefer_socket=false``) against what connectorx's driver does by default for a loopback
  address: it asks the server for ``@@socket`` and reconnects through that Unix socket (the
  process list shows the host ``localhost``, not ``127.0.0.1:<port>``). Grouping in MariaDB
  before shipping costs more than it saves unless it cuts rows several-fold: b65's 270,000 rows
  grouped to 54,000 took 127-146 ms against 114 ms for the raw rows (connectorx, 3 runs each,
  interleaved).
- Cancellation (``mysql_statement``): each statement carries a unique comment
  (``/* flightmesh:<token> */``); cancel finds it in ``information_schema.PROCESSLIST`` and runs
  ``KILL QUERY <id>``, and so does a stream cut short, before its worker is killed. The tests
  check the process list afterwards.
"""

from __future__ import annotations

import re
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import connectorx as cx
import pyarrow as pa
import pymysql
from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from flightmesh.mesh import (
    CancelScope,
    EngineError,
    EngineUnavailable,
    ProductSpec,
    QueryCancelled,
    QueryTimeout,
    Settings,
    UnknownTable,
)
from flightmesh.mesh.constraints import EngineConstraints
from flightmesh.mesh.statistics import TableStatistics

from . import mysql_semantics
from .address import EngineAddress, quoted_table
from .base import Capabilities, FragmentQuery, KeyDelivery, Pushdown, cast_batches
from .constraints import assemble, mysql_rows
from .engine_errors import mesh_error, mysql_failure
from .mysql_inline import MAX_ESTIMATE, read_inline
from .mysql_statement import StatementEnd, StatementKiller
from .mysql_stats import mysql_statistics
from .mysql_stream import FragmentStream, WorkerError, WorkerLost, WorkerPool
from .mysql_types import UnknownMySQLType, mysql_arrow_type, normalize_result_type
from .pool import pooled_engine_options
from .pooled import PooledConnector
from .stats import CachedRowEstimates, CachedTableStatistics, RowEstimates, TtlCache

__all__ = ["MySQLConnector"]

_BATCH_ROWS = 65_536
_BATCH_BYTES = 8 << 20          # a batch's target size, when the schema lets us guess row widths
_VARIABLE_WIDTH_GUESS = 64      # bytes per string / binary value, for that guess
_CONNECT_TIMEOUT_SECONDS = 5
_NET_WRITE_TIMEOUT_SECONDS = 86_400
_MARIADB_JOIN_CACHE_LEVEL = 4   # incremental hash joins allowed (BNLH); see _session

# Rendered by sqlglot's mysql dialect but absent from MariaDB 10.11 (or with other semantics);
# found by running each on the engine, re-checked by the conformance suite.
_MYSQL_MISSING: frozenset[type[exp.Expression]] = frozenset({
    exp.Lateral,             # MariaDB has no LATERAL (MySQL 8.0.14 does; one connector serves both)
    exp.Anonymous,           # a function sqlglot does not model: its meaning is the client dialect's
    exp.Corr, exp.CovarSamp, exp.CovarPop, exp.ApproxDistinct, exp.Median, exp.PercentileCont,
    exp.PercentileDisc, exp.RegexpLike, exp.RegexpExtract, exp.CountIf, exp.ArgMax, exp.ArgMin,
    exp.First, exp.Levenshtein, exp.StartsWith, exp.Contains, exp.SplitPart, exp.Cbrt, exp.IsNan,
    exp.Struct, exp.TimeToUnix, exp.DateFromParts, exp.Mode,
    exp.Filter,              # aggregate FILTER (WHERE ...)
    exp.ArrayAgg,            # rendered as GROUP_CONCAT: a string, not a list
    exp.Explode, exp.Array,  # no arrays at all
    exp.TimestampTrunc, exp.DateTrunc,  # rendered with DATE_FORMAT tricks that return NULL here
    exp.DayOfWeek,           # DAYOFWEEK counts Sunday = 1, DuckDB's dayofweek Sunday = 0
    exp.Bracket,             # rendered as x[0]: MariaDB has no indexing (and the offset is wrong)
    exp.TryCast,             # rendered as CAST, which gives 0 where TRY_CAST gives NULL
})


class MySQLConnector(PooledConnector[Any], CachedRowEstimates, CachedTableStatistics):
    driver_errors = (pymysql.MySQLError,)  # of the control connections; the workers report their own
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect="mysql",
        # Window functions and CTEs since MariaDB 10.2, INTERSECT / EXCEPT since 10.3. There is no
        # FULL OUTER JOIN, but sqlglot's mysql generator rewrites it as LEFT JOIN UNION ALL an
        # anti-joined RIGHT JOIN (the conformance suite checks the result), so OUTER_JOIN stays.
        pushdown=frozenset(Pushdown),
        missing=_MYSQL_MISSING,
        differences=mysql_semantics.DIFFERENCES,
        faithful=mysql_semantics.faithful,
        # Found by running a CAST to every mesh type on MariaDB (tests/connectors/test_cast_types.py).
        missing_types=frozenset({
            DType.INT128, DType.INTERVAL, DType.TIMESTAMPTZ, DType.UUID, DType.TIMESTAMP_S, DType.TIMESTAMP_MS,
            DType.TIMESTAMP_NS, DType.BLOB, DType.VARBINARY, DType.UINT, DType.USMALLINT, DType.UTINYINT,
        }),
        key_delivery=KeyDelivery.LITERALS,
        # connectorx widens every DECIMAL to (38, 10): results are cast to the planner's schema
        typed_results=False,
        index_driven=True,  # nested-loop joins, ordered by the indexes predicates can use
        # InnoDB stores a table in primary-key order. broad.py b18: 153 dates (6 of inventory's
        # 10) sent as COALESCE(inv_date_sk, NULL) IN (...) scanned all 900,000 rows; as a bare
        # IN the primary key's range reads the 540,000 it keeps (1,251 -> 556 ms with b18's
        # items, connectorx, 5 runs, loaded machine, medians).
        clustered_primary_key=True,
        # Key ranges of the clustered primary key's leading column are contiguous rows, each read
        # on a connection and reader process of its own; the bounds come from the index's two
        # ends (mysql_stats). Through the server, broad.py SF 1 with two ranges against one
        # (three servers alternated, 5 rounds, medians): b18 342 -> 242 ms, b22 388 -> 282,
        # b17 541 -> 452, b21 489 -> 413.
        partitioned_reads=True,
        # MariaDB sorts a constant IN-list and binary-searches it. broad.py b18: 5,281 item keys
        # were past the mesh's 5,000 and went as BETWEEN 9 AND 18000 (every item): 540,000 rows
        # read out instead of 158,000 (1,251 -> 556 ms with b18's dates, 5 runs, medians).
        literal_keys=20_000,
        # GROUP BY costs MariaDB more than shipping the rows it reads. broad.py SF 1's inventory
        # (900,000 rows) through connectorx, best of 3, load ~1: the rows 271 ms; grouped by
        # inv_warehouse_sk (5 groups) 1,085 ms and by inv_item_sk 1,261 (it walks the secondary
        # index, then looks each row up in the clustered one), by both 459 (a temporary table),
        # by the clustered key's leading inv_date_sk 217. b65's fragment pre-aggregated to
        # 54,000 groups took 228 ms where its 270,000 rows took 132. So groupings of many rows
        # go to the merge (planner/grouping_place.py); aggregates without GROUP BY stay here.
        grouping_row_cost=1.5,
    )

    def __init__(self, product: str, uri: str, *, password: str | None = None, pool_size: int = 4,
                 timeout_seconds: float | None = None, statistics_ttl_seconds: float = 300.0,
                 key_bounds: bool = False) -> None:
        super().__init__(product, pool_size=pool_size, timeout_seconds=timeout_seconds)
        # Read the primary key's bounds (mysql_stats) only where partitioned reads may use them:
        # they also sharpen range estimates, which moves plans (broad.py b65 went grouped in
        # MariaDB, the shape measured slower there), and with partitions off nothing needs them.
        self._key_bounds = key_bounds
        self.address = EngineAddress.parse(uri, default_port=3306, password=password, default_user="root")
        self._flavor: str | None = None   # "mariadb" or "mysql", learnt on first contact
        self._workers = WorkerPool()       # reader processes, started on the first fragment
        self.statistics = RowEstimates(statistics_ttl_seconds)
        self.column_statistics_cache = TtlCache(statistics_ttl_seconds)
        self._distinct: TtlCache[int | None] = TtlCache(statistics_ttl_seconds)

    @classmethod
    def from_spec(cls, product: ProductSpec, settings: Settings) -> MySQLConnector:
        engine = product.engine
        assert engine.uri is not None
        options = engine.options
        return cls(product.name, engine.uri, password=options.get("password"),
                   key_bounds=settings.partitioned_read_max > 1, **pooled_engine_options(options, settings))

    def identity(self) -> str:
        return self.address.identity.replace(f"{self.address.scheme}://", "mysql://", 1)

    # -- connections ----------------------------------------------------------------------------

    def _connect(self) -> Any:
        address = self.address
        return pymysql.connect(
            host=address.host, port=address.port, user=address.user, password=address.password or "",
            database=address.database or None, connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            autocommit=True, charset="utf8mb4",
            # read-only as a fragment's session is: tiny fragments run on these (mysql_inline)
            init_command="SET SESSION time_zone = '+00:00', SESSION tx_read_only = 1")

    def _open(self) -> Any:
        try:
            connection = self._connect()
        except pymysql.MySQLError as error:
            raise self._error(error) from None
        if self._flavor is None:
            self._flavor = "mariadb" if "mariadb" in connection.get_server_info().lower() else "mysql"
        return connection

    def _close(self, connection: Any) -> None:
        connection.close()

    def _check(self, connection: Any) -> None:
        # A live control connection: pinged, so a dead engine fails here, fast and clearly.
        connection.ping(reconnect=False)

    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lease() as connection, connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())

    def flavor(self) -> str:
        """"mariadb" or "mysql": they spell the statement timeout differently."""
        if self._flavor is None:
            self._rows("SELECT 1")
        assert self._flavor is not None
        return self._flavor

    def _session(self, timeout: float | None) -> list[str]:
        """The statements that set a fragment's session up, run by connectorx before the fragment.

        div_precision_increment: MySQL rounds AVG and "/" on exact numbers to 4 more decimals by
        default (AVG(qty) = 5.9552); 10 is what connectorx's decimals carry. net_write_timeout: a
        paused reader (see mysql_stream) must not make the engine drop us. The timeout is the
        engine's own (MariaDB seconds, MySQL milliseconds).

        join_cache_level (MariaDB only): it joins by nested loops unless told it may hash (level
        2 by default: block nested loops only). A fact joined with a small dimension, the usual
        fragment here, is then planned as the dimension's rows each looking up the fact through a
        secondary index: a random primary-key lookup per fact row. Level 4 lets it build a hash
        table on the dimension and scan the fact once (BNLH), ranges still used where a key list
        narrows it (EXPLAIN: hash_range). A join's result is the same, only the algorithm
        changes. Measured on benchmarks/broad.py's inventory fragments (connectorx, 7 runs
        interleaved, loaded machine, medians): 657 -> 213 ms (b17), 497 -> 199 ms (b21), 725 ->
        250 ms (b19); see tests/connectors/test_mysql_join_cache.py. MySQL 8 hashes on its own.

        MariaDB gets one SET of every assignment: connectorx runs each pre-execution statement as
        a round trip of its own on the fragment's fresh connection (``tx_read_only = 1`` is what
        ``SET SESSION TRANSACTION READ ONLY`` sets); tests/connectors/test_mysql_session.py. A
        small gain: a five-row fragment through a reader process, 150 runs interleaved, min 2.83
        -> 2.56 ms, medians within noise (5.4 ms each; 5.9 with no setup at all, load 4.5).
        """
        if self.flavor() == "mariadb":
            return ["SET " + ", ".join(f"SESSION {assignment}" for assignment in _mariadb_session(timeout))]
        # MySQL: kept one statement each, as tested there (no MySQL server here to test one SET on)
        milliseconds = 0 if timeout is None else max(1, int(timeout * 1000))
        return ["SET SESSION time_zone = '+00:00'", "SET SESSION TRANSACTION READ ONLY",
                "SET SESSION div_precision_increment = 10",
                f"SET SESSION net_write_timeout = {_NET_WRITE_TIMEOUT_SECONDS}",
                f"SET SESSION max_execution_time = {milliseconds}"]

    # -- metadata --------------------------------------------------------------------------------

    def _schema_and_name(self, source: str) -> tuple[str | None, str]:
        table = exp.to_table(source, dialect="mysql")
        return (table.db or None), table.name

    def table_names(self) -> list[str]:
        rows = self._rows(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_SCHEMA = DATABASE() FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') "
            "ORDER BY 1, 2"
        )
        return [name if in_default else f"{schema}.{name}" for schema, name, in_default in rows]

    def table_expression(self, source: str) -> exp.Table:
        return quoted_table(source, "mysql")

    def _where_table(self, source: str) -> tuple[str, tuple[str, ...]]:
        schema, name = self._schema_and_name(source)
        if schema is None:
            return "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (name,)
        return "TABLE_SCHEMA = %s AND TABLE_NAME = %s", (schema, name)

    def constraints(self, source: str) -> EngineConstraints:
        return assemble(mysql_rows(self._rows, *self._where_table(source)))

    def describe(self, source: str) -> pa.Schema:
        where, parameters = self._where_table(source)
        rows = self._rows(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE "
            f"FROM information_schema.COLUMNS WHERE {where} ORDER BY ORDINAL_POSITION", parameters)
        if not rows:
            raise UnknownTable(source)
        fields = []
        for name, data_type, column_type, nullable in rows:
            try:
                arrow_type = mysql_arrow_type(data_type, column_type)
            except UnknownMySQLType:
                raise EngineError(self.product, f"column {name} of {source} has type {column_type}, "
                                  "which flightmesh cannot map to Arrow exactly") from None
            fields.append(pa.field(name, arrow_type, nullable=nullable == "YES"))
        return pa.schema(fields)

    def _table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        where, parameters = self._where_table(source)
        named = self.table_expression(source).sql(dialect="mysql") if self._key_bounds else None
        return mysql_statistics(self._rows, where, parameters, schema, self.estimate_rows(source), named)

    def distinct_estimate(self, source: str, column: str) -> int | None:
        """Distinct values of ``column``: the sampled ``CARDINALITY`` of an index it leads; else None.

        Declaring it (``HasDistinctEstimates``) is what lets the planner judge a dynamic filter on
        MariaDB weak or not (``planner/key_slots``): without a count, a list of more than a few
        dozen keys was sent as a bare ``IN`` the engine drives an index range from. broad.py b22:
        463 item keys of 1,800 items, read through the secondary index as a random primary-key
        lookup per row, 181 ms; sent so that no index serves it, the fact is scanned and hashed,
        132 ms (b18 180 -> 82 ms, b19 282 -> 177 ms; connectorx, 9 runs interleaved, medians).
        """
        where, parameters = self._where_table(source)
        key = f"{source}\x00{column.lower()}"
        return self._distinct.get(key, lambda: self._cardinality(where, (*parameters, column)))

    def forget_table_statistics(self, source: str | None = None) -> None:
        super().forget_table_statistics(source)
        self._distinct.refresh()  # keyed by table and column: all go, the next ask is cheap

    def _cardinality(self, where: str, parameters: tuple[str, ...]) -> int | None:
        rows = self._rows(f"SELECT MAX(CARDINALITY) FROM information_schema.STATISTICS WHERE {where} "
                          "AND COLUMN_NAME = %s AND SEQ_IN_INDEX = 1", parameters)
        found = rows[0][0] if rows else None
        return int(found) if found is not None and int(found) > 0 else None

    def _estimate(self, source: str) -> int | None:
        # InnoDB's TABLE_ROWS is a sampled estimate, the kind of hint a planner wants; views have none.
        where, parameters = self._where_table(source)
        rows = self._rows(f"SELECT TABLE_ROWS, TABLE_TYPE FROM information_schema.TABLES WHERE {where}",
                          parameters)
        if not rows or rows[0][0] is None or rows[0][1] != "BASE TABLE":
            return None
        return int(rows[0][0])

    # -- queries ---------------------------------------------------------------------------------

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        if query.expected_schema is not None:
            return query.expected_schema
        # The control connection only bounds the statements running; the probe does not use it,
        # so it goes back to the pool even when the probe fails.
        connection = self._acquire(self.timeout_seconds)
        try:
            # LIMIT 0 in connectorx's "arrow" mode: in-process (it releases the GIL), no rows
            probe = cx.read_sql(self.address.uri("mysql"), f"SELECT * FROM ({query.sql}) AS fragment LIMIT 0",
                                return_type="arrow", pre_execution_query=self._session(self.timeout_seconds))
        except BaseException as error:
            raise self._error(error) from None
        finally:
            self._release(connection)
        return pa.schema([pa.field(f.name, normalize_result_type(f.type)) for f in probe.schema])

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        cancel.check()
        timeout = self._fragment_timeout(query)
        if query.estimated_rows is not None and query.estimated_rows <= MAX_ESTIMATE and \
                self.flavor() == "mariadb":
            inline = self._read_inline(query, timeout, cancel)
            if inline is not None:
                return inline
        # The control connection stays leased while the stream lasts: it bounds the statements
        # running per product, and it is where a cancel's KILL QUERY runs.
        connection = self._acquire(timeout, cancel)
        if query.on_connection is not None:
            query.on_connection()
        killer = StatementKiller(connection, uuid.uuid4().hex)
        unregister = cancel.on_cancel(killer.start)

        def release() -> None:
            unregister()
            killer.finish()
            self._release(connection)

        try:
            stream = self._workers.open(self.address.uri("mysql"), f"/* flightmesh:{killer.token} */ {query.sql}",
                                        self._session(timeout), _batch_rows(query.expected_schema))
        except BaseException as error:
            release()
            cancel.check()
            raise self._error(error) from None
        end = StatementEnd(stream, killer, release)
        schema = query.expected_schema or pa.schema(
            [pa.field(f.name, normalize_result_type(f.type)) for f in stream.schema])
        if len(stream.schema) != len(schema):
            end()
            raise EngineError(self.product, "the fragment returned an unexpected number of columns")
        batches = self._batches(stream, schema, cancel, end)
        # A reader dropped before its first batch never runs the generator's ``finally``.
        weakref.finalize(batches, end)
        return pa.RecordBatchReader.from_batches(schema, batches)

    def _read_inline(self, query: FragmentQuery, timeout: float | None,
                     cancel: CancelScope) -> pa.RecordBatchReader | None:
        """A tiny result read on the control connection (``mysql_inline``); None: use a worker."""
        connection = self._acquire(timeout, cancel)
        if query.on_connection is not None:
            query.on_connection()
        reusable = False
        try:
            # tx_read_only is the control connection's own (_connect): SET STATEMENT shows it unset
            assignments = [a for a in _mariadb_session(timeout) if not a.startswith("tx_read_only")]
            table, reusable = read_inline(connection, query.sql, assignments, self._connect,
                                          cancel.on_cancel)
        except pymysql.MySQLError as error:
            cancel.check()
            raise self._error(error) from None
        finally:
            self._release(connection, broken=not reusable)
        if table is None:
            return None
        schema = query.expected_schema or pa.schema(
            [pa.field(f.name, normalize_result_type(f.type)) for f in table.schema])
        if table.num_columns != len(schema):
            raise EngineError(self.product, "the fragment returned an unexpected number of columns")
        try:
            batches = list(cast_batches(iter(table.to_batches(max_chunksize=_BATCH_ROWS) or
                                             [pa.RecordBatch.from_pylist([], schema=table.schema)]), schema))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise EngineError(self.product, "a result value does not fit its declared type",
                              internal=str(error)) from None
        return pa.RecordBatchReader.from_batches(schema, iter(batches))

    def _batches(self, stream: FragmentStream, schema: pa.Schema, cancel: CancelScope,
                 end: Callable[[], None]) -> Iterator[pa.RecordBatch]:
        try:
            for batch in stream:
                cancel.check()
                try:
                    yield from cast_batches(iter([batch]), schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                    raise EngineError(self.product, "a result value does not fit its declared type",
                                      internal=str(error)) from None
        except (WorkerError, WorkerLost) as error:
            cancel.check()
            raise self._error(error) from None
        finally:
            end()

    # -- errors ----------------------------------------------------------------------------------

    def _error(self, error: BaseException) -> BaseException:
        if isinstance(error, (EngineError, QueryTimeout, QueryCancelled, UnknownTable)):
            return error
        if isinstance(error, WorkerLost):
            return EngineError(self.product, "the MySQL reader process stopped unexpectedly", internal=str(error))
        # connectorx raises pyo3's PanicException (a BaseException) for errors mid-stream;
        # from a worker it arrives as a WorkerError that kept the class name.
        kind = error.kind if isinstance(error, WorkerError) else type(error).__name__
        if not isinstance(error, Exception) and kind != "PanicException":
            return error  # KeyboardInterrupt and friends pass through untouched
        text = _error_text(error)
        code = _error_code(error)
        if code in (1969, 3024):
            return QueryTimeout(f"product {self.product}: the fragment ran past its time limit "
                                "and was stopped")
        if code == 1317:
            return QueryCancelled("the query was cancelled")
        if code in (1044, 1045, 1698):
            return EngineUnavailable(self.product, "the engine refused the credentials", internal=text)
        if code == 1049:
            return EngineUnavailable(self.product, "the database does not exist", internal=text)
        if code in (1146, 1109):
            return EngineError(self.product, "a table this product serves no longer exists in its engine",
                               internal=text)
        if code in (2002, 2003, 2006, 2013, 1053, 1927) or (code is None and _looks_unreachable(text)):
            return EngineUnavailable(self.product, "cannot connect to the engine", internal=text)
        failure = mysql_failure(code, text)
        if failure is not None:
            return mesh_error(self.product, failure, text)
        if kind == "PanicException":
            return EngineError(self.product, "the engine returned a value the MySQL reader cannot convert "
                               "(e.g. a TIME outside 00:00-24:00)", internal=text)
        return EngineError(self.product, "the engine rejected the fragment", internal=text)

    def close(self) -> None:
        self._workers.close()
        super().close()

    def excess_privileges(self) -> list[str]:
        """What the engine account may do beyond reading tables (``connectors.privileges``)."""
        from .privileges import mysql_excess_privileges

        # reuse=False: the review switched the session's role, so the connection is not reused
        with self._lease(reuse=False) as connection, connection.cursor() as cursor:
            return mysql_excess_privileges(cursor)


def _mariadb_session(timeout: float | None) -> list[str]:
    """A MariaDB fragment's session as ``name = value`` pairs (``MySQLConnector._session`` says why)."""
    return ["time_zone = '+00:00'", "tx_read_only = 1", "div_precision_increment = 10",
            f"net_write_timeout = {_NET_WRITE_TIMEOUT_SECONDS}", f"max_statement_time = {_mariadb_timeout(timeout)}",
            f"join_cache_level = {_MARIADB_JOIN_CACHE_LEVEL}"]


def _mariadb_timeout(timeout: float | None) -> str:
    """``max_statement_time``'s value: seconds, 0 for none (a due timeout still stops the statement)."""
    return f"{0 if timeout is None else max(timeout, 0.001):.3f}"


def _batch_rows(schema: pa.Schema | None) -> int:
    """Rows per batch: about ``_BATCH_BYTES`` each, so a wide row does not make batches huge."""
    if schema is None or len(schema) == 0:
        return _BATCH_ROWS
    width = 0
    for field in schema:
        try:
            width += max(1, field.type.bit_width // 8)
        except ValueError:  # strings and binaries have no fixed width
            width += _VARIABLE_WIDTH_GUESS
    return max(1024, min(_BATCH_ROWS, _BATCH_BYTES // width))


def _error_code(error: BaseException) -> int | None:
    """The engine's error number: PyMySQL carries it as args[0], connectorx only in its text."""
    if isinstance(error, pymysql.MySQLError) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    match = re.search(r"ERROR (\d+)", str(error))
    return int(match.group(1)) if match else None


def _error_text(error: BaseException) -> str:
    """The engine's message: PyMySQL's str() is the (number, message) tuple, connectorx's the text.

    The classification reads the message's start (``BIGINT value is out of range``), so an inline
    read (connectors/mysql_inline.py, PyMySQL) must hand over the message, not the tuple."""
    if isinstance(error, pymysql.MySQLError) and len(error.args) >= 2 and isinstance(error.args[1], str):
        return error.args[1]
    return str(error)


def _looks_unreachable(message: str) -> bool:
    lowered = message.lower()
    signs = ("connection refused", "could not connect", "ioerror", "io error", "broken pipe", "timed out",
             "connection reset", "unexpected eof", "driver error")
    return any(sign in lowered for sign in signs)
