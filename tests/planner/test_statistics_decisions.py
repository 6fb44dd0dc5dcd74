"""Plan decisions that follow the engines' statistics, over real DuckDB, SQLite and Parquet files.

* Which side lends its keys: two tables of equal size, each filtered by an equality. The textbook
  selectivity (0.05) makes both sides equal, so neither waits for the other; the statistics say
  one filter keeps 20 rows and the other half the table, so the small side lends its keys. Swap
  the columns' distributions and the direction flips.
* A relay: a one-row filtered dimension restricts an unfiltered 1,000-row one, whose keys then
  restrict the fact (TPC-H Q21's nation -> supplier -> lineitem).
* EXPLAIN ANALYZE shows each fragment's estimate next to its actual rows.

Every result is compared with DuckDB over the same rows in one file (the oracle).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh.principal import Principal
from flightmesh.planner import Plan

ANN = Principal("ann", frozenset({"analyst"}))
ROWS = 40_000
JOIN = "SELECT count(*) AS n, sum(a.x) AS sx FROM lhs.a AS a JOIN rhs.b AS b ON a.k = b.k WHERE a.x = 1 AND b.y = 1"


def _descriptor(directory: Path, products: str) -> Path:
    descriptor = directory / "mesh.yaml"
    descriptor.write_text("mesh: {name: acme}\nsettings: {schema_refresh_seconds: 0, statistics_refresh_seconds: 0}\n"
                          "users:\n  ann: {password: ann-pw, roles: [analyst]}\n" f"products:\n{products}")
    return descriptor


def _pair(directory: Path, a_values: int, b_values: int) -> tuple[Path, duckdb.DuckDBPyConnection]:
    """lhs.a in DuckDB (k, x: ``a_values`` distinct), rhs.b in SQLite (k, y: ``b_values`` distinct)."""
    b = [(i, i % b_values) for i in range(ROWS)]
    with duckdb.connect(str(directory / "lhs.duckdb")) as lhs:
        lhs.execute("CREATE TABLE a AS SELECT * FROM (SELECT range AS k, range % $1 AS x FROM range($2))",
                    [a_values, ROWS])
    with sqlite3.connect(directory / "rhs.sqlite") as rhs:
        rhs.execute("CREATE TABLE b (k INTEGER PRIMARY KEY, y INTEGER NOT NULL)")
        rhs.executemany("INSERT INTO b VALUES (?, ?)", b)
        rhs.execute("CREATE INDEX b_y ON b (y)")
        rhs.execute("ANALYZE")
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA lhs; CREATE SCHEMA rhs")
    oracle.execute("CREATE TABLE lhs.a AS SELECT * FROM (SELECT range AS k, range % $1 AS x FROM range($2))",
                   [a_values, ROWS])
    oracle.register("b_rows", pa.table({"k": [r[0] for r in b], "y": [r[1] for r in b]}))
    oracle.execute("CREATE TABLE rhs.b AS SELECT * FROM b_rows")
    descriptor = _descriptor(directory, (
        f"  lhs:\n    engine: {{kind: duckdb, path: {directory / 'lhs.duckdb'}}}\n"
        "    access: {read: [analyst]}\n    tables: {a: {}}\n"
        f"  rhs:\n    engine: {{kind: sqlite, path: {directory / 'rhs.sqlite'}}}\n"
        "    access: {read: [analyst]}\n    tables: {b: {}}\n"))
    return descriptor, oracle


def _duckdb_distinct(path: Path, table: str, column: str) -> int:
    """DuckDB's own distinct count of the column (HyperLogLog), asked by hand."""
    with duckdb.connect(str(path), read_only=True) as raw:
        return int(raw.execute(f"SELECT stats({column}) FROM {table} LIMIT 1").fetchone()[0]["approx_unique"])  # type: ignore[index]


def _builds(plan: Plan) -> list[tuple[str, str]]:
    """(build product, probe product) of each key filter."""
    product = {fragment.name: fragment.products[0] for fragment in plan.fragments}
    return sorted((product[k.build], product[k.probe]) for k in plan.key_filters)


def _planned(runtime: MeshRuntime, sql: str) -> Plan:
    return runtime.bind(runtime.prepare(sql, ANN), ANN).plan


def _rows(runtime: MeshRuntime, sql: str) -> list[dict[str, object]]:
    return runtime.query(sql, ANN).read_all().to_pylist()


def _oracle(oracle: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, object]]:
    return oracle.sql(sql).to_arrow_table().to_pylist()


