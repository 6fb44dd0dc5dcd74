"""The merge DuckDB is told its input streams' sizes only when every join between them has a key side.

A fact in DuckDB (60,000 rows, 1,000 keys of 10 groups each) and a dimension in SQLite (1,000
rows, ``k`` its primary key, ``g`` ten groups), both with the engines' own statistics:

* joined on the dimension's key, the plan sizes both streams, and DuckDB then builds its hash
  table on the 1,000 dimension rows, not on the 60,000 fact rows (unsized, each stream counts
  for one row and the written order puts the fact on the build side);
* joined on ``g`` (ten values on both sides, no key), DuckDB would estimate the join at the
  fact's size instead of 6 million rows; no stream is sized.

The physical plan is DuckDB's own EXPLAIN over streams registered exactly as the executor
registers them (``executor.merge.register_input``); every answer is compared with DuckDB over
the same rows in one file (the oracle).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.executor.bound import BoundPlan
from flightmesh.executor.merge import register_input
from flightmesh.mesh.principal import Principal
from tests.oracle import assert_same_result

ANN = Principal("ann", frozenset({"analyst"}))
FACT_ROWS, KEYS = 60_000, 1_000
# The dimension first: written order puts the fact on a hash join's build side.
# No aggregate: the fact's 60,000 rows reach the merge as they are (none is grouped in DuckDB first).
ON_KEY = ("SELECT d.name, f.x FROM rhs.dim AS d JOIN lhs.fact AS f ON f.k = d.k "
          "WHERE f.x % 7 = 3 ORDER BY f.x LIMIT 20")
ON_GROUP = ("SELECT d.name, f.x FROM rhs.dim AS d JOIN lhs.fact AS f ON f.g = d.g "
            "WHERE d.k < 3 ORDER BY d.name, f.x LIMIT 20")


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    fact_sql = f"SELECT range % {KEYS} AS k, range % 10 AS g, range AS x FROM range({FACT_ROWS})"
    with duckdb.connect(str(tmp_path / "lhs.duckdb")) as lhs:
        lhs.execute(f"CREATE TABLE fact AS {fact_sql}")
    dim = [(k, k % 10, f"name-{k:04d}") for k in range(KEYS)]
    with sqlite3.connect(tmp_path / "rhs.sqlite") as rhs:
        rhs.execute("CREATE TABLE dim (k INTEGER PRIMARY KEY, g INTEGER NOT NULL, name TEXT NOT NULL)")
        rhs.executemany("INSERT INTO dim VALUES (?, ?, ?)", dim)
        rhs.execute("CREATE INDEX dim_g ON dim (g)")
        rhs.execute("ANALYZE")
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA lhs; CREATE SCHEMA rhs")
    oracle.execute(f"CREATE TABLE lhs.fact AS {fact_sql}")
    oracle.execute("CREATE TABLE rhs.dim (k BIGINT, g BIGINT, name VARCHAR)")
    oracle.executemany("INSERT INTO rhs.dim VALUES (?, ?, ?)", dim)
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: acme}\nsettings: {schema_refresh_seconds: 0, statistics_refresh_seconds: 0}\n"
        "users:\n  ann: {password: ann-pw, roles: [analyst]}\nproducts:\n"
        f"  lhs:\n    engine: {{kind: duckdb, path: {tmp_path / 'lhs.duckdb'}}}\n"
        "    access: {read: [analyst]}\n    tables: {fact: {}}\n"
        f"  rhs:\n    engine: {{kind: sqlite, path: {tmp_path / 'rhs.sqlite'}}}\n"
        "    access: {read: [analyst]}\n    tables: {dim: {}}\n")
    with MeshRuntime.open(descriptor) as runtime:
        yield runtime, oracle
    oracle.close()


def _bound(runtime: MeshRuntime, sql: str) -> BoundPlan:
    return runtime.bind(runtime.prepare(sql, ANN), ANN)


def _hash_join_sides(bound: BoundPlan) -> tuple[list[str], list[str]]:
    """The columns DuckDB's merge scans on the probe and the build side of its (one) hash join,
    with every fragment registered as the executor registers it (here as an empty stream)."""
    plan = bound.plan
    assert plan.residual is not None
    sizes = dict(plan.merge_rows)
    merge = duckdb.connect()
    for fragment in plan.fragments:
        empty = bound.fragment_schemas[fragment.name].empty_table().to_reader()
        register_input(merge, fragment.name, empty, sizes.get(fragment.name))
    tree = json.loads(merge.sql("EXPLAIN (FORMAT JSON) " + plan.residual).fetchall()[0][1])
    merge.close()

    def find(node: dict[str, Any]) -> dict[str, Any] | None:
        if node.get("name") == "HASH_JOIN":
            return node
        return next((found for child in node.get("children", []) if (found := find(child)) is not None), None)

    join = find(tree[0])
    assert join is not None
    probe, build = join["children"]
    return probe["extra_info"]["Projections"], build["extra_info"]["Projections"]


def test_a_join_on_the_dimension_key_sizes_the_streams_and_builds_on_the_dimension(
        mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection]) -> None:
    runtime, oracle = mesh
    bound = _bound(runtime, ON_KEY)
    products = {fragment.name: fragment.products[0] for fragment in bound.plan.fragments}
    estimates = {fragment.name: round(fragment.estimate or 0) for fragment in bound.plan.fragments}
    assert {products[name] for name, _ in bound.plan.merge_rows} == {"lhs", "rhs"}
    assert dict(bound.plan.merge_rows) == estimates
    probe, build = _hash_join_sides(bound)
    assert "name" in build and "x" in probe   # the 1,000 dimension rows are hashed, the fact probes
    assert_same_result(runtime.query(ON_KEY, ANN).read_all(), oracle.sql(ON_KEY).to_arrow_table(),
                       ordered=True, order_by=("x",), limit=20)


def test_a_join_without_a_key_side_sizes_nothing(mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection]) -> None:
    runtime, oracle = mesh
    bound = _bound(runtime, ON_GROUP)
    assert bound.plan.residual is not None and len(bound.plan.fragments) == 2
    assert bound.plan.merge_rows == ()
    assert_same_result(runtime.query(ON_GROUP, ANN).read_all(), oracle.sql(ON_GROUP).to_arrow_table(),
                       ordered=True, order_by=("name", "x"), limit=20)


def test_the_sizes_travel_with_a_serialized_plan(mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection]) -> None:
    runtime, _ = mesh
    bound = _bound(runtime, ON_KEY)
    assert bound.plan.merge_rows
    restored = BoundPlan.from_dict(json.loads(json.dumps(bound.to_dict(runtime.connectors))), runtime.connectors)
    assert restored.plan.merge_rows == bound.plan.merge_rows


@pytest.mark.parametrize(("keys", "sized"), [(KEYS, True), (KEYS // 2, False)], ids=["dense-key", "repeated"])
def test_a_parquet_dimension_is_a_key_by_its_dense_integer_range(tmp_path: Path, keys: int, sized: bool) -> None:
    """Parquet footers keep no distinct counts: an integer column without NULLs whose range holds
    about as many values as the file has rows is taken for a key; one whose range holds half as
    many values repeats them, and the join (on no key) sizes nothing."""
    fact_sql = f"SELECT range % {KEYS} AS k, range AS x FROM range({FACT_ROWS})"
    with duckdb.connect(str(tmp_path / "lhs.duckdb")) as lhs:
        lhs.execute(f"CREATE TABLE fact AS {fact_sql}")
    (tmp_path / "cal").mkdir()
    dim_sql = f"SELECT range % {keys} AS k, 'day-' || range AS name FROM range({KEYS})"
    with duckdb.connect() as writer:
        writer.execute(f"COPY ({dim_sql}) TO '{tmp_path / 'cal' / 'days.parquet'}' (FORMAT parquet)")
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: acme}\nsettings: {schema_refresh_seconds: 0, statistics_refresh_seconds: 0}\n"
        "users:\n  ann: {password: ann-pw, roles: [analyst]}\nproducts:\n"
        f"  lhs:\n    engine: {{kind: duckdb, path: {tmp_path / 'lhs.duckdb'}}}\n"
        "    access: {read: [analyst]}\n    tables: {fact: {}}\n"
        f"  cal:\n    engine: {{kind: parquet, path: {tmp_path / 'cal'}}}\n"
        "    access: {read: [analyst]}\n    tables: {days: {}}\n")
    sql = ("SELECT d.name, f.x FROM cal.days AS d JOIN lhs.fact AS f ON f.k = d.k "
           "WHERE f.x % 7 = 3 ORDER BY f.x, d.name LIMIT 20")
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA lhs; CREATE SCHEMA cal")
    oracle.execute(f"CREATE TABLE lhs.fact AS {fact_sql}")
    oracle.execute(f"CREATE TABLE cal.days AS {dim_sql}")
    with MeshRuntime.open(descriptor) as runtime:
        bound = _bound(runtime, sql)
        assert bound.plan.residual is not None
        assert bool(bound.plan.merge_rows) is sized
        assert_same_result(runtime.query(sql, ANN).read_all(), oracle.sql(sql).to_arrow_table(),
                           ordered=True, order_by=("x", "name"), limit=20)
    oracle.close()


def test_without_duckdbs_private_source_hook_a_sized_stream_is_registered_plainly(
        mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection], monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook is private DuckDB API: if a release drops it, sizes are lost, never answers."""
    import flightmesh.executor.merge as merge

    runtime, oracle = mesh
    assert merge._SizedStream is not None   # DuckDB 2.0 has the hook: sizing is really in use
    monkeypatch.setattr(merge, "_SizedStream", None)
    assert _bound(runtime, ON_KEY).plan.merge_rows
    assert_same_result(runtime.query(ON_KEY, ANN).read_all(), oracle.sql(ON_KEY).to_arrow_table(),
                       ordered=True, order_by=("x",), limit=20)
