"""Products on LakeSail's Flight SQL endpoint: ``engine: {kind: flightsql, uri: grpc://..., dialect: spark}``.

Sail (PyPI ``pysail``) serves Arrow Flight SQL as well as Spark Connect (``sail flight server
--port N``, or ``pysail.flight.FlightSqlServer`` in a process). Found on Sail 0.7.2, that endpoint
differs from a flightmesh remote in what it speaks and what it answers:

- It runs Spark SQL (backtick identifiers), and computes what Spark SQL computes: the
  capabilities are the spark kind's, with its declared differences (``spark_semantics``).
- It answers statements only: GetTables, GetObjects, GetTableTypes and ExecuteSchema are
  ``Unimplemented``. Tables are listed with ``SHOW DATABASES`` / ``SHOW TABLES IN``, a schema is
  read from a ``LIMIT 0`` query, and the connection is tried with ``SELECT current_timezone()``,
  which must be UTC for TIMESTAMP values to mean what they mean in the mesh dialect (Sail's
  Flight SQL sessions take no ``SET TIME ZONE``).
- Its errors are Spark's and DataFusion's; they are classified as the spark kind's are, by error
  class, never passed on (they quote row values and literals).
- Every client shares one server session (``flight-default``): a session-local view made by one
  connection is seen by all, but as on Spark Connect only catalog tables and global views
  (``global_temp.x``) are products' tables.
- No statistics: Sail keeps none (``DESCRIBE TABLE EXTENDED`` shows no ``Statistics`` row).
- Cancellation cancels the gRPC call (the driver's cancel), which ends the statement's stream.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from flightmesh.mesh import EngineUnavailable, QueryCancelled, QueryTimeout, UnknownTable

from .address import quoted_table
from .base import Capabilities, FragmentQuery, KeyDelivery, Pushdown
from .engine_errors import mesh_error
from .flightsql import FlightSQLConnector
from .spark import catalog_tables, query_schema, spark_failure, table_schema
from .spark_semantics import DIFFERENCES, MISSING
from .spark_types import mesh_schema

__all__ = ["SparkFlightSQLConnector"]

_UTC = frozenset({"UTC", "Etc/UTC", "Z", "+00:00", "GMT", "Etc/GMT"})


class SparkFlightSQLConnector(FlightSQLConnector):
    capabilities: ClassVar[Capabilities] = Capabilities(
        dialect="spark",
        pushdown=frozenset(Pushdown),
        missing=MISSING | {exp.Anonymous},
        key_delivery=KeyDelivery.LITERALS,
        typed_results=True,
        differences=DIFFERENCES,
    )

    def _ping(self, connection: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT current_timezone()")
            zone = str(cursor.fetchall()[0][0])
        finally:
            cursor.close()
        if zone not in _UTC:
            raise EngineUnavailable(self.product, "the Sail session's time zone is not UTC "
                                    "(spark.sql.session.timeZone)", internal=zone)

    def table_names(self) -> list[str]:
        with self._lease() as connection:
            return catalog_tables(connection)

    def table_expression(self, source: str) -> exp.Table:
        return quoted_table(source, "spark")

    def describe(self, source: str) -> pa.Schema:
        with self._lease() as connection:
            schema = table_schema(connection, self.table_expression(source), self.driver_errors)
        if schema is None:
            raise UnknownTable(source)
        return mesh_schema(schema)

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        if query.expected_schema is not None:
            return query.expected_schema
        with self._lease() as connection:
            return mesh_schema(query_schema(connection, query.sql))

    def _result_types(self, schema: pa.Schema) -> pa.Schema:
        return mesh_schema(schema)

    def _error(self, error: BaseException) -> BaseException:
        general = super()._error(error)
        if isinstance(general, (EngineUnavailable, QueryTimeout, QueryCancelled)):
            return general
        text = str(error)
        return mesh_error(self.product, spark_failure(text), text)
