"""The 22 TPC-H queries with ``lineitem`` and ``orders`` on Spark, against the one-file DuckDB oracle.

The mesh is issue 3's split (``benchmarks/tpch_mesh.py``, SF 0.01) with the sales product moved
to a LakeSail server started in this process in local-cluster mode (a driver and two workers):
lineitem and orders are global views over Parquet files written from the oracle's rows
(``benchmarks/tpch_spark.py``); customer, nation and region stay in PostgreSQL, part, partsupp
and supplier in SQLite, copies of nation and region in Parquet. Every query must return the
oracle's rows: with the planner's defaults, with every eligible join pushing its keys into Spark
and every pre-aggregation forced on, with the merge delegated to the same Sail
(``settings.merge_engine``), and with four engines in one query. The plans must keep the work on
lineitem and orders inside Spark.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from benchmarks.tpch_mesh import TpchMesh, build, load_queries, require_postgres
from benchmarks.tpch_spark import load_spark_tables, spark_descriptor
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import Principal
from flightmesh.planner import Plan
from flightmesh.planner.plan import Fragment
from tests.oracle import assert_same_result, order_keys, query_limit

pytestmark = pytest.mark.postgresql

SF = 0.01
DATA = Path(__file__).resolve().parent.parent / ".data" / "tpch-sf0_01"   # shared with tests/tpch
QUERIES = range(1, 23)
IDS = [f"q{n:02d}" for n in QUERIES]
# Every eligible join lends its keys (as literals: the Spark connector's key delivery), once as
# IN-lists, once as ranges; pre-aggregation wherever it applies. At SF 0.01 the defaults do little.
EAGER = {"lists": {"dynamic_filter_min_probe_rows": 0, "pre_aggregate_min_rows": 0},
         "ranges": {"dynamic_filter_min_probe_rows": 0, "dynamic_filter_max_literal_keys": 3,
                    "pre_aggregate_min_rows": 0}}
PARQUET_HOME = {"nation": "reference", "region": "reference"}
# The queries that read lineitem or orders (all but q02, q11, q16).
ON_SPARK = [n for n, sql in load_queries().items() if re.search(r"\b(lineitem|orders)\b", sql)]


@pytest.fixture(scope="module")
def tpch_mesh() -> TpchMesh:
    require_postgres()
    return build(SF, DATA)


@pytest.fixture(scope="module")
def spark_sources(sail_cluster_endpoint: str, tpch_mesh: TpchMesh) -> dict[str, str]:
    return load_spark_tables(sail_cluster_endpoint, tpch_mesh)


@pytest.fixture(scope="module")
def queries() -> dict[int, str]:
    return load_queries()


@pytest.fixture(scope="module")
def expected(tpch_mesh: TpchMesh, queries: dict[int, str]) -> dict[int, pa.Table]:
    with duckdb.connect(str(tpch_mesh.oracle), read_only=True) as oracle:
        return {n: oracle.sql(sql).to_arrow_table() for n, sql in queries.items()}


def _runtime(tpch_mesh: TpchMesh, uri: str, sources: dict[str, str], folder: Path,
             settings: dict[str, int] | None = None) -> MeshRuntime:
    return MeshRuntime.open(spark_descriptor(tpch_mesh, uri, sources, folder / "mesh.yaml", settings=settings))


@pytest.fixture(scope="module")
def runtime(tpch_mesh: TpchMesh, sail_cluster_endpoint: str, spark_sources: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshRuntime]:
    with _runtime(tpch_mesh, sail_cluster_endpoint, spark_sources, tmp_path_factory.mktemp("spark_tpch")) as opened:
        yield opened


@pytest.fixture(scope="module", params=sorted(EAGER))
def eager_runtime(request: pytest.FixtureRequest, tpch_mesh: TpchMesh, sail_cluster_endpoint: str,
                  spark_sources: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshRuntime]:
    folder = tmp_path_factory.mktemp(f"spark_tpch_{request.param}")
    with _runtime(tpch_mesh, sail_cluster_endpoint, spark_sources, folder, EAGER[request.param]) as opened:
        yield opened


def _analyst(runtime: MeshRuntime) -> Principal:
    found = runtime.principal_for("analyst")
    assert found is not None
    return found


def _check(number: int, actual: pa.Table, queries: dict[int, str], expected: dict[int, pa.Table]) -> None:
    sql = queries[number]
    keys = order_keys(sql)
    assert_same_result(actual, expected[number], ordered=keys is not None, order_by=keys, limit=query_limit(sql))


def _planned(runtime: MeshRuntime, sql: str) -> Plan:
    analyst = _analyst(runtime)
    return runtime.bind(runtime.prepare(sql, analyst), analyst)


@pytest.mark.parametrize("number", QUERIES, ids=IDS)
def test_result_equals_oracle(number: int, runtime: MeshRuntime, tpch_mesh: TpchMesh,
                              queries: dict[int, str], expected: dict[int, pa.Table]) -> None:
    sql = tpch_mesh.qualify(queries[number])
    _check(number, runtime.query(sql, _analyst(runtime)).read_all(), queries, expected)


@pytest.mark.parametrize("number", QUERIES, ids=IDS)
def test_result_with_keys_pushed_into_spark(number: int, eager_runtime: MeshRuntime, tpch_mesh: TpchMesh,
                                            queries: dict[int, str], expected: dict[int, pa.Table]) -> None:
    sql = tpch_mesh.qualify(queries[number])
    _check(number, eager_runtime.query(sql, _analyst(eager_runtime)).read_all(), queries, expected)


def test_eager_settings_reach_spark(eager_runtime: MeshRuntime, tpch_mesh: TpchMesh,
                                    queries: dict[int, str], request: pytest.FixtureRequest) -> None:
    """The previous test did push keys into, and pre-aggregate inside, the Spark fragments.

    Spark takes keys as literals only (no key tables), so with at most 3 literal keys only the
    joins whose build side has that few keys lend them."""
    plans = {n: _planned(eager_runtime, tpch_mesh.qualify(queries[n])) for n in QUERIES}
    into_spark = [n for n, plan in plans.items()
                  if any(_fragment(plan, k.probe).engine == "spark" for k in plan.key_filters)]
    assert len(into_spark) >= (8 if request.node.callspec.params["eager_runtime"] == "lists" else 1), into_spark
    pre_aggregated = [n for n, plan in plans.items() if plan.notes]
    assert len(pre_aggregated) >= 3, pre_aggregated


@pytest.fixture(scope="module")
def sail_merge_runtime(tpch_mesh: TpchMesh, sail_cluster_endpoint: str, spark_sources: dict[str, str],
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshRuntime]:
    """The residual delegated to the same Sail (``settings.merge_engine``), fragments exchanged as Parquet."""
    folder = tmp_path_factory.mktemp("spark_tpch_sail_merge")
    merge = {"kind": "sail", "uri": sail_cluster_endpoint, "exchange": str(folder / "exchange")}
    with MeshRuntime.open(spark_descriptor(tpch_mesh, sail_cluster_endpoint, spark_sources, folder / "mesh.yaml",
                                           settings={"merge_engine": merge})) as opened:
        yield opened


@pytest.mark.parametrize("number", QUERIES, ids=IDS)
def test_result_with_the_merge_on_sail(number: int, sail_merge_runtime: MeshRuntime, tpch_mesh: TpchMesh,
                                       queries: dict[int, str], expected: dict[int, pa.Table]) -> None:
    sql = tpch_mesh.qualify(queries[number])
    _check(number, sail_merge_runtime.query(sql, _analyst(sail_merge_runtime)).read_all(), queries, expected)


def test_the_merge_runs_on_sail(sail_merge_runtime: MeshRuntime, tpch_mesh: TpchMesh, queries: dict[int, str]) -> None:
    """The previous test did merge on Sail: EXPLAIN names it as most queries' residual engine."""
    analyst = _analyst(sail_merge_runtime)
    engines = {}
    for n in QUERIES:
        rows = sail_merge_runtime.query("EXPLAIN " + tpch_mesh.qualify(queries[n]), analyst).read_all().to_pylist()
        engines[n] = next((str(row["engine"]) for row in rows if row["kind"] == "residual"), "-")
    on_sail = [n for n, engine in engines.items() if engine.startswith("sail")]
    assert len(on_sail) >= 8, engines


