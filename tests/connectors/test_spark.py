"""The spark engine kind against LakeSail started in this process (``pysail``), no JVM.

- A Spark product joined with a PostgreSQL and a DuckDB product equals the one-file DuckDB oracle
  (Sail in local mode and in local-cluster mode with two workers).
- Every declared difference (``spark_semantics``): the plain rendering, run on Sail, answers
  otherwise than DuckDB; through the mesh, a query holding it still equals the oracle.
- Types, the descriptor's options, errors, timeouts reaching the engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_pg
import duckdb
import pyarrow as pa
import pytest
import sqlglot

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.spark import SparkConnector
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import CancelScope, DataError, EngineUnavailable, QueryTimeout, UnknownTable
from tests.oracle import assert_same_result

from .conftest import pg_execute
from .dataset import CUSTOMERS, ORDERS
from .harness import load_spark_views
from .oracle_db import oracle_of

pytestmark = pytest.mark.postgresql

REGIONS = pa.table({"region": ["north", "south", "east", "west"],
                    "manager": ["ana", "bo", "cy", "di"]})

# Sums past 2**63: DuckDB sums BIGINTs in 128 bits, Spark wraps around.
BIG = pa.table({"k": pa.array([1, 1, 1, 2], pa.int32()),
                "v": pa.array([2**62, 2**62, 2**62, 5], pa.int64())})

_MESH = """
mesh: {name: spark_mesh}
products:
  shop:
    engine: {kind: spark, uri: "%(spark)s", pool_size: 2}
    tables: {orders: {source: global_temp.spark_orders}, big: {source: global_temp.spark_big}}
    access: {read: [analyst, clerk]}
    policies:
      row_filters:
        - {table: orders, where: "status <> 'returned'", for: [clerk]}
      masks:
        - {table: orders, column: amount, with: "CASE WHEN amount > 50 THEN 50 ELSE amount END", except: [analyst]}
  crm:
    engine: {kind: postgresql, uri: "%(pg)s", allow_privileged: true}
    tables: {customers: {source: spark_test.customers}}
    access: {read: [analyst, clerk]}
  ref:
    engine: {kind: duckdb, path: ref.duckdb}
    tables: {regions: {}}
    access: {read: [analyst]}
users:
  ann: {password: "not-a-secret", roles: [analyst]}
  cid: {password: "not-a-secret", roles: [clerk]}