@pytest.mark.parametrize(("a_values", "b_values", "lender"), [(2000, 2, ("lhs", "rhs")), (2, 2000, ("rhs", "lhs"))],
                         ids=["a-selective", "b-selective"])
def test_the_side_the_statistics_call_small_lends_its_keys(tmp_path: Path, a_values: int, b_values: int,
                                                           lender: tuple[str, str]) -> None:
    descriptor, oracle = _pair(tmp_path, a_values, b_values)
    with MeshRuntime.open(descriptor) as runtime:
        plan = _planned(runtime, JOIN)
        assert _builds(plan) == [lender]
        estimates = {fragment.products[0]: fragment.estimate for fragment in plan.fragments}
        # rows / distinct values, as each engine counts them (SQLite's stat1 is exact here)
        distinct_x = min(ROWS, _duckdb_distinct(tmp_path / "lhs.duckdb", "a", "x"))
        assert estimates == {"lhs": pytest.approx(ROWS / distinct_x), "rhs": ROWS / b_values}
        assert _rows(runtime, JOIN) == _oracle(oracle, JOIN)


def test_without_statistics_neither_side_waits(tmp_path: Path) -> None:
    """SQLite without ANALYZE or an index on y, DuckDB behind a view: the textbook constants
    see two equal sides, and nothing waits (the plan of before)."""
    descriptor, oracle = _pair(tmp_path, 2000, 2)
    with sqlite3.connect(tmp_path / "rhs.sqlite") as rhs:
        rhs.execute("DROP INDEX b_y")
        rhs.execute("DROP TABLE sqlite_stat1")
    with duckdb.connect(str(tmp_path / "lhs.duckdb")) as lhs:
        lhs.execute("ALTER TABLE a RENAME TO a_stored")
        lhs.execute("CREATE VIEW a AS SELECT * FROM a_stored")
    with MeshRuntime.open(descriptor) as runtime:
        plan = _planned(runtime, JOIN)
        assert _builds(plan) == []
        assert _rows(runtime, JOIN) == _oracle(oracle, JOIN)


def test_explain_analyze_shows_estimate_beside_actual_rows(tmp_path: Path) -> None:
    descriptor, oracle = _pair(tmp_path, 2000, 2)
    with MeshRuntime.open(descriptor) as runtime:
        rows = _rows(runtime, "EXPLAIN ANALYZE " + JOIN)
    fragments = {str(row["products"]): row for row in rows if row["kind"] == "fragment"}
    build = fragments["lhs"]
    assert build["detail"] == f"estimated rows: {round(ROWS / _duckdb_distinct(tmp_path / 'lhs.duckdb', 'a', 'x'))}"
    assert build["rows"] == oracle.execute("SELECT count(*) FROM lhs.a WHERE x = 1").fetchone()[0]  # type: ignore[index]
    probe = fragments["rhs"]
    assert probe["detail"] == f"estimated rows: {ROWS // 2}"   # before the keys: what the statistics say
    assert probe["rows"] == oracle.execute(  # type: ignore[index]
        "SELECT count(*) FROM rhs.b WHERE y = 1 AND k IN (SELECT k FROM lhs.a WHERE x = 1)").fetchone()[0]


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    """fact.f (DuckDB, 60,000 rows) -> sup.s (SQLite, 1,000 suppliers) -> nat.n (Parquet, 25 nations)."""
    with duckdb.connect(str(tmp_path / "fact.duckdb")) as fact:
        fact.execute("CREATE TABLE f AS SELECT range AS id, range % 1000 AS sk, range % 97 AS v FROM range(60000)")
    with sqlite3.connect(tmp_path / "sup.sqlite") as sup:
        sup.execute("CREATE TABLE s (sk INTEGER PRIMARY KEY, nk INTEGER NOT NULL)")
        sup.executemany("INSERT INTO s VALUES (?, ?)", [(i, i % 25) for i in range(1000)])
    (tmp_path / "nat").mkdir()
    nations = pa.table({"nk": pa.array(range(25), pa.int64()), "name": [f"N{i}" for i in range(25)]})
    pq.write_table(nations, tmp_path / "nat" / "n.parquet")
    descriptor = _descriptor(tmp_path, (
        f"  fact:\n    engine: {{kind: duckdb, path: {tmp_path / 'fact.duckdb'}}}\n"
        "    access: {read: [analyst]}\n    tables: {f: {}}\n"
        f"  sup:\n    engine: {{kind: sqlite, path: {tmp_path / 'sup.sqlite'}}}\n"
        "    access: {read: [analyst]}\n    tables: {s: {}}\n"
        f"  nat:\n    engine: {{kind: parquet, path: {tmp_path / 'nat'}}}\n"
        "    access: {read: [analyst]}\n    tables: {n: {source: n.parquet}}\n"))
    oracle = duckdb.connect()
    oracle.execute(f"CREATE SCHEMA fact; CREATE SCHEMA sup; CREATE SCHEMA nat; "
                   f"ATTACH '{tmp_path / 'fact.duckdb'}' AS raw (READ_ONLY); CREATE TABLE fact.f AS FROM raw.f; "
                   f"CREATE TABLE nat.n AS FROM read_parquet('{tmp_path / 'nat' / 'n.parquet'}')")
    oracle.execute("CREATE TABLE sup.s AS SELECT range AS sk, range % 25 AS nk FROM range(1000)")
    with MeshRuntime.open(descriptor) as runtime:
        yield runtime, oracle


