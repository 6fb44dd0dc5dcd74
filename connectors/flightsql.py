"""Products served by another Flight SQL server, read through the ADBC Flight SQL driver.

The remote may be any Flight SQL server; the intended one is another flightmesh node: a domain
runs its own node next to its data, and a central node federates it (a mesh of meshes). The
remote applies its own policies to everything we send, so they hold at both nodes.

- ``uri``: ``grpc://host:port`` or ``grpc+tls://host:port`` (``tls_root_certs``: a PEM file or
  the PEM text; ``tls_skip_verify: true`` for tests only); ``username``/``password`` (Basic
  handshake, the remote returns a bearer token) or ``token`` (sent as ``Bearer``).
- Dialect: the remote's. Capabilities are class data, so this class declares DuckDB's dialect,
  which is what a flightmesh node speaks by default.
- Sources are the remote's names, e.g. ``sales.orders`` (remote product ``sales``).
- Connections: a bounded pool of ADBC connections (``pool_size``), opened on first use.
- Timeouts are the driver's gRPC deadlines; cancellation cancels the gRPC call, which a
  flightmesh remote turns into cancelling its own engines' queries.
- No row estimates: Flight SQL has no statistics call.
- ``dialect: spark``: the remote is LakeSail's Flight SQL endpoint (``sail flight server``), which
  runs Spark SQL and answers statements only; ``flightsql_spark`` renders Spark SQL and reads
  metadata through SQL.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as adbc_flight
import adbc_driver_manager
import pyarrow as pa
from sqlglot import exp

from flightmesh.mesh import (
    CancelScope,
    DescriptorError,
    EngineError,
    EngineUnavailable,
    ProductSpec,
    QueryCancelled,
    QueryTimeout,
    Settings,
    UnknownTable,
)

from .adbc_stream import cursor_batches
from .address import quoted_table
from .base import Capabilities, FragmentQuery, KeyDelivery, Pushdown, cast_batches
from .engine_errors import mesh_error, remote_failure
from .pool import pooled_engine_options
from .pooled import PooledConnector

__all__ = ["FlightSQLConnector"]

_OPTIONS = adbc_driver_flightsql.DatabaseOptions
_DRIVER_ERRORS = (adbc_driver_manager.Error, pa.ArrowException, OSError)


class FlightSQLConnector(PooledConnector[Any]):
    driver_errors = _DRIVER_ERRORS
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect="duckdb",
        pushdown=frozenset(Pushdown),
        # The remote refuses table functions and anything off its allow-list; an anonymous
        # function would be refused there, so it stays here.
        missing=frozenset({exp.Anonymous}),
        key_delivery=KeyDelivery.LITERALS,
        typed_results=True,
    )

    def __init__(self, product: str, uri: str, *, username: str | None = None, password: str | None = None,
                 token: str | None = None, tls_root_certs: str | None = None, tls_skip_verify: bool = False,
                 pool_size: int = 4, timeout_seconds: float | None = None) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("grpc", "grpc+tcp", "grpc+tls") or not parts.hostname:
            raise ValueError("expected grpc://host:port or grpc+tls://host:port")
        super().__init__(product, pool_size=pool_size, timeout_seconds=timeout_seconds)
        self.uri = uri
        self._username = username
        self._password = password
        self._token = token
        self._tls_root_certs = tls_root_certs
        self._tls_skip_verify = tls_skip_verify
        token_id = f"token:{hashlib.sha256(token.encode()).hexdigest()[:12]}" if token else "anonymous"
        who = username or token_id
        self._identity = f"flightsql://{who}@{parts.hostname}:{parts.port}"

    @classmethod
    def from_spec(cls, product: ProductSpec, settings: Settings) -> FlightSQLConnector:
        engine = product.engine
        assert engine.uri is not None
        options = engine.options
        kind: type[FlightSQLConnector] = cls
        dialect = options.get("dialect", "duckdb")
        if dialect == "spark":
            from .flightsql_spark import SparkFlightSQLConnector

            kind = SparkFlightSQLConnector
        elif dialect != "duckdb":
            raise DescriptorError([f"products.{product.name}.engine.dialect: expected duckdb (a flightmesh "
                                   "node) or spark (LakeSail's Flight SQL endpoint)"])
        return kind(product.name, engine.uri, username=options.get("username"),
                   password=options.get("password"), token=options.get("token"),
                   tls_root_certs=options.get("tls_root_certs"),
                   tls_skip_verify=bool(options.get("tls_skip_verify", False)),
                   **pooled_engine_options(options, settings))

    def identity(self) -> str:
        return self._identity

    # -- connections -----------------------------------------------------------------------------

    def _database_options(self) -> dict[str, str]:
        options: dict[str, str] = {}
        if self._username is not None:
            options["username"] = self._username
            options["password"] = self._password or ""
        elif self._token is not None:
            options[_OPTIONS.AUTHORIZATION_HEADER.value] = f"Bearer {self._token}"
        if self._tls_root_certs:
            pem = self._tls_root_certs
            if "-----BEGIN" not in pem:
                pem = Path(pem).read_text()
            options[_OPTIONS.TLS_ROOT_CERTS.value] = pem
        if self._tls_skip_verify:
            options[_OPTIONS.TLS_SKIP_VERIFY.value] = "true"
        return options

    def _open(self) -> Any:
        try:
            connection = adbc_flight.connect(self.uri, db_kwargs=self._database_options(), autocommit=True)
            # The driver connects lazily; ask for something small so a dead or refusing remote
            # fails here, where the error is classified, and not halfway through a fragment.
            self._ping(connection)
        except _DRIVER_ERRORS as error:
            raise self._error(error) from None
        except OSError as error:
            raise EngineUnavailable(self.product, "cannot read the TLS root certificates",
                                    internal=str(error)) from None
        return connection

    def _ping(self, connection: Any) -> None:
        connection.adbc_get_table_types()

    def _close(self, connection: Any) -> None:
        connection.close()

    # -- metadata --------------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        with self._lease() as connection:
            objects = connection.adbc_get_objects(depth="tables").read_all().to_pylist()
        names = []
        for catalog in objects:
            for schema in catalog.get("catalog_db_schemas") or []:
                for table in schema.get("db_schema_tables") or []:
                    prefix = f"{schema['db_schema_name']}." if schema.get("db_schema_name") else ""
                    names.append(prefix + table["table_name"])
        return names

    def table_expression(self, source: str) -> exp.Table:
        return quoted_table(source, "duckdb")

    def describe(self, source: str) -> pa.Schema:
        table = exp.to_table(source, dialect="duckdb")
        with self._lease() as connection:
            try:
                schema = connection.adbc_get_table_schema(table.name, db_schema_filter=table.db or None)
            except _DRIVER_ERRORS as error:
                if _status(error) != "NOT_FOUND":
                    raise
                schema = None  # a clean answer: the connection stays in the pool
        if schema is None:
            raise UnknownTable(source)
        return _plain(schema)

    def estimate_rows(self, source: str) -> int | None:
        return None

    # -- queries ---------------------------------------------------------------------------------

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        if query.expected_schema is not None:
            return query.expected_schema
        with self._lease() as connection:
            cursor = connection.cursor()
            try:
                schema = cursor.adbc_execute_schema(query.sql)
            finally:
                cursor.close()
        return self._result_types(schema)

    def _result_types(self, schema: pa.Schema) -> pa.Schema:
        return _plain(schema)

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        cancel.check()
        timeout = self._fragment_timeout(query)
        connection = self._acquire(timeout, cancel)
        cursor = None
        unregister = None
        try:
            cursor = connection.cursor()
            if timeout is not None:
                cursor.adbc_statement.set_options(**{_OPTIONS.TIMEOUT_QUERY.value: str(timeout),
                                                     _OPTIONS.TIMEOUT_FETCH.value: str(timeout)})
            unregister = cancel.on_cancel(cursor.adbc_cancel)
            cursor.execute(query.sql)
            reader = cursor.fetch_record_batch()
        except BaseException as error:
            if unregister is not None:
                unregister()
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
            self._release(connection, broken=not isinstance(error, _DRIVER_ERRORS) or _lost(error))
            if isinstance(error, _DRIVER_ERRORS):
                raise self._query_error(error, cancel) from None
            raise
        schema = query.expected_schema or self._result_types(reader.schema)
        batches = cursor_batches(
            reader, cursor, driver_errors=_DRIVER_ERRORS, translate=lambda e: self._query_error(e, cancel),
            unregister=unregister, release=lambda broken: self._release(connection, broken=broken),
        )
        return pa.RecordBatchReader.from_batches(schema, cast_batches(batches, schema))

    # -- errors ----------------------------------------------------------------------------------

    def _query_error(self, error: BaseException, cancel: CancelScope) -> BaseException:
        stopped = cancel.stopped()
        if stopped is not None:
            return stopped
        return self._error(error)

    def _error(self, error: BaseException) -> BaseException:
        status = _status(error)
        text = str(error)
        if status == "UNAUTHENTICATED":
            return EngineUnavailable(self.product, "the remote refused the credentials", internal=text)
        if status in ("UNAVAILABLE", "IO") or _lost(error):
            return EngineUnavailable(self.product, "cannot reach the remote Flight SQL server", internal=text)
        if status in ("TIMEOUT", "DEADLINE_EXCEEDED"):
            return QueryTimeout(f"product {self.product}: the fragment ran past its time limit "
                                "and was stopped")
        if status == "CANCELLED":
            return QueryCancelled("the query was cancelled")
        # ADBC keeps the status as a code; its text starts with it only for some error classes
        invalid = getattr(error, "status_code", None) == adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT \
            or "(InvalidArgument;" in text
        failure = remote_failure("INVALID_ARGUMENT" if invalid else status, text.split(". Detail:", 1)[0])
        if failure is not None:
            return mesh_error(self.product, failure, text)
        if status == "NOT_FOUND":
            return EngineError(self.product, "a table this product serves no longer exists on the remote",
                               internal=text)
        return EngineError(self.product, "the remote rejected the fragment", internal=text)



def _status(error: BaseException) -> str:
    """The ADBC status name at the head of the driver's message (``UNAUTHENTICATED: ...``)."""
    text = str(error).lstrip()
    head = text.split(":", 1)[0].strip().upper()
    if head.startswith("[FLIGHTSQL] "):
        head = head.removeprefix("[FLIGHTSQL] ")
    lowered = text.lower()
    if "unauthenticated" in lowered:
        return "UNAUTHENTICATED"
    if "deadline" in lowered or "timed out" in lowered:
        return "TIMEOUT"
    if "code = unavailable" in lowered or "connection refused" in lowered:
        return "UNAVAILABLE"
    if "code = notfound" in lowered or "not_found" in lowered.replace(" ", "_"):
        return "NOT_FOUND"
    return head


def _lost(error: BaseException) -> bool:
    lowered = str(error).lower()
    return any(sign in lowered for sign in ("connection refused", "unavailable", "transport", "eof"))


def _plain(schema: pa.Schema) -> pa.Schema:
    """The schema without transport metadata (the driver attaches Flight SQL column metadata)."""
    return pa.schema([pa.field(f.name, f.type, nullable=f.nullable) for f in schema])