@pytest.mark.parametrize("number", [5, 7, 8, 9, 20, 21], ids=lambda n: f"q{n:02d}")
def test_four_engines_in_one_query(number: int, runtime: MeshRuntime, tpch_mesh: TpchMesh,
                                   queries: dict[int, str], expected: dict[int, pa.Table]) -> None:
    sql = tpch_mesh.qualify(queries[number], PARQUET_HOME)
    assert {"spark", "sqlite", "parquet"} <= {f.engine for f in _planned(runtime, sql).fragments}
    _check(number, runtime.query(sql, _analyst(runtime)).read_all(), queries, expected)


@pytest.mark.parametrize("number", ON_SPARK, ids=lambda n: f"q{n:02d}")
def test_lineitem_and_orders_are_read_in_spark(number: int, runtime: MeshRuntime, tpch_mesh: TpchMesh,
                                               queries: dict[int, str]) -> None:
    """Whatever reads lineitem or orders is a Spark fragment, in Spark SQL over the global views."""
    plan = _planned(runtime, tpch_mesh.qualify(queries[number]))
    reading = [f for f in plan.fragments if {"sales.lineitem", "sales.orders"} & set(f.tables)]
    assert reading
    for fragment in reading:
        assert fragment.engine == "spark" and fragment.dialect == "spark"
        assert "`global_temp`.`tpch_" in fragment.sql


