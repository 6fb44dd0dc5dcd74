"""The merge delegated to Sail (``settings.merge_engine: {kind: sail, uri: sc://...}``).

- A Spark product joined with DuckDB and PostgreSQL products equals the one-file DuckDB oracle
  with the residual run on Sail (local-cluster mode, two workers), and EXPLAIN names Sail as the
  residual's engine.
- A residual holding a construct Spark computes otherwise (a BIGINT sum past 64 bits, a division
  by zero) stays in the embedded DuckDB, EXPLAIN says why, and the answer is DuckDB's.
- Governance: a row filter and a mask (applied inside the Spark fragment) equal the policy
  written by hand over the raw rows; a product the principal may not read is unknown.
- Cancelling a delegated merge interrupts the job on the cluster and removes the exchange files.
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

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import (
    CancelScope,
    DataError,
    EngineError,
    EngineUnavailable,
    QueryCancelled,
    QueryTimeout,
    UnknownTable,
)
from tests.oracle import assert_same_result, order_keys

from .conftest import pg_execute
from .dataset import CUSTOMERS, ORDERS
from .harness import load_spark_views
from .test_spark import QUERIES as SPARK_QUERIES

pytestmark = pytest.mark.postgresql

REGIONS = pa.table({"region": ["north", "south", "east", "west"], "manager": ["ana", "bo", "cy", "di"]})
# BIGINT values whose sum passes 2**63: DuckDB sums in 128 bits, Spark wraps around.
BIG = pa.table({"k": pa.array([1, 1, 1, 2], pa.int32()), "v": pa.array([2**62, 2**62, 2**62, 5], pa.int64())})
KEYS = pa.table({"k": pa.array([1, 2], pa.int32()), "label": ["one", "two"]})

_MESH = """
mesh: {name: merge_mesh}
settings:
  merge_engine: {kind: sail, uri: "%(merge)s", exchange: "%(exchange)s"}
products:
  shop:
    engine: {kind: spark, uri: "%(spark)s", pool_size: 2}
    tables: {orders: {source: global_temp.merge_orders}, big: {source: global_temp.merge_big}}
    access: {read: [analyst, clerk]}
    policies:
      row_filters:
        - {table: orders, where: "status <> 'returned'", for: [clerk]}
      masks:
        - {table: orders, column: amount, with: "CASE WHEN amount > 50 THEN 50 ELSE amount END", except: [analyst]}
  crm:
    engine: {kind: postgresql, uri: "%(pg)s", allow_privileged: true}
    tables: {customers: {source: merge_test.customers}}
    access: {read: [analyst, clerk]}
  ref:
    engine: {kind: duckdb, path: ref.duckdb}
    tables: {regions: {}, keys: {}}
    access: {read: [analyst]}
users:
  ann: {password: "not-a-secret", roles: [analyst]}
  cid: {password: "not-a-secret", roles: [clerk]}