CHAIN = ("SELECT f.id, f.v, n.name FROM fact.f AS f JOIN sup.s AS s ON f.sk = s.sk "
         "JOIN nat.n AS n ON s.nk = n.nk WHERE n.name = 'N3' ORDER BY f.id")


Chain = tuple[MeshRuntime, duckdb.DuckDBPyConnection]


def test_a_small_unfiltered_dimension_relays_a_restriction(chain: Chain) -> None:
    runtime, oracle = chain
    plan = _planned(runtime, CHAIN)
    assert _builds(plan) == [("nat", "sup"), ("sup", "fact")]
    assert _rows(runtime, CHAIN) == _oracle(oracle, CHAIN)
    analysed = {str(row["products"]): row["rows"] for row in _rows(runtime, "EXPLAIN ANALYZE " + CHAIN)
                if row["kind"] == "fragment"}
    # the fact fragment read only the one nation's suppliers' rows (40 of 1,000 suppliers)
    assert analysed["fact"] == oracle.execute(  # type: ignore[index]
        "SELECT count(*) FROM fact.f WHERE sk IN (SELECT sk FROM sup.s WHERE nk = 3)").fetchone()[0]


def test_a_build_lends_its_distinct_keys_not_its_rows(tmp_path: Path) -> None:
    """8,333 customers (one flag of 12) carry 25 nation keys: those restrict 20,000 suppliers,
    though the customers alone are not four times fewer than the suppliers (TPC-H Q7's shape)."""
    with duckdb.connect(str(tmp_path / "big.duckdb")) as big:
        big.execute("CREATE TABLE c AS SELECT range AS ck, range % 25 AS nk, range % 12 AS flag FROM range(100000)")
    with sqlite3.connect(tmp_path / "sup.sqlite") as sup:
        sup.execute("CREATE TABLE s (sk INTEGER PRIMARY KEY, nk INTEGER NOT NULL)")
        sup.executemany("INSERT INTO s VALUES (?, ?)", [(i, i % 50) for i in range(20000)])
    descriptor = _descriptor(tmp_path, (
        f"  big:\n    engine: {{kind: duckdb, path: {tmp_path / 'big.duckdb'}}}\n"
        "    access: {read: [analyst]}\n    tables: {c: {}}\n"
        f"  sup:\n    engine: {{kind: sqlite, path: {tmp_path / 'sup.sqlite'}}}\n"
        "    access: {read: [analyst]}\n    tables: {s: {}}\n"))
    sql = "SELECT count(*) AS n FROM big.c AS c JOIN sup.s AS s ON c.nk = s.nk WHERE c.flag = 1"
    oracle = duckdb.connect()
    oracle.execute(f"ATTACH '{tmp_path / 'big.duckdb'}' AS big (READ_ONLY); CREATE SCHEMA sup; "
                   "CREATE TABLE sup.s AS SELECT range AS sk, range % 50 AS nk FROM range(20000)")
    with MeshRuntime.open(descriptor) as runtime:
        plan = _planned(runtime, sql)
        assert _builds(plan) == [("big", "sup")]
        assert _rows(runtime, sql) == _oracle(oracle, sql.replace("big.c", "big.main.c"))


def test_key_filters_never_wait_in_a_cycle() -> None:
    """Both sides lend few distinct keys to a larger other side: only the most selective edge
    is taken, so no fragment waits for one that waits for it."""
    from flightmesh.planner.dynamic import choose_key_filters

    edges = [("a", "k", "b", "k"), ("b", "k", "a", "k")]
    chosen = choose_key_filters(edges, {"a": 50_000, "b": 40_000}, 100_000, 10_000, {"a", "b"},
                                key_counts={("a", "k"): 20, ("b", "k"): 30})
    assert [(k.build, k.probe) for k in chosen] == [("a", "b")]
