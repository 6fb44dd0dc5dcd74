"""LakeSail's Arrow Flight SQL endpoint as a product engine (``kind: flightsql, dialect: spark``).

Against Sail's Flight SQL server started in this process (``pysail.flight``; local mode, and
local-cluster mode with two workers for the joins): a Sail product joined with a DuckDB product
equals the one-file DuckDB oracle; fragments are rendered in Spark SQL;
metadata comes through SQL (the endpoint answers no catalog call); a cancelled statement stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc_flight
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.flightsql_spark import SparkFlightSQLConnector
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import CancelScope, DescriptorError, QueryCancelled, UnknownTable

from .dataset import CUSTOMERS, ORDERS
from .oracle_db import assert_answers_as_oracle, oracle_of

_MESH = """
mesh: {name: sail_flight_mesh}
products:
  lake:
    engine: {kind: flightsql, uri: "%(uri)s", dialect: spark, pool_size: 2}
    tables: {orders: {source: global_temp.fl_orders}}
    access: {read: [analyst]}
  crm:
    engine: {kind: duckdb, path: crm.duckdb}
    tables: {customers: {}}
    access: {read: [analyst]}
users:
  ann: {password: "not-a-secret", roles: [analyst]}
"""

QUERIES = {
    "join_aggregate": """
        SELECT c.region, count(*) AS n, sum(o.amount) AS total, max(o.qty) AS top
        FROM lake.orders o JOIN crm.customers c ON c.id = o.customer_id
        WHERE o.status <> 'returned' AND o.ordered >= DATE '2024-03-01'
        GROUP BY c.region ORDER BY c.region""",
    "left_join": """
        SELECT o.id, c.name FROM lake.orders o LEFT JOIN crm.customers c ON c.id = o.customer_id
        WHERE o.qty > 6""",
    "semi_join": """
        SELECT c.id, c.name FROM crm.customers c
        WHERE c.id IN (SELECT customer_id FROM lake.orders WHERE status = 'open' AND qty = 9)""",
    # declared differences (spark_semantics) kept in DuckDB: the answer is DuckDB's
    "decimal_average": "SELECT status, avg(amount) AS mean FROM lake.orders GROUP BY status",
    "cast_to_integer": "SELECT id, CAST(amount AS INTEGER) AS whole FROM lake.orders",
}


def load_flight_views(uri: str, folder: Path, named: dict[str, pa.Table]) -> None:
    """Each table written to Parquet and served as a global temporary view, with plain Spark SQL
    sent through the Flight SQL driver (not through the connector)."""
    folder.mkdir(exist_ok=True)
    with adbc_flight.connect(uri, autocommit=True) as connection:
        for name, table in named.items():
            path = folder / f"{name}.parquet"
            pq.write_table(table, path)
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW `{name}` AS SELECT * FROM parquet.`{path}`")
                cursor.fetchall()


@pytest.fixture(scope="module", params=["local", "local_cluster"])
def flight_mesh(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    """The mesh over Sail in local mode and in local-cluster mode with two workers."""
    sail_flight_endpoint = request.getfixturevalue(
        "sail_flight_endpoint" if request.param == "local" else "sail_flight_cluster_endpoint")
    folder = tmp_path_factory.mktemp(f"sail_flight_{request.param}")
    load_flight_views(sail_flight_endpoint, folder / "views", {"fl_orders": ORDERS})
    crm = duckdb.connect(str(folder / "crm.duckdb"))
    crm.register("incoming", CUSTOMERS)
    crm.execute("CREATE TABLE customers AS SELECT * FROM incoming")
    crm.close()
    descriptor = folder / "mesh.yaml"
    descriptor.write_text(_MESH % {"uri": sail_flight_endpoint})
    runtime = MeshRuntime.open(descriptor)
    oracle = oracle_of({"lake.orders": ORDERS, "crm.customers": CUSTOMERS})
    try:
        yield runtime, oracle
    finally:
        runtime.close()
        oracle.close()


@pytest.mark.parametrize("name", list(QUERIES))
def test_sail_flight_product_joined_with_duckdb_equals_the_oracle(
        name: str, flight_mesh: tuple[MeshRuntime, Any]) -> None:
    runtime, oracle = flight_mesh
    sql = QUERIES[name]
    assert_answers_as_oracle(runtime, oracle, sql)


def test_fragments_are_rendered_in_spark_sql(flight_mesh: tuple[MeshRuntime, Any]) -> None:
    runtime, _ = flight_mesh
    principal = runtime.principal_for("ann")
    assert principal is not None
    plan = runtime.query("EXPLAIN " + QUERIES["join_aggregate"], principal).read_all()
    text = "\n".join(str(value) for column in plan.columns for value in column.to_pylist())
    assert "`global_temp`.`fl_orders`" in text  # Spark SQL's backtick identifiers, not DuckDB's quotes
    assert "'returned'" in text                  # the filter runs on Sail


def test_metadata_through_sql(sail_flight_endpoint: str, tmp_path: Path) -> None:
    """The endpoint answers no GetObjects/ExecuteSchema: tables and schemas come through SQL."""
    load_flight_views(sail_flight_endpoint, tmp_path, {"fl_meta": ORDERS})
    connector = SparkFlightSQLConnector("meta", sail_flight_endpoint, pool_size=1)
    try:
        assert "global_temp.fl_meta" in connector.table_names()
        schema = connector.describe("global_temp.fl_meta")
        assert schema.names == ORDERS.schema.names
        assert [field.type for field in schema] == [field.type for field in ORDERS.schema]
        with pytest.raises(UnknownTable):
            connector.describe("global_temp.no_such_view")
        assert connector.result_schema(FragmentQuery("SELECT 'x' AS s, 1 AS i")) == \
            pa.schema([pa.field("s", pa.string(), nullable=False), pa.field("i", pa.int32(), nullable=False)])
    finally:
        connector.close()


def test_cancel_stops_the_statement(sail_flight_endpoint: str) -> None:
    connector = SparkFlightSQLConnector("slow", sail_flight_endpoint, pool_size=1)
    slow = ("SELECT count(*) AS n FROM range(1000000) a CROSS JOIN range(3000) b "
            "WHERE (a.id * b.id) % 7919 = 3")
    scope = CancelScope()
    try:
        threading.Timer(0.5, scope.cancel).start()
        started = time.monotonic()
        with pytest.raises(QueryCancelled):
            connector.execute(FragmentQuery(slow), scope).read_all()
        assert time.monotonic() - started < 30
        # the connection's pool slot is free again and the endpoint answers
        answer = connector.execute(FragmentQuery("SELECT 41 + 1 AS v"), CancelScope()).read_all()
        assert answer.column("v").to_pylist() == [42]
    finally:
        connector.close()


def test_unknown_dialect_is_a_descriptor_error(tmp_path: Path) -> None:
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text((_MESH % {"uri": "grpc://127.0.0.1:1"}).replace("dialect: spark", "dialect: trino"))
    with pytest.raises(DescriptorError):
        MeshRuntime.open(descriptor).close()
