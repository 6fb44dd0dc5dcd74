"""Products on a Spark Connect endpoint (Apache Spark, Databricks, LakeSail), through ``adbc-driver-spark``.

Why this driver: it is an ADBC driver written in Go that speaks Spark Connect's gRPC protocol
and hands results over as Arrow, with no JVM and no PySpark on the client. PySpark's own client
would do too, but it pins a Spark version: Sail 0.7 refuses every session opened by a PySpark 4.3
client and accepts 4.2, so a PySpark in the server's environment is one more thing that can break
a Sail started beside it. Nothing here imports PySpark.

- ``uri``: ``sc://host:port``. Options: ``token`` (sent as ``Authorization: Bearer``, over TLS
  unless ``tls: false`` says otherwise), ``tls: true|false`` to force TLS on or off, ``user_id``
  (the Spark user of the session), ``session_id`` (pin every connection to one server session),
  ``pool_size``, ``timeout_seconds``.
- Sources are the engine's catalog tables (``db.table``) or global temporary views
  (``global_temp.orders``). A session-local temporary view lives in the session that made it;
  each pooled connection is a session of its own, so such a view cannot be a product's table.
- SQL is Spark SQL rendered by sqlglot (dialect ``spark``, backtick identifiers). What Spark
  computes otherwise than DuckDB is declared in ``spark_semantics``.
- Every session runs in UTC (``spark.sql.session.timeZone``), so ``TIMESTAMP`` values and casts of
  text to timestamps mean what they mean in the mesh dialect, whatever the cluster's default zone.
- Metadata goes through SQL (``SHOW DATABASES``, ``SHOW TABLES IN``, a ``LIMIT 0`` query for a
  schema): Spark Connect has no catalog calls the driver could use, and the engine's own result
  schema is the exact type of each column (``spark_types``).
- Statistics: ``DESCRIBE TABLE EXTENDED`` shows ``Statistics: N bytes, M rows`` for analyzed
  tables (Apache Spark, Databricks), and per column what ``ANALYZE ... FOR ALL COLUMNS`` kept
  (``spark_stats``); engines that keep none (Sail, global views) give no estimate.
- Cancellation and timeouts call the driver's cancel, which ends our call, and send Spark
  Connect's ``Interrupt`` for the connection's own session (``spark_interrupt``): the cluster
  stops the job, not just our reading of it. Each pooled connection is a session of its own,
  under a fresh session id, unless the descriptor pins one (``session_id``): then only the
  driver's cancel is sent, since an interrupt would stop every statement of the shared session.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import adbc_driver_manager
import pyarrow as pa
from sqlglot import exp

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
from flightmesh.mesh.statistics import TableStatistics

from .adbc_stream import cursor_batches
from .address import quoted_table
from .base import Capabilities, FragmentQuery, KeyDelivery, Pushdown, cast_batches
from .engine_errors import Failure, Problem, mesh_error
from .pool import pooled_engine_options
from .pooled import PooledConnector
from .spark_interrupt import interrupt_session
from .spark_semantics import DIFFERENCES, MISSING
from .spark_stats import spark_table_statistics, statistics_row_count
from .spark_types import mesh_schema
from .stats import CachedTableStatistics, TtlCache

__all__ = ["SparkConnector", "catalog_tables", "query_schema", "spark_failure", "table_schema"]

# OSError: the driver's stream can fail mid-read with a bare one (the endpoint went away); it is a
# lost endpoint, told apart from a refused statement by ``_lost``.
_DRIVER_ERRORS = (adbc_driver_manager.Error, pa.ArrowException, OSError)
# The driver's option names (adbc_driver_spark.DatabaseOptions), spelled here so that merely
# reading this module's capabilities needs no driver installed.
_TOKEN = "adbc.spark.token"
_TLS = "adbc.spark.tls.enabled"
_USER_ID = "adbc.spark.user_id"
_USER_AGENT = "adbc.spark.user_agent"
_SESSION_ID = "adbc.spark.session_id"
# Databases whose tables a session cannot share: none. ``global_temp`` is Spark's default name of
# the database of global temporary views, listed by SHOW TABLES IN but never by SHOW DATABASES.
_GLOBAL_TEMP = "global_temp"
_UTC = frozenset({"UTC", "Etc/UTC", "Z", "+00:00", "GMT", "Etc/GMT"})


class SparkConnector(CachedTableStatistics, PooledConnector[Any]):
    driver_errors = _DRIVER_ERRORS
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect="spark",
        pushdown=frozenset(Pushdown),
        missing=MISSING,
        key_delivery=KeyDelivery.LITERALS,
        typed_results=True,
        differences=DIFFERENCES,
    )

    def __init__(self, product: str, uri: str, *, token: str | None = None, tls: bool | None = None,
                 user_id: str | None = None, session_id: str | None = None, pool_size: int = 4,
                 timeout_seconds: float | None = None) -> None:
        parts = urlsplit(uri)
        if parts.scheme != "sc" or not parts.hostname:
            raise ValueError("expected sc://host:port")
        super().__init__(product, pool_size=pool_size, timeout_seconds=timeout_seconds)
        self.uri = f"sc://{parts.hostname}:{parts.port or 15002}"
        self._token = token
        self._tls = tls
        self._user_id = user_id
        self._session_id = session_id
        who = user_id or (f"token:{hashlib.sha256(token.encode()).hexdigest()[:12]}" if token else "anonymous")
        # A pinned session sees that session's temporary views: a statement may be merged only
        # with statements of the same session.
        session = f"/{session_id}" if session_id else ""
        self._identity = f"spark://{who}@{parts.hostname}:{parts.port or 15002}{session}"
        self._estimates: dict[str, int | None] = {}
        self._estimates_lock = threading.Lock()
        self.column_statistics_cache: TtlCache[TableStatistics] = TtlCache()
        self._sessions: dict[int, str] = {}   # id(connection) -> its session id, while it is open

    @classmethod
    def from_spec(cls, product: ProductSpec, settings: Settings) -> SparkConnector:
        engine = product.engine
        assert engine.uri is not None
        options = engine.options
        tls = options.get("tls")
        return cls(product.name, engine.uri, token=options.get("token"),
                   tls=None if tls is None else bool(tls), user_id=options.get("user_id"),
                   session_id=options.get("session_id"), **pooled_engine_options(options, settings))

    def identity(self) -> str:
        return self._identity

    # -- connections -----------------------------------------------------------------------------

    def _tls_on(self) -> bool | None:
        # A bearer token goes over TLS unless the descriptor says ``tls: false`` (a test endpoint):
        # the driver itself would send it in the clear to a plain ``sc://`` address.
        return self._tls if self._tls is not None else (True if self._token is not None else None)

    def _database_options(self, session: str) -> dict[str, str]:
        options = {_USER_AGENT: "flightmesh", _SESSION_ID: session}
        if self._token is not None:
            options[_TOKEN] = self._token
        tls = self._tls_on()
        if tls is not None:
            options[_TLS] = "true" if tls else "false"
        if self._user_id is not None:
            options[_USER_ID] = self._user_id
        return options

    def _open(self) -> Any:
        import adbc_driver_spark.dbapi as spark_dbapi

        session = self._session_id or str(uuid.uuid4())   # Spark takes only UUIDs
        try:
            connection = spark_dbapi.connect(self.uri, db_kwargs=self._database_options(session))
        except _DRIVER_ERRORS as error:
            raise self._error(error) from None
        self._sessions[id(connection)] = session
        try:
            # Also the first round trip: a dead or refusing endpoint fails here, classified.
            zone = _session_zone(connection)
        except _DRIVER_ERRORS as error:
            with contextlib.suppress(Exception):
                connection.close()
            raise self._error(error) from None
        if zone not in _UTC:
            with contextlib.suppress(Exception):
                connection.close()
            raise EngineUnavailable(self.product, "the Spark session's time zone is not UTC and cannot be set "
                                    "to UTC (spark.sql.session.timeZone)", internal=zone)
        return connection

    def _close(self, connection: Any) -> None:
        self._sessions.pop(id(connection), None)
        connection.close()

    def _stopper(self, connection: Any, cursor: Any) -> Any:
        """What a cancel or a timeout calls: the driver's cancel, then ``Interrupt`` on the cluster
        (in a thread of its own: the canceller does not wait for the endpoint's answer)."""
        session = None if self._session_id else self._sessions.get(id(connection))
        target = self.uri.removeprefix("sc://")

        def stop() -> None:
            cursor.adbc_cancel()
            if session is not None:
                threading.Thread(target=interrupt_session, args=(target, session, self._user_id or ""),
                                 kwargs={"tls": bool(self._tls_on()), "token": self._token},
                                 daemon=True, name="spark-interrupt").start()

        return stop

    # -- metadata --------------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        with self._lease() as connection:
            return catalog_tables(connection)

    def table_expression(self, source: str) -> exp.Table:
        return quoted_table(source, "spark")

    def describe(self, source: str) -> pa.Schema:
        with self._lease() as connection:
            schema = table_schema(connection, self.table_expression(source), _DRIVER_ERRORS)
        if schema is None:
            raise UnknownTable(source)
        return mesh_schema(schema)

    def estimate_rows(self, source: str) -> int | None:
        with self._estimates_lock:
            if source in self._estimates:
                return self._estimates[source]
        estimate = self._statistics_rows(source)
        with self._estimates_lock:
            self._estimates[source] = estimate
        return estimate

    def refresh_statistics(self, source: str | None = None) -> None:
        with self._estimates_lock:
            if source is None:
                self._estimates.clear()
            else:
                self._estimates.pop(source, None)
        self.forget_table_statistics(source)   # column statistics are as old as the row counts

    def _statistics_rows(self, source: str) -> int | None:
        sql = f"DESCRIBE TABLE EXTENDED {self.table_expression(source).sql('spark')}"
        try:
            with self._lease() as connection:
                rows = _rows(connection, sql)
        except (EngineError, EngineUnavailable, QueryTimeout):
            return None  # an estimate is optional: the planner does without
        return statistics_row_count(rows)

    def _table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        with self._lease() as connection:
            return spark_table_statistics(lambda sql: _rows(connection, sql),
                                          self.table_expression(source).sql("spark"), schema)

    # -- queries ---------------------------------------------------------------------------------

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        if query.expected_schema is not None:
            return query.expected_schema
        # The driver cannot ask for a plan's schema alone (ExecuteSchema is not implemented):
        # the statement wrapped so that it produces no row gives the same schema.
        with self._lease() as connection:
            schema = query_schema(connection, query.sql)
        return mesh_schema(schema)

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        cancel.check()
        timeout = self._fragment_timeout(query)
        connection = self._acquire(timeout, cancel)
        cursor = None
        unregister = None
        expired = threading.Event()
        # Once stopped, the connection is never reused: the Interrupt runs in a thread of its own
        # and, arriving late, would end the next statement of the same session (seen under load:
        # the next count(*) came back with no row at all).
        stopped = threading.Event()
        watchdog: threading.Timer | None = None
        try:
            cursor = connection.cursor()
            interrupt = self._stopper(connection, cursor)

            def stop() -> None:
                stopped.set()
                interrupt()

            unregister = cancel.on_cancel(stop)
            if timeout is not None:
                # Spark Connect has no statement timeout of its own: past the limit the same
                # Interrupt as a cancel stops the job on the cluster.
                watchdog = _watchdog(timeout, expired, stop)
            cursor.execute(query.sql)
            reader = cursor.fetch_record_batch()
        except BaseException as error:
            if watchdog is not None:
                watchdog.cancel()
            if unregister is not None:
                unregister()
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
            self._release(connection, broken=stopped.is_set() or not isinstance(error, _DRIVER_ERRORS)
                          or _lost(error))
            if isinstance(error, _DRIVER_ERRORS):
                raise self._query_error(error, cancel, expired) from None
            raise
        schema = query.expected_schema or mesh_schema(reader.schema)

        def stop_watching() -> None:
            if watchdog is not None:
                watchdog.cancel()
            assert unregister is not None
            unregister()

        batches = cursor_batches(
            reader, cursor, driver_errors=_DRIVER_ERRORS,
            translate=lambda e: self._query_error(e, cancel, expired),
            unregister=stop_watching,
            release=lambda broken: self._release(connection, broken=broken or stopped.is_set()),
        )
        return pa.RecordBatchReader.from_batches(
            schema, cast_batches(_unless_stopped(batches, stopped, lambda: self._stop_error(cancel, expired)), schema))

    # -- errors ----------------------------------------------------------------------------------

    def _stop_error(self, cancel: CancelScope, expired: threading.Event) -> BaseException:
        if expired.is_set():
            return QueryTimeout(f"product {self.product}: the fragment ran past its time limit and was stopped")
        return cancel.stopped() or QueryCancelled("the query was cancelled")

    def _query_error(self, error: BaseException, cancel: CancelScope, expired: threading.Event) -> BaseException:
        if expired.is_set() or cancel.stopped() is not None:
            return self._stop_error(cancel, expired)
        return self._error(error)

    def _error(self, error: BaseException) -> BaseException:
        text = str(error)
        lowered = text.lower()
        if "unauthenticated" in lowered or "permission_denied" in lowered.replace(" ", "_"):
            return EngineUnavailable(self.product, "the Spark Connect endpoint refused the credentials",
                                     internal=text)
        if _lost(error):
            return EngineUnavailable(self.product, "cannot reach the Spark Connect endpoint", internal=text)
        if "cancelled" in lowered or "canceled" in lowered or "interrupted" in lowered:
            return QueryCancelled("the query was cancelled")
        failure = spark_failure(text)
        return mesh_error(self.product, failure, text)


def catalog_tables(connection: Any) -> list[str]:
    """Every catalog table and global view a Spark SQL engine lists (``db.table``), through SQL:
    neither Spark Connect nor Sail's Flight SQL endpoint answers a catalog call."""
    databases = [row[0] for row in _rows(connection, "SHOW DATABASES")]
    names = []
    for database in [*databases, _GLOBAL_TEMP]:
        for row in _rows(connection, f"SHOW TABLES IN {_quoted(database)}"):
            owner, table = row[0], row[1]
            # a session's own temporary views come with an empty database: not shareable
            if owner:
                names.append(f"{owner}.{table}")
    return sorted(set(names))


def query_schema(connection: Any, sql: str) -> pa.Schema:
    """The schema of a query's result, from the query run to produce no row (Spark Connect and
    Sail's Flight SQL endpoint both lack a schema-only call)."""
    return _schema(connection, f"SELECT * FROM ({sql}) AS flightmesh_schema LIMIT 0")


def table_schema(connection: Any, table: exp.Table, driver_errors: tuple[type[BaseException], ...]) -> pa.Schema | None:
    """A table's schema from a query that produces no row; None when the engine says there is no
    such table (a clean answer: the connection stays usable, in the pool)."""
    try:
        return _schema(connection, f"SELECT * FROM {table.sql('spark')} LIMIT 0")
    except driver_errors as error:
        if not _is_missing_table(error):
            raise
        return None


def spark_failure(message: str) -> Failure:
    """Classify a Spark error by its error class (``[DIVIDE_BY_ZERO]``...), never by its values.

    Spark's messages quote values from rows and the fragment's literals (a policy's among them),
    so nothing of the message itself is passed on.
    """
    upper = message.upper()
    if "DIVIDE_BY_ZERO" in upper or "DIVISION BY ZERO" in upper:
        return Failure(Problem.DIVISION_BY_ZERO)
    if "ARITHMETIC_OVERFLOW" in upper or "NUMERIC_VALUE_OUT_OF_RANGE" in upper or "OVERFLOW" in upper:
        return Failure(Problem.OVERFLOW)
    # Sail's own (DataFusion's) words for a value a cast cannot hold: "Can't cast value 300 to type Int8"
    if "CAST_INVALID_INPUT" in upper or "CANNOT_PARSE" in upper or "CAST_OVERFLOW" in upper \
            or "CAN'T CAST VALUE" in upper:
        return Failure(Problem.CONVERSION)
    if "DATETIME" in upper and ("INVALID" in upper or "FIELD_OUT_OF_BOUNDS" in upper):
        return Failure(Problem.INVALID_DATETIME)
    if "OUT OF MEMORY" in upper or "RESOURCES_EXHAUSTED" in upper or "RESOURCE_EXHAUSTED" in upper:
        return Failure(Problem.RESOURCES)
    if any(sign in upper for sign in ("PARSE_SYNTAX_ERROR", "UNRESOLVED", "NOT FOUND", "NOT_FOUND",
                                      "CANNOT RESOLVE", "UNSUPPORTED", "NOT SUPPORTED", "NOT IMPLEMENTED")):
        return Failure(Problem.COMPILE)
    return Failure(Problem.ENGINE)


# -- the driver, in small pieces ----------------------------------------------------------------


def _run(connection: Any, sql: str) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        cursor.fetch_arrow_table()
    finally:
        cursor.close()


def _session_zone(connection: Any) -> str:
    """Set the session's zone to UTC where the engine lets SQL set it (Apache Spark, Databricks);
    Sail takes no such statement, so its zone is read: it must already be UTC. ``SET TIME ZONE`` is
    Spark's own statement for it: Apache Spark 4.3 refuses ``SET spark.sql.session.timeZone = 'UTC'``
    (the quotes are kept as part of the zone's name)."""
    with contextlib.suppress(*_DRIVER_ERRORS):
        _run(connection, "SET TIME ZONE 'UTC'")
    return str(_rows(connection, "SELECT current_timezone()")[0][0])


def _rows(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _schema(connection: Any, sql: str) -> pa.Schema:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        schema: pa.Schema = cursor.fetch_arrow_table().schema
        return schema
    finally:
        cursor.close()


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("spark")


def _watchdog(seconds: float, expired: threading.Event, stop: Any) -> threading.Timer:
    def fire() -> None:
        expired.set()
        with contextlib.suppress(Exception):
            stop()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def _is_missing_table(error: BaseException) -> bool:
    upper = str(error).upper()
    return "TABLE_OR_VIEW_NOT_FOUND" in upper or "TABLE NOT FOUND" in upper or "SCHEMA_NOT_FOUND" in upper \
        or "DATABASE NOT FOUND" in upper or "VIEW NOT FOUND" in upper


def _lost(error: BaseException) -> bool:
    if isinstance(error, OSError):
        # a bare OSError names the endpoint gone, unless it carries a Spark error class
        return spark_failure(str(error)).problem is Problem.ENGINE
    lowered = str(error).lower()
    return lowered.startswith("io:") or any(
        sign in lowered for sign in ("connection refused", "unavailable", "transport is closing", "connection reset",
                                     "error reading from server", "connection error", "handshake failed", "eof"))


def _unless_stopped(batches: Iterator[pa.RecordBatch], stopped: threading.Event,
                    error: Callable[[], BaseException]) -> Iterator[pa.RecordBatch]:
    """The batches, then ``error()`` if the statement was stopped meanwhile.

    A cancel that reaches the driver before its call is under way does not end the call; the
    Interrupt then does, and Spark Connect (Sail at least) answers an interrupted statement with
    no rows and no error: such an end is never passed on as a complete result.
    """
    yield from batches
    if stopped.is_set():
        raise error()
