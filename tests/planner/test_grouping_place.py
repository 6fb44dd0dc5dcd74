"""Where a grouping runs (planner/grouping_place.py), over real SQLite and DuckDB files.

SQLite sorts every row it groups (a temporary B-tree), which costs more than shipping the row:
a query SQLite could run whole ships the rows its GROUP BY / DISTINCT reads and the merge
groups them, once the statistics say there are enough of them; few rows stay whole, and DuckDB
(hash aggregation) keeps every grouping. For the same reason a SQLite fragment neither
pre-aggregates below a cross-engine join nor ships DISTINCT keys for an IN; a DuckDB copy of the
same table does both (the rules still apply where grouping is cheap).

Every result is compared with DuckDB over the same rows in one database (the oracle).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import duckdb
import pytest

from flightmesh.connectors import Capabilities
from flightmesh.executor import MeshRuntime
from flightmesh.mesh.principal import Principal
from flightmesh.planner import Plan
from flightmesh.planner.grouping_place import engine_grouping_pays
from tests.oracle import assert_same_result

ANN = Principal("ann", frozenset({"analyst"}))
FACT_ROWS = 40_000
TINY_ROWS = 200
FACTS = "SELECT range AS id, range % 300 AS g, range % 7 AS v FROM range($1)"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    """merch (SQLite): facts (40,000 rows), tiny (200); lake (DuckDB): the same facts, dims (300)."""
    directory = tmp_path_factory.mktemp("grouping")
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA merch; CREATE SCHEMA lake")
    with duckdb.connect(str(directory / "lake.duckdb")) as lake:
        lake.execute(f"CREATE TABLE facts AS {FACTS}", [FACT_ROWS])
        lake.execute("CREATE TABLE dims AS SELECT range AS g, 'name ' || (range % 40) AS name FROM range(300)")
    with sqlite3.connect(directory / "merch.sqlite") as merch:
        for table, rows in (("facts", FACT_ROWS), ("tiny", TINY_ROWS)):
            merch.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, g INTEGER NOT NULL, v INTEGER NOT NULL)")
            merch.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", [(i, i % 300, i % 7) for i in range(rows)])
            oracle.execute(f"CREATE TABLE merch.{table} AS {FACTS}", [rows])
        merch.execute("ANALYZE")
    oracle.execute(f"CREATE TABLE lake.facts AS {FACTS}", [FACT_ROWS])
    oracle.execute("CREATE TABLE lake.dims AS SELECT range AS g, 'name ' || (range % 40) AS name FROM range(300)")
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: acme}\nsettings: {schema_refresh_seconds: 0, statistics_refresh_seconds: 0}\n"
        "users:\n  ann: {password: ann-pw, roles: [analyst]}\nproducts:\n"
        f"  merch:\n    engine: {{kind: sqlite, path: {directory / 'merch.sqlite'}}}\n"
        "    access: {read: [analyst]}\n    tables: {facts: {}, tiny: {}}\n"
        f"  lake:\n    engine: {{kind: duckdb, path: {directory / 'lake.duckdb'}}}\n"
        "    access: {read: [analyst]}\n    tables: {facts: {}, dims: {}}\n")
    with MeshRuntime.open(descriptor) as runtime:
        yield runtime, oracle
    oracle.close()


def _planned(runtime: MeshRuntime, sql: str) -> Plan:
    return runtime.bind(runtime.prepare(sql, ANN), ANN).plan


def _agrees(runtime: MeshRuntime, oracle: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert_same_result(runtime.query(sql, ANN).read_all(), oracle.sql(sql).to_arrow_table(),
                       ordered="ORDER BY" in sql)


GROUPINGS = {
    "group by, count distinct": "SELECT g, count(DISTINCT v) AS n, sum(v) AS s FROM {t} WHERE v > 0 "
                                "GROUP BY g ORDER BY n DESC, g",
    "select distinct": "SELECT DISTINCT g, v FROM {t} WHERE id > 10",
    "count distinct, no group by": "SELECT count(DISTINCT g) AS n FROM {t}",
}


@pytest.mark.parametrize("sql", GROUPINGS.values(), ids=GROUPINGS.keys())
def test_sqlite_ships_the_rows_its_large_grouping_reads(mesh, sql: str) -> None:  # type: ignore[no-untyped-def]
    runtime, oracle = mesh
    query = sql.format(t="merch.facts")
    plan = _planned(runtime, query)
    assert plan.residual is not None
    (fragment,) = plan.fragments
    assert fragment.engine == "sqlite"
    assert "GROUP BY" not in fragment.sql and "DISTINCT" not in fragment.sql.upper()
    assert ("GROUP BY" in plan.residual) or ("DISTINCT" in plan.residual.upper())
    _agrees(runtime, oracle, query)


@pytest.mark.parametrize("table", ["merch.tiny", "lake.facts"], ids=["few rows in sqlite", "duckdb hashes"])
@pytest.mark.parametrize("sql", GROUPINGS.values(), ids=GROUPINGS.keys())
def test_small_or_hashed_groupings_stay_whole(mesh, sql: str, table: str) -> None:  # type: ignore[no-untyped-def]
    runtime, oracle = mesh
    query = sql.format(t=table)
    plan = _planned(runtime, query)
    assert plan.residual is None and len(plan.fragments) == 1
    _agrees(runtime, oracle, query)


@pytest.mark.parametrize(("facts", "pre_aggregated"), [("merch.facts", False), ("lake.facts", True)],
                         ids=["sqlite", "duckdb"])
def test_only_a_hashing_engine_pre_aggregates_below_a_join(mesh, facts: str, pre_aggregated: bool) -> None:  # type: ignore[no-untyped-def]
    runtime, oracle = mesh
    # dims lives in DuckDB: with lake.facts the join is inside one engine, so read dims through
    # a filter SQLite's side cannot see either way; the facts' fragment is what is compared.
    other = "merch.tiny" if facts == "lake.facts" else "lake.dims"
    sql = (f"SELECT d.g % 40 AS bucket, sum(f.v) AS s, count(*) AS n FROM {facts} f JOIN {other} d ON d.g = f.g "
           "GROUP BY d.g % 40 ORDER BY bucket")
    plan = _planned(runtime, sql)
    assert any("aggregates before the join" in note for note in plan.notes) is pre_aggregated
    _agrees(runtime, oracle, sql)


@pytest.mark.parametrize(("facts", "distinct"), [("merch.facts", False), ("lake.facts", True)],
                         ids=["sqlite", "duckdb"])
def test_only_a_hashing_engine_ships_distinct_keys_for_in(mesh, facts: str, distinct: bool) -> None:  # type: ignore[no-untyped-def]
    runtime, oracle = mesh
    other = "merch.tiny" if facts == "lake.facts" else "lake.dims"
    sql = f"SELECT d.g FROM {other} d WHERE d.g IN (SELECT f.g FROM {facts} f WHERE f.v > 2) ORDER BY d.g"
    plan = _planned(runtime, sql)
    assert any("ships distinct" in note for note in plan.notes) is distinct
    _agrees(runtime, oracle, sql)


def test_grouping_pays_in_a_hashing_engine_never_in_a_sorting_one() -> None:
    hashing, sorting = Capabilities(dialect="duckdb"), Capabilities(dialect="sqlite", grouping_row_cost=2.0)
    assert engine_grouping_pays(hashing, 1.0, 1.0) and engine_grouping_pays(hashing, 1e6, 10.0)
    assert not engine_grouping_pays(sorting, 1e6, 1.0)