"""

QUERIES = {
    "join_aggregate": """
        SELECT r.manager, c.region, count(*) AS n, sum(o.amount) AS total, max(o.qty) AS top
        FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id
        JOIN ref.regions r ON r.region = c.region
        WHERE o.status <> 'returned' AND o.ordered >= DATE '2024-03-01'
        GROUP BY r.manager, c.region ORDER BY r.manager""",
    "left_join": """
        SELECT o.id, c.name, r.manager FROM shop.orders o LEFT JOIN crm.customers c ON c.id = o.customer_id
        LEFT JOIN ref.regions r ON r.region = c.region WHERE o.qty > 6""",
    "semi_join": """
        SELECT c.id, c.name FROM crm.customers c
        WHERE c.id IN (SELECT customer_id FROM shop.orders WHERE status = 'open' AND qty = 9)""",
    # every declared difference, in one query each: the answer is DuckDB's
    "division_by_zero": "SELECT id, qty / (qty - qty) AS r FROM shop.orders",
    "decimal_average": "SELECT status, avg(amount) AS mean FROM shop.orders GROUP BY status",
    "decimal_division": "SELECT id, amount / 3 AS third FROM shop.orders",
    "cast_to_integer": "SELECT id, CAST(amount AS INTEGER) AS whole FROM shop.orders",
    "day_of_week": "SELECT id, dayofweek(ordered) AS dow FROM shop.orders",
    "like_backslash": "SELECT id FROM shop.orders WHERE status || '\\x' LIKE '%n\\x'",
    "integer_sum": "SELECT customer_id, sum(qty) AS q, sum(qty * id) AS w FROM shop.orders GROUP BY customer_id",
    "bigint_sum_past_64_bits": "SELECT k, sum(v) AS total FROM shop.big GROUP BY k",
}


@pytest.fixture(scope="module", params=["local", "local_cluster"])
def spark_mesh(request: pytest.FixtureRequest, postgres_database: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    endpoint = request.getfixturevalue("sail_endpoint" if request.param == "local" else "sail_cluster_endpoint")
    folder = tmp_path_factory.mktemp(f"spark_mesh_{request.param}")
    load_spark_views(endpoint, folder / "views", {"spark_orders": ORDERS, "spark_big": BIG})
    pg_execute(postgres_database, "DROP SCHEMA IF EXISTS spark_test CASCADE", "CREATE SCHEMA spark_test",
               "CREATE TABLE spark_test.customers (id INTEGER NOT NULL, name VARCHAR(40), region VARCHAR(10), "
               "score DOUBLE PRECISION)")
    with adbc_pg.connect(postgres_database, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.adbc_ingest("customers", CUSTOMERS, mode="append", db_schema_name="spark_test")
    ref = duckdb.connect(str(folder / "ref.duckdb"))
    ref.register("incoming", REGIONS)
    ref.execute("CREATE TABLE regions AS SELECT * FROM incoming")
    ref.close()
    descriptor = folder / "mesh.yaml"
    descriptor.write_text(_MESH % {"spark": endpoint, "pg": postgres_database})
    runtime = MeshRuntime.open(descriptor)
    # The oracle: every table in one DuckDB, under the products' names.
    oracle = oracle_of({"shop.orders": ORDERS, "shop.big": BIG, "crm.customers": CUSTOMERS, "ref.regions": REGIONS})
    try:
        yield runtime, oracle
    finally:
        runtime.close()
        oracle.close()


@pytest.mark.parametrize("name", list(QUERIES))
def test_federated_query_equals_the_oracle(name: str, spark_mesh: tuple[MeshRuntime, Any]) -> None:
    runtime, oracle = spark_mesh
    sql = QUERIES[name]
    principal = runtime.principal_for("ann")
    assert principal is not None
    actual = runtime.query(sql, principal).read_all()
    expected = oracle.sql(sql).to_arrow_table()
    assert_same_result(actual, expected, ordered="ORDER BY" in sql)


def test_integer_overflow_is_an_error_as_in_duckdb(spark_mesh: tuple[MeshRuntime, Any]) -> None:
    """qty * 1000000000 overflows INTEGER: DuckDB raises; Spark would wrap around silently."""
    runtime, oracle = spark_mesh
    sql = "SELECT id, qty * 1000000000 AS big FROM shop.orders"
    with pytest.raises(duckdb.Error):
        oracle.sql(sql).fetchall()
    principal = runtime.principal_for("ann")
    assert principal is not None
    with pytest.raises(DataError):
        runtime.query(sql, principal).read_all()


def test_policies_hold_on_the_spark_product(spark_mesh: tuple[MeshRuntime, Any]) -> None:
    """A row filter and a mask on the Spark product, against the policy written by hand over the raw rows."""
    runtime, oracle = spark_mesh
    clerk = runtime.principal_for("cid")
    assert clerk is not None
    sql = "SELECT o.id, o.amount, c.name FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id"
    by_hand = ("SELECT o.id, CASE WHEN o.amount > 50 THEN 50 ELSE o.amount END AS amount, c.name "
               "FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id WHERE o.status <> 'returned'")
    assert_same_result(runtime.query(sql, clerk).read_all(), oracle.sql(by_hand).to_arrow_table(), ordered=False)
    plan = runtime.query("EXPLAIN " + sql, clerk).read_all()
    text = "\n".join(str(value) for column in plan.columns for value in column.to_pylist())
    # EXPLAIN names the policies without their text; they are applied in the Spark fragment (f0)
    assert "row filter #1 on shop.orders applied" in text and "mask on shop.orders.amount applied" in text
    assert "spark" in text.split()


def test_explain_sends_work_to_spark(spark_mesh: tuple[MeshRuntime, Any]) -> None:
    """The filter and the pre-aggregation of the Spark product run in Spark, rendered in Spark SQL."""
    runtime, _ = spark_mesh
    principal = runtime.principal_for("ann")
    assert principal is not None
    plan = runtime.query("EXPLAIN " + QUERIES["join_aggregate"], principal).read_all()
    text = "\n".join(str(value) for column in plan.columns for value in column.to_pylist())
    assert "`global_temp`.`spark_orders`" in text  # Spark SQL's backtick identifiers
    assert "'returned'" in text


# -- the declared differences, each shown on the real engine ------------------------------------

# DuckDB SQL over literals: the plain Spark rendering (sqlglot) answers otherwise on Sail.
DIFFERENCES = {
    "integer_add_wraps": "SELECT CAST(2147483647 AS INTEGER) + CAST(1 AS INTEGER) AS v",
    "integer_mul_wraps": "SELECT CAST(4611686018427387904 AS BIGINT) * CAST(2 AS BIGINT) AS v",
    "integer_sub_wraps": "SELECT CAST(-2147483648 AS INTEGER) - CAST(1 AS INTEGER) AS v",
    "sum_wraps": "SELECT sum(x) AS v FROM (VALUES (CAST(9223372036854775807 AS BIGINT)), (CAST(1 AS BIGINT))) t(x)",
    "division_by_zero": "SELECT CAST(1 AS DOUBLE) / CAST(0 AS DOUBLE) AS v",
    "decimal_division": "SELECT CAST(1 AS DECIMAL(10,2)) / CAST(3 AS DECIMAL(10,2)) AS v",
    "decimal_average": "SELECT avg(x) AS v FROM (VALUES (CAST(0.01 AS DECIMAL(10,2))), "
                       "(CAST(0.02 AS DECIMAL(10,2))), (CAST(0.02 AS DECIMAL(10,2)))) t(x)",
    "cast_rounds": "SELECT CAST(CAST(2.7 AS DOUBLE) AS INTEGER) AS v",
    "day_of_week": "SELECT dayofweek(DATE '2024-01-07') AS v",
    "like_backslash": "SELECT 'a\\b' LIKE 'a\\b' AS v",
    "double_to_text": "SELECT CAST(CAST(1e20 AS DOUBLE) AS VARCHAR) AS v",
    "double_concat": "SELECT CAST(0.00001 AS DOUBLE) || '!' AS v",
}
# DuckDB raises for these; Spark answers (NULL): the error is the mesh's meaning.
RAISES_IN_DUCKDB = {
    "cast_bad_text": "SELECT CAST('abc' AS INTEGER) AS v",
    "mod_by_zero": "SELECT CAST(5 AS INTEGER) % CAST(0 AS INTEGER) AS v",
    "integer_add_wraps": DIFFERENCES["integer_add_wraps"],
}


def _sail(endpoint: str, sql: str) -> list[Any]:
    import adbc_driver_spark.dbapi as spark_dbapi

    with spark_dbapi.connect(endpoint) as connection, connection.cursor() as cursor:
        cursor.execute(sqlglot.transpile(sql, read="duckdb", write="spark")[0])
        return [row[0] for row in cursor.fetchall()]


def _duckdb(sql: str) -> list[Any] | str:
    try:
        return [row[0] for row in duckdb.sql(sql).fetchall()]
    except duckdb.Error as error:
        return f"error: {type(error).__name__}"


@pytest.mark.parametrize("name", list(DIFFERENCES))
def test_declared_difference_is_real_on_sail(name: str, sail_endpoint: str) -> None:
    sql = DIFFERENCES[name]
    assert _sail(sail_endpoint, sql) != _duckdb(sql)


@pytest.mark.parametrize("name", list(RAISES_IN_DUCKDB))
def test_spark_answers_where_duckdb_raises(name: str, sail_endpoint: str) -> None:
    sql = RAISES_IN_DUCKDB[name]
    assert str(_duckdb(sql)).startswith("error")
    assert _sail(sail_endpoint, sql) != []


def test_difference_declarations_catch_their_nodes() -> None:
    """The declarations keep the nodes above out of a Spark fragment (types as the planner annotates)."""
    from sqlglot.optimizer.annotate_types import annotate_types

    capabilities = SparkConnector.capabilities
    for name, sql in DIFFERENCES.items():
        tree = annotate_types(sqlglot.parse_one(sql, read="duckdb"), dialect="duckdb")
        refused = [node for node in tree.walk() if not capabilities.supports(node)]
        assert refused, name
    # and leave the ordinary ones alone
    tree = annotate_types(sqlglot.parse_one("SELECT CAST(1.5 AS DOUBLE) * 2.0 AS v, 'a' LIKE 'a%' AS w, "
                                            "CAST(3 AS DOUBLE) / 2 AS x", read="duckdb"), dialect="duckdb")
    assert all(capabilities.supports(node) for node in tree.walk())


# -- the connector on its own --------------------------------------------------------------------

def test_types_are_the_engines_own(sail_endpoint: str, tmp_path: Path) -> None:
    sources = load_spark_views(sail_endpoint, tmp_path, {"spark_typed": pa.table({
        "i8": pa.array([1], pa.int8()), "i16": pa.array([1], pa.int16()), "f32": pa.array([1.5], pa.float32()),
        "dec": pa.array([1], pa.decimal128(38, 10)), "day": pa.array([0], pa.date32()),
        "at": pa.array([0], pa.timestamp("us")), "txt": pa.array(["x"]), "raw": pa.array([b"\x00"]),
        "items": pa.array([[1, 2]], pa.list_(pa.int64()))})})
    connector = SparkConnector("typed", sail_endpoint, pool_size=1)
    try:
        schema = connector.describe(sources["spark_typed"])
        assert [f.type for f in schema] == [pa.int8(), pa.int16(), pa.float32(), pa.decimal128(38, 10),
                                            pa.date32(), pa.timestamp("us"), pa.string(), pa.binary(),
                                            pa.list_(pa.field("element", pa.int64()))] \
            or schema.field("items").type.value_type == pa.int64()
        # Spark's TIMESTAMP is an instant: the mesh names it timestamp with time zone UTC
        sql = "SELECT TIMESTAMP '2024-02-29 12:00:00' AS at, TIMESTAMP_NTZ '2024-02-29 12:00:00' AS plain"
        table = connector.execute(FragmentQuery(sql), CancelScope()).read_all()
        assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("plain").type == pa.timestamp("us")
        assert table.column("at")[0].as_py().hour == 12  # the session runs in UTC
    finally:
        connector.close()


def test_session_local_view_is_not_a_table(sail_endpoint: str) -> None:
    import adbc_driver_spark.dbapi as spark_dbapi

    with spark_dbapi.connect(sail_endpoint) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE OR REPLACE TEMPORARY VIEW only_mine AS SELECT 1 AS x")
        cursor.fetchall()
        connector = SparkConnector("local_view", sail_endpoint, pool_size=1)
        try:
            with pytest.raises(UnknownTable):
                connector.describe("only_mine")
            assert "only_mine" not in {name.rsplit(".", 1)[-1] for name in connector.table_names()}
        finally:
            connector.close()


def test_timeout_stops_the_query_on_the_engine(sail_endpoint: str) -> None:
    connector = SparkConnector("slow", sail_endpoint, pool_size=1, timeout_seconds=0.5)
    slow = ("SELECT count(*) AS n FROM range(1000000) a CROSS JOIN range(3000) b "
            "WHERE (a.id * b.id) % 7919 = 3")
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            connector.execute(FragmentQuery(slow), CancelScope()).read_all()
        assert time.monotonic() - started < 10
        # the one session of the pool is free again: the engine is not still running the job for it
        done = threading.Event()
        result: list[Any] = []

        def follow_up() -> None:
            result.append(connector.execute(FragmentQuery("SELECT 41 + 1 AS v", timeout_seconds=60),
                                            CancelScope()).read_all())
            done.set()

        threading.Thread(target=follow_up, daemon=True).start()
        assert done.wait(60)
        assert result[0].column("v").to_pylist() == [42]
    finally:
        connector.close()


def test_unreachable_endpoint_is_engine_unavailable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = SparkConnector("gone", f"sc://127.0.0.1:{port}", pool_size=1, timeout_seconds=5)
    try:
        with pytest.raises(EngineUnavailable):
            connector.table_names()
    finally:
        connector.close()


def test_a_token_goes_only_over_tls(sail_endpoint: str) -> None:
    """A token is never sent in the clear unless ``tls: false`` says so; a TLS failure is EngineUnavailable."""
    for options in ({"token": "t0ken"}, {"tls": True}):
        connector = SparkConnector("secured", sail_endpoint, pool_size=1, timeout_seconds=5, **options)
        try:
            with pytest.raises(EngineUnavailable):
                connector.table_names()  # Sail here speaks plain gRPC
        finally:
            connector.close()
    connector = SparkConnector("plain", sail_endpoint, pool_size=1, token="t0ken", tls=False, user_id="ann")
    try:
        assert isinstance(connector.table_names(), list)
    finally:
        connector.close()


def test_descriptor_accepts_the_spark_options(tmp_path: Path) -> None:
    from flightmesh.mesh import DescriptorError, load_descriptor

    path = tmp_path / "mesh.yaml"
    path.write_text("""
mesh: {name: m}
products:
  p:
    engine: {kind: spark, uri: "sc://127.0.0.1:15002", token: t, tls: true, user_id: u, pool_size: 2,
             timeout_seconds: 9}
    tables: {orders: {source: global_temp.orders}}
""")
    engine = load_descriptor(path).products["p"].engine
    assert engine.kind == "spark" and engine.uri == "sc://127.0.0.1:15002"
    assert engine.options["tls"] is True and engine.options["token"] == "t"
    path.write_text(path.read_text().replace("tls: true", "tls: yes please"))
    with pytest.raises(DescriptorError, match="true or false"):
        load_descriptor(path)
    with pytest.raises(ValueError, match="sc://"):
        SparkConnector("p", "grpc://127.0.0.1:1")