"""

# test_spark's cross-product joins (the same products and tables here), then more residual shapes
DELEGATED = {
    **{name: SPARK_QUERIES[name] for name in ("join_aggregate", "left_join", "semi_join")},
    "top_n_with_nulls": """
        SELECT c.name, o.amount, o.id FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id
        ORDER BY c.name DESC, o.amount, o.id LIMIT 15""",
    "case_and_double_arithmetic": """
        SELECT o.id, CASE WHEN c.score * 2.5 > 20 THEN 'high' ELSE 'low' END AS band, c.score * o.amount AS w
        FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id WHERE o.status = 'shipped'""",
    "date_parts_and_substring": """
        SELECT o.id, CASE WHEN c.region = 'north' THEN EXTRACT(MONTH FROM o.ordered) ELSE year(o.ordered) END AS part,
               CASE WHEN o.qty > 4 THEN substring(c.name, 2, 5) ELSE c.region END AS label
        FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id""",
    "window_rank": """
        SELECT o.id, c.region, rank() OVER (PARTITION BY c.region ORDER BY o.amount DESC, o.id) AS rk,
               sum(o.amount) OVER (PARTITION BY c.region) AS region_total
        FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id""",
    "offset": """
        SELECT o.id, c.name FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id
        ORDER BY o.id LIMIT 10 OFFSET 5""",
    "set_operations": """
        SELECT customer_id AS id FROM shop.orders WHERE qty > 7 INTERSECT SELECT id FROM crm.customers
        UNION SELECT id FROM crm.customers WHERE region = 'east' EXCEPT SELECT customer_id FROM shop.orders
        WHERE status = 'open'""",
    "correlated_exists_and_cte": """
        WITH big AS (SELECT customer_id, amount FROM shop.orders WHERE amount > 40)
        SELECT c.id, c.name FROM crm.customers c
        WHERE EXISTS (SELECT 1 FROM big WHERE big.customer_id = c.id) AND NOT EXISTS
              (SELECT 1 FROM shop.orders o WHERE o.customer_id = c.id AND o.status = 'returned' AND o.qty > 8)""",
    "distinct_having": """
        SELECT DISTINCT c.region, count(DISTINCT o.status) AS kinds FROM shop.orders o
        JOIN crm.customers c ON c.id = o.customer_id GROUP BY c.region HAVING count(*) > 3""",
    # a zero DECIMAL divisor: inf, -inf or NaN as in DuckDB (Spark alone: NULL)
    "decimal_division_by_zero": "SELECT o.id, (c.score - 5) / (o.amount - o.amount) AS r, o.qty / 7 AS q "
                                "FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id",
    # AVG of a DECIMAL, pre-aggregated: SUM / NULLIF(COUNT, 0), divided as DOUBLEs (DuckDB's meaning)
    "decimal_average": "SELECT c.region, avg(o.amount) AS mean, count(*) AS n FROM shop.orders o "
                       "JOIN crm.customers c ON c.id = o.customer_id GROUP BY c.region",
    # Spark sums BIGINTs in 64 bits; the residual's SUM is rendered over DECIMAL(38,0) to sum as DuckDB does
    "bigint_sum_past_64_bits": "SELECT r.label, sum(b.v) AS total FROM shop.big b JOIN ref.keys r ON r.k = b.k "
                               "GROUP BY r.label",
}

# Residuals with a construct Spark computes otherwise than DuckDB: they must stay in DuckDB.
KEPT_IN_DUCKDB = {
    "text_of_a_double": ("SELECT o.id, CAST(c.score * o.qty * 1e20 AS VARCHAR) AS t FROM shop.orders o "
                         "JOIN crm.customers c ON c.id = o.customer_id", "prints otherwise"),
    "ordered_string_agg": ("SELECT c.region, string_agg(o.status, ',' ORDER BY o.status, o.id) AS s "
                           "FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id GROUP BY c.region",
                           "not among the constructs"),
    # a DOUBLE divisor may be -0.0 (1 / -0.0 is -inf in DuckDB), which Spark cannot tell from 0.0
    "double_division_by_zero": ("SELECT o.id, o.qty / (c.score - c.score) AS r FROM shop.orders o "
                                "JOIN crm.customers c ON c.id = o.customer_id", "division by zero"),
}


@pytest.fixture(scope="module")
def merge_mesh(sail_cluster_endpoint: str, postgres_database: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, Any, Path]]:
    folder = tmp_path_factory.mktemp("spark_merge")
    load_spark_views(sail_cluster_endpoint, folder / "views", {"merge_orders": ORDERS, "merge_big": BIG})
    pg_execute(postgres_database, "DROP SCHEMA IF EXISTS merge_test CASCADE", "CREATE SCHEMA merge_test",
               "CREATE TABLE merge_test.customers (id INTEGER NOT NULL, name VARCHAR(40), region VARCHAR(10), "
               "score DOUBLE PRECISION)")
    with adbc_pg.connect(postgres_database, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.adbc_ingest("customers", CUSTOMERS, mode="append", db_schema_name="merge_test")
    ref = duckdb.connect(str(folder / "ref.duckdb"))
    for name, table in (("regions", REGIONS), ("keys", KEYS)):
        ref.register("incoming", table)
        ref.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
        ref.unregister("incoming")
    ref.close()
    exchange = folder / "exchange"
    descriptor = folder / "mesh.yaml"
    descriptor.write_text(_MESH % {"spark": sail_cluster_endpoint, "merge": sail_cluster_endpoint,
                                   "pg": postgres_database, "exchange": exchange})
    runtime = MeshRuntime.open(descriptor)
    oracle = duckdb.connect()
    for schema, name, table in (("shop", "orders", ORDERS), ("shop", "big", BIG), ("crm", "customers", CUSTOMERS),
                                ("ref", "regions", REGIONS), ("ref", "keys", KEYS)):
        oracle.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        oracle.register("incoming", table)
        oracle.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM incoming")
        oracle.unregister("incoming")
    try:
        yield runtime, oracle, exchange
    finally:
        runtime.close()
        oracle.close()


def _residual(runtime: MeshRuntime, sql: str, user: str = "ann") -> dict[str, Any]:
    principal = runtime.principal_for(user)
    assert principal is not None
    rows = runtime.query("EXPLAIN " + sql, principal).read_all().to_pylist()
    return next(row for row in rows if row["kind"] == "residual")


def _leftovers(exchange: Path) -> list[Path]:
    return [path for path in exchange.rglob("*") if path.is_file()] if exchange.exists() else []


@pytest.mark.parametrize("name", list(DELEGATED))
def test_delegated_merge_equals_the_oracle(name: str, merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    runtime, oracle, exchange = merge_mesh
    sql = DELEGATED[name]
    residual = _residual(runtime, sql)
    assert residual["engine"] == "sail (merge)", residual["detail"]
    principal = runtime.principal_for("ann")
    assert principal is not None
    actual = runtime.query(sql, principal).read_all()
    keys = order_keys(sql)  # the outermost ORDER BY's columns (not a window's)
    assert_same_result(actual, oracle.sql(sql).to_arrow_table(), ordered=keys is not None, order_by=keys)
    assert _leftovers(exchange) == []  # the query's exchange files are gone once it ended


def test_the_result_has_the_mesh_types(merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    """Spark types SUM(DECIMAL(10,2)) as DECIMAL(20,2); the stream carries the type DuckDB gives."""
    runtime, oracle, _ = merge_mesh
    sql = DELEGATED["join_aggregate"]
    principal = runtime.principal_for("ann")
    assert principal is not None
    actual = runtime.query(sql, principal).read_all()
    expected = oracle.sql(sql).to_arrow_table()
    assert [field.type for field in actual.schema] == [field.type for field in expected.schema]


@pytest.mark.parametrize("name", list(KEPT_IN_DUCKDB))
def test_a_construct_spark_computes_otherwise_stays_in_duckdb(name: str,
                                                              merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    runtime, oracle, _ = merge_mesh
    sql, why = KEPT_IN_DUCKDB[name]
    residual = _residual(runtime, sql)
    assert residual["engine"] == "duckdb (merge)"
    assert "merge engine sail" in residual["detail"] and why in residual["detail"]
    principal = runtime.principal_for("ann")
    assert principal is not None
    assert_same_result(runtime.query(sql, principal).read_all(), oracle.sql(sql).to_arrow_table(), ordered=False)


def test_an_integer_cast_that_overflows_raises_as_in_duckdb(merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    """CAST(SUM(BIGINT) AS BIGINT) past 2**63: DuckDB raises; on Sail the guarded cast raises too.

    Typed either way: an overflow (DataError) where Sail passes raise_error's class on, an engine
    error of the merge where Sail 0.7.2's local-cluster mode retries the failed task and reports
    that instead ("a different attempt has already produced job output")."""
    runtime, oracle, _ = merge_mesh
    sql = ("SELECT r.label, CAST(sum(b.v) AS BIGINT) AS total FROM shop.big b JOIN ref.keys r ON r.k = b.k "
           "GROUP BY r.label")
    with pytest.raises(duckdb.Error):
        oracle.sql(sql).fetchall()
    assert _residual(runtime, sql)["engine"] == "sail (merge)"
    principal = runtime.principal_for("ann")
    assert principal is not None
    with pytest.raises((DataError, EngineError)) as raised:
        runtime.query(sql, principal).read_all()
    assert "9223372036854775807" not in str(raised.value) and "exchange" not in str(raised.value)
    fits = sql.replace("JOIN ref.keys r ON r.k = b.k", "JOIN ref.keys r ON r.k = b.k AND b.k = 2")
    assert_same_result(runtime.query(fits, principal).read_all(), oracle.sql(fits).to_arrow_table(), ordered=False)


def test_a_guarded_integer_cast_of_null_is_null(merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    """The overflow guard lets a NULL through as NULL: the sum over a LEFT JOIN's unmatched rows
    (TPC-H Q13's pre-aggregated counts) is NULL, and ``NULL BETWEEN ...`` is not true."""
    runtime, oracle, _ = merge_mesh
    sql = ("SELECT r.label, CAST(sum(b.v) AS BIGINT) AS total FROM ref.keys r "
           "LEFT JOIN shop.big b ON r.k = b.k AND b.v < 10 GROUP BY r.label")
    expected = oracle.sql(sql).to_arrow_table()
    assert None in expected.column("total").to_pylist()
    assert _residual(runtime, sql)["engine"] == "sail (merge)"
    principal = runtime.principal_for("ann")
    assert principal is not None
    assert_same_result(runtime.query(sql, principal).read_all(), expected, ordered=False)


def test_policies_hold_with_the_delegated_merge(merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    """The row filter and the mask apply inside the Spark fragment; the merge on Sail sees only their rows."""
    runtime, oracle, _ = merge_mesh
    sql = "SELECT o.id, o.amount, c.name FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id"
    by_hand = ("SELECT o.id, CASE WHEN o.amount > 50 THEN 50 ELSE o.amount END AS amount, c.name "
               "FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id WHERE o.status <> 'returned'")
    assert _residual(runtime, sql, "cid")["engine"] == "sail (merge)"
    clerk = runtime.principal_for("cid")
    assert clerk is not None
    assert_same_result(runtime.query(sql, clerk).read_all(), oracle.sql(by_hand).to_arrow_table(), ordered=False)
    aggregate = ("SELECT c.region, count(*) AS n, max(o.amount) AS top FROM shop.orders o "
                 "JOIN crm.customers c ON c.id = o.customer_id GROUP BY c.region")
    governed = by_hand.replace("c.name", "c.region")
    aggregate_by_hand = f"SELECT region, count(*) AS n, max(amount) AS top FROM ({governed}) AS g GROUP BY region"
    assert _residual(runtime, aggregate, "cid")["engine"] == "sail (merge)"
    assert_same_result(runtime.query(aggregate, clerk).read_all(), oracle.sql(aggregate_by_hand).to_arrow_table(),
                       ordered=False)


def test_explain_analyze_names_the_merge_engine(merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    runtime, oracle, _ = merge_mesh
    sql = DELEGATED["left_join"]
    principal = runtime.principal_for("ann")
    assert principal is not None
    rows = runtime.query("EXPLAIN ANALYZE " + sql, principal).read_all().to_pylist()
    residual = next(row for row in rows if row["kind"] == "residual")
    assert residual["engine"] == "sail (merge)" and "Parquet" in residual["detail"]
    assert residual["rows"] == len(oracle.sql(sql).fetchall())


def test_a_product_not_granted_is_unknown_with_the_delegated_merge(merge_mesh: tuple[MeshRuntime, Any, Path]) -> None:
    runtime, _, _ = merge_mesh
    clerk = runtime.principal_for("cid")
    assert clerk is not None
    messages = []
    for product in ("ref", "nowhere"):  # ref exists but is not granted to clerks; nowhere does not exist
        sql = f"SELECT o.id, r.manager FROM shop.orders o JOIN {product}.regions r ON r.region = o.status"
        with pytest.raises(UnknownTable) as raised:
            runtime.query(sql, clerk).read_all()
        messages.append(str(raised.value).replace(product, "?"))
    assert messages[0] == messages[1]


# -- cancellation --------------------------------------------------------------------------------

_SLOW_MESH = """
mesh: {name: slow_merge}
settings:
  merge_engine: {kind: sail, uri: "%(merge)s", exchange: "%(exchange)s"}
  pool_size: 1
products:
  left: {engine: {kind: duckdb, path: left.duckdb}, tables: {nums: {}}, access: {read: [analyst]}}
  right: {engine: {kind: duckdb, path: right.duckdb}, tables: {nums: {}}, access: {read: [analyst]}}
users:
  ann: {password: "not-a-secret", roles: [analyst]}
"""
# 100,000 x 30,000 rows joined on a key of two values: 1.5e9 pairs, about 40 s on Sail here. A join,
# not a cross join with a filter: Sail 0.7.2's nested-loop join over Parquet does not stop when
# interrupted and holds every runtime thread (the server stops answering) until it is done.
_SLOW = "SELECT max(a.x + b.x) AS m FROM left.nums a JOIN right.nums b ON a.k = b.k"


def _numbers(folder: Path, **rows: int) -> None:
    """left.duckdb and right.duckdb, each a table nums(x DOUBLE = 0, 1, ..., k DOUBLE = x % 2)."""
    for name, count in rows.items():
        connection = duckdb.connect(str(folder / f"{name}.duckdb"))
        connection.execute(f"CREATE TABLE nums AS SELECT CAST(range AS DOUBLE) AS x, CAST(range % 2 AS DOUBLE) AS k "
                           f"FROM range({count})")
        connection.close()


def test_cancel_interrupts_the_delegated_merge(sail_endpoint: str, tmp_path: Path) -> None:
    """Sail in local mode: an interrupted local-cluster job keeps its workers busy (see conftest)."""
    _numbers(tmp_path, left=100_000, right=30_000)
    exchange = tmp_path / "exchange"
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(_SLOW_MESH % {"merge": sail_endpoint, "exchange": exchange})
    runtime = MeshRuntime.open(descriptor)
    try:
        principal = runtime.principal_for("ann")
        assert principal is not None
        assert _residual(runtime, _SLOW)["engine"] == "sail (merge)"
        cancel = CancelScope()
        outcome: list[BaseException] = []

        def cancelled_query() -> None:
            try:
                runtime.query(_SLOW, principal, cancel=cancel).read_all()
            except BaseException as error:
                outcome.append(error)

        running = threading.Thread(target=cancelled_query, daemon=True)
        running.start()
        time.sleep(1.5)
        cancel.cancel()
        # Joined for less than the job takes (about 40 s here): it returns only if the job was interrupted.
        running.join(30)
        assert not running.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], QueryCancelled)
        assert _leftovers(exchange) == []
        # The merge engine's one session (pool_size 1) is free again: the cluster stopped the job.
        done = threading.Event()
        result: list[pa.Table] = []
        small = "SELECT count(*) AS n FROM left.nums a JOIN right.nums b ON a.x = b.x"
        assert _residual(runtime, small)["engine"] == "sail (merge)"

        def follow_up() -> None:
            result.append(runtime.query(small, principal).read_all())
            done.set()

        threading.Thread(target=follow_up, daemon=True).start()
        assert done.wait(30)  # the merge engine's one session is free: the cluster stopped the job
        assert result[0].column("n").to_pylist() == [30_000]
        # A time limit interrupts the same way. A smaller job (1.5e8 pairs): Sail 0.7.2 does not
        # always stop a second interrupted job of a session at once, and this one ends soon anyway.
        with pytest.raises(QueryTimeout):
            runtime.query(_SLOW + " WHERE b.x < 3000", principal,
                          cancel=CancelScope(deadline=time.monotonic() + 1.0)).read_all()
        assert _leftovers(exchange) == []
    finally:
        runtime.close()


def test_an_unreachable_merge_engine_is_engine_unavailable(tmp_path: Path) -> None:
    """Typed, naming the setting, never the exchange's path; nothing left in the exchange."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _numbers(tmp_path, left=10, right=10)
    exchange = tmp_path / "exchange"
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(_SLOW_MESH % {"merge": f"sc://127.0.0.1:{port}", "exchange": exchange})
    runtime = MeshRuntime.open(descriptor)
    try:
        principal = runtime.principal_for("ann")
        assert principal is not None
        with pytest.raises(EngineUnavailable) as raised:
            runtime.query("SELECT a.x, b.x AS y FROM left.nums a JOIN right.nums b ON a.x = b.x", principal).read_all()
        assert "merge_engine" in str(raised.value) and str(tmp_path) not in str(raised.value)
        assert _leftovers(exchange) == []
    finally:
        runtime.close()


def test_a_sail_the_mesh_starts_itself(tmp_path: Path) -> None:
    """merge_engine: {kind: sail, mode: local-cluster, workers: 2}: no endpoint to run beforehand."""
    _numbers(tmp_path, left=300, right=200)
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(_SLOW_MESH.replace('{kind: sail, uri: "%(merge)s", exchange: "%(exchange)s"}',
                                             "{kind: sail, mode: local-cluster, workers: 2}"))
    sql = "SELECT a.k, count(*) AS n, sum(a.x * b.x) AS s FROM left.nums a JOIN right.nums b ON a.x = b.x GROUP BY a.k"
    oracle = duckdb.connect()
    for name in ("left", "right"):
        oracle.execute(f"ATTACH '{tmp_path / name}.duckdb' AS \"{name}\" (READ_ONLY)")
    runtime = MeshRuntime.open(descriptor)
    try:
        principal = runtime.principal_for("ann")
        assert principal is not None
        assert _residual(runtime, sql)["engine"] == "sail (merge)"
        expected = oracle.sql(sql.replace("left.", '"left".').replace("right.", '"right".')).to_arrow_table()
        assert_same_result(runtime.query(sql, principal).read_all(), expected, ordered=False)
    finally:
        runtime.close()
        oracle.close()
