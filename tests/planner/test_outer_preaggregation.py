"""Pre-aggregation of the NULL-extended side of a LEFT JOIN (TPC-H Q13's shape).

``dim.d`` (SQLite) has duplicate ids, a NULL id and ids no fact row has; ``facts.f`` (DuckDB) has
NULL keys and NULL values. A LEFT JOIN keeps every dimension row; counting or summing a bare
column of the facts per join key first gives the same answer, while COUNT(*), COUNT(1) or an
aggregate of an expression that is not NULL on a NULL-extended row would not (and are refused).
Every result is compared with DuckDB over the same rows in one database (the oracle).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import load_descriptor
from flightmesh.mesh.principal import Principal
from tests.oracle import assert_same_result

ANN = Principal("ann", frozenset({"analyst"}))
FACTS = ("SELECT CASE WHEN range % 7 = 0 THEN NULL ELSE range % 50 END AS k, "
         "CASE WHEN range % 5 = 0 THEN NULL ELSE range END AS x FROM range(2000)")
DIM = [(i, f"n{i % 9}") for i in range(70)] + [(3, "dup"), (4, "dup"), (None, "null id")]
JOIN = "FROM dim.d AS d LEFT JOIN facts.f AS f ON d.id = f.k"

APPLIES = {
    "q13": f"SELECT c, count(*) AS n FROM (SELECT d.id, count(f.x) AS c {JOIN} GROUP BY d.id) AS t GROUP BY c",
    "every kind": f"SELECT d.name, sum(f.x) AS s, min(f.x) AS lo, max(f.x) AS hi, avg(f.x) AS a, "
                  f"count(f.k) AS ck {JOIN} GROUP BY d.name",
    "grouped by the nullable key": f"SELECT f.k, count(f.x) AS c, sum(f.x) AS s {JOIN} GROUP BY f.k",
    "no group by": f"SELECT count(f.x) AS c, sum(f.x) AS s {JOIN}",
}
REFUSED = {
    "count star": f"SELECT d.id, count(*) AS n {JOIN} GROUP BY d.id",
    "count one": f"SELECT d.id, count(1) AS n {JOIN} GROUP BY d.id",
    "count of an expression": f"SELECT d.id, count(coalesce(f.x, 0)) AS n {JOIN} GROUP BY d.id",
    "full join": "SELECT d.id, count(f.x) AS n FROM dim.d AS d FULL JOIN facts.f AS f ON d.id = f.k GROUP BY d.id",
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    directory = tmp_path_factory.mktemp("outer")
    with duckdb.connect(str(directory / "facts.duckdb")) as facts:
        facts.execute(f"CREATE TABLE f AS {FACTS}")
    with sqlite3.connect(directory / "dim.sqlite") as dim:
        dim.execute("CREATE TABLE d (id INTEGER, name TEXT NOT NULL)")
        dim.executemany("INSERT INTO d VALUES (?, ?)", DIM)
    oracle = duckdb.connect()
    oracle.execute(f"CREATE SCHEMA facts; CREATE SCHEMA dim; CREATE TABLE facts.f AS {FACTS}; "
                   "CREATE TABLE dim.d (id INTEGER, name VARCHAR NOT NULL)")
    oracle.executemany("INSERT INTO dim.d VALUES (?, ?)", DIM)
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: acme}\nsettings: {schema_refresh_seconds: 0, statistics_refresh_seconds: 0}\n"
        "users:\n  ann: {password: ann-pw, roles: [analyst]}\nproducts:\n"
        f"  facts:\n    engine: {{kind: duckdb, path: {directory / 'facts.duckdb'}}}\n"
        "    access: {read: [analyst]}\n    tables: {f: {}}\n"
        f"  dim:\n    engine: {{kind: sqlite, path: {directory / 'dim.sqlite'}}}\n"
        "    access: {read: [analyst]}\n    tables: {d: {}}\n")
    spec = load_descriptor(descriptor)
    with MeshRuntime.open(replace(spec, settings=replace(spec.settings, pre_aggregate_min_rows=0))) as runtime:
        yield runtime, oracle
    oracle.close()


def _check(mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection], sql: str) -> tuple[str, ...]:
    runtime, oracle = mesh
    notes = runtime.bind(runtime.prepare(sql, ANN), ANN).plan.notes
    assert_same_result(runtime.query(sql, ANN).read_all(), oracle.sql(sql).to_arrow_table(), ordered=False)
    return notes


@pytest.mark.parametrize("sql", APPLIES.values(), ids=APPLIES.keys())
def test_the_null_extended_side_aggregates_first(mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection],
                                                  sql: str) -> None:
    assert any("aggregates before the join, grouped by k" in note for note in _check(mesh, sql))


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_refused_where_a_null_extended_row_would_count(mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection],
                                                       sql: str) -> None:
    assert not any("aggregates before the join" in note for note in _check(mesh, sql))


def test_the_preserved_side_counts_its_rows(mesh: tuple[MeshRuntime, duckdb.DuckDBPyConnection]) -> None:
    """facts LEFT JOIN dim: the facts are never NULL-extended, so COUNT(*) of their rows is a partial."""
    sql = ("SELECT d.name, count(*) AS n, sum(f.x) AS s FROM facts.f AS f LEFT JOIN dim.d AS d ON d.id = f.k "
           "GROUP BY d.name")
    assert any("aggregates before the join" in note for note in _check(mesh, sql))
