"""The 22 TPC-H queries over four engines, planned by flightmesh, against the one-file oracle.

The mesh splits the tables as issue 3 asks (lineitem, orders: DuckDB; customer, nation, region:
PostgreSQL; part, partsupp, supplier: SQLite; copies of nation and region: Parquet). Each query
must return the oracle's rows; its plan must equal ``golden/qNN.plan`` (the pushdown decisions,
reviewed by hand: ``FLIGHTMESH_UPDATE_GOLDEN=1`` rewrites them after an intended change).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.tpch_mesh import TpchMesh
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import Principal, load_descriptor
from flightmesh.planner import Plan

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FLIGHTMESH_UPDATE_GOLDEN") == "1"
QUERIES = range(1, 23)
# Reading nation and region from the Parquet copies puts all four engines in one query.
PARQUET_HOME = {"nation": "reference", "region": "reference"}


@pytest.fixture(scope="module")
def runtime(tpch_mesh: TpchMesh) -> Iterator[MeshRuntime]:
    with MeshRuntime.open(tpch_mesh.descriptor) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def analyst(runtime: MeshRuntime) -> Principal:
    found = runtime.principal_for("analyst")
    assert found is not None
    return found


# At SF 0.01 few fragments are big enough to wait for keys. These settings make every eligible
# join lend its keys, once as IN-lists and key tables, once as ranges (at most 3 literals).
# Pre-aggregation is forced on wherever it applies, too.
EAGER = {"lists": {"dynamic_filter_min_probe_rows": 0, "pre_aggregate_min_rows": 0},
         "ranges": {"dynamic_filter_min_probe_rows": 0, "dynamic_filter_max_literal_keys": 3,
                    "pre_aggregate_min_rows": 0}}


@pytest.fixture(scope="module", params=sorted(EAGER))
def eager_runtime(request: pytest.FixtureRequest, tpch_mesh: TpchMesh) -> Iterator[MeshRuntime]:
    spec = load_descriptor(tpch_mesh.descriptor)
    spec = replace(spec, settings=replace(spec.settings, **EAGER[request.param]))
    with MeshRuntime.open(spec) as runtime:
        yield runtime


def plan_lines(plan: Plan) -> list[str]:
    lines = [f"fragment {f.name} [{', '.join(f.products)} {f.engine}] {f.sql}" for f in plan.fragments]
    lines += [f"filter {k.probe}.{k.probe_column} <- {k.build}.{k.build_column}" for k in plan.key_filters]
    if plan.residual is not None:
        lines.append(f"residual {plan.residual}")
    return lines


def planned(runtime: MeshRuntime, analyst: Principal, sql: str) -> Plan:
    return runtime.bind(runtime.prepare(sql, analyst), analyst)


@pytest.mark.parametrize("number", QUERIES, ids=[f"q{n:02d}" for n in QUERIES])
def test_result_equals_oracle(number, runtime, analyst, tpch_mesh, tpch_queries, tpch_check) -> None:  # type: ignore[no-untyped-def]
    sql = tpch_mesh.qualify(tpch_queries[number])
    tpch_check(number, runtime.query(sql, analyst).read_all())


@pytest.mark.parametrize("number", QUERIES, ids=[f"q{n:02d}" for n in QUERIES])
def test_result_with_eager_dynamic_filters(number, eager_runtime, tpch_mesh, tpch_queries, tpch_check) -> None:  # type: ignore[no-untyped-def]
    analyst = eager_runtime.principal_for("analyst")
    sql = tpch_mesh.qualify(tpch_queries[number])
    tpch_check(number, eager_runtime.query(sql, analyst).read_all())


def test_eager_settings_do_filter(eager_runtime, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    analyst = eager_runtime.principal_for("analyst")
    filtered = [n for n in QUERIES
                if planned(eager_runtime, analyst, tpch_mesh.qualify(tpch_queries[n])).key_filters]
    assert len(filtered) >= 8, filtered  # the previous test exercised dynamic filtering widely
    pre_aggregated = [n for n in QUERIES
                      if planned(eager_runtime, analyst, tpch_mesh.qualify(tpch_queries[n])).notes]
    assert len(pre_aggregated) >= 3, pre_aggregated  # ... and pre-aggregation


@pytest.mark.parametrize("number", [5, 7, 8, 9, 20, 21], ids=lambda n: f"q{n:02d}")
def test_four_engines_in_one_query(number, runtime, analyst, tpch_mesh, tpch_queries, tpch_check) -> None:  # type: ignore[no-untyped-def]
    sql = tpch_mesh.qualify(tpch_queries[number], PARQUET_HOME)
    plan = planned(runtime, analyst, sql)
    assert {"duckdb", "sqlite", "parquet"} <= {f.engine for f in plan.fragments}
    tpch_check(number, runtime.query(sql, analyst).read_all())


@pytest.mark.parametrize("number", QUERIES, ids=[f"q{n:02d}" for n in QUERIES])
def test_plan_equals_golden(number, runtime, analyst, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    lines = plan_lines(planned(runtime, analyst, tpch_mesh.qualify(tpch_queries[number])))
    golden = GOLDEN / f"q{number:02d}.plan"
    if UPDATE:
        golden.write_text("\n".join(lines) + "\n")
    assert lines == golden.read_text().splitlines()


def test_q6_runs_entirely_inside_duckdb(runtime, analyst, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    plan = planned(runtime, analyst, tpch_mesh.qualify(tpch_queries[6]))
    assert plan.residual is None
    (fragment,) = plan.fragments
    assert fragment.engine == "duckdb"
    assert "SUM(" in fragment.sql and "WHERE" in fragment.sql


def test_q5_region_filter_runs_inside_postgresql(runtime, analyst, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    plan = planned(runtime, analyst, tpch_mesh.qualify(tpch_queries[5]))
    (postgres,) = [f for f in plan.fragments if f.engine == "postgresql"]
    assert "'ASIA'" in postgres.sql and '"r_name"' in postgres.sql
    assert "'ASIA'" not in (plan.residual or "")
    # customer, nation and region are joined inside PostgreSQL (customer-nation via the implied
    # equality c_nationkey = n_nationkey), not shipped whole to the merge engine
    assert {"customers.customer", "customers.nation", "customers.region"} == set(postgres.tables)


def test_top_n_is_pushed_as_order_by_and_limit(runtime, analyst, tpch_oracle) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT l_orderkey, l_extendedprice FROM sales.lineitem ORDER BY l_extendedprice DESC, l_orderkey LIMIT 7"
    plan = planned(runtime, analyst, sql)
    (fragment,) = plan.fragments
    assert plan.residual is None
    assert fragment.sql.endswith('ORDER BY "l_extendedprice" DESC, "l_orderkey" LIMIT 7')
    expected = tpch_oracle.sql(sql.replace("sales.", "")).to_arrow_table()
    assert runtime.query(sql, analyst).read_all().to_pylist() == expected.to_pylist()