@pytest.mark.parametrize("number", [4, 6], ids=lambda n: f"q{n:02d}")
def test_single_product_queries_run_whole_in_spark(number: int, runtime: MeshRuntime, tpch_mesh: TpchMesh,
                                                   queries: dict[int, str]) -> None:
    """q04 and q06 read only lineitem and orders: filter, join and aggregate all run in Spark."""
    plan = _planned(runtime, tpch_mesh.qualify(queries[number]))
    (fragment,) = plan.fragments
    assert fragment.engine == "spark" and plan.residual is None
    assert "WHERE" in fragment.sql and ("SUM(" in fragment.sql or "COUNT(" in fragment.sql)


DATED = [n for n, sql in load_queries().items() if re.search(r"\bdate\s+'", sql, re.IGNORECASE)]


@pytest.mark.parametrize("number", DATED, ids=lambda n: f"q{n:02d}")
def test_date_filters_run_in_spark(number: int, runtime: MeshRuntime, tpch_mesh: TpchMesh,
                                   queries: dict[int, str]) -> None:
    """``l_shipdate < DATE '1994-01-01' + INTERVAL ...``: a date literal means the same day in Spark,
    so the filter runs there and only the rows it keeps leave the cluster."""
    plan = _planned(runtime, tpch_mesh.qualify(queries[number]))
    assert "AS DATE)" not in (plan.residual or "")
    assert any("AS DATE)" in f.sql for f in plan.fragments if f.engine == "spark")


def _fragment(plan: Plan, name: str) -> Fragment:
    return next(f for f in plan.fragments if f.name == name)


@pytest.mark.parametrize(("literal", "pushed"), [("1994-01-01", True), ("2024-02-29", True), ("2024-02-30", False),
                                                 ("2023-02-29", False), ("2024-1-1", False), (" 2024-01-01", False)])
def test_only_a_real_day_is_pushed(literal: str, pushed: bool, sail_cluster_endpoint: str) -> None:
    """A date literal is pushed only when it is a day of the calendar in ISO form: a bad one is NULL
    on Sail (an error in DuckDB), so the cast must stay in DuckDB to raise there."""
    import adbc_driver_spark.dbapi as spark_dbapi
    import sqlglot
    from sqlglot.optimizer.annotate_types import annotate_types

    from flightmesh.connectors.spark import SparkConnector

    sql = f"SELECT CAST('{literal}' AS DATE) AS v"
    tree = annotate_types(sqlglot.parse_one(sql, read="duckdb"), dialect="duckdb")
    assert all(SparkConnector.capabilities.supports(node) for node in tree.walk()) == pushed
    try:
        in_duckdb: object = duckdb.sql(sql).fetchall()[0][0]
    except duckdb.Error:
        in_duckdb = "error"
    with spark_dbapi.connect(sail_cluster_endpoint) as connection, connection.cursor() as cursor:
        cursor.execute(sqlglot.transpile(sql, read="duckdb", write="spark")[0])
        on_sail = cursor.fetchall()[0][0]
    if pushed:
        assert on_sail == in_duckdb
    elif in_duckdb == "error":
        assert on_sail is None   # the reason it stays in DuckDB
