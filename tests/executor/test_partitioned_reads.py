"""Partitioned reads (planner/partition.py, executor ``_partitioned``) on a real SQLite file.

The oracle is DuckDB over the same rows in one in-memory database, the policies written by hand
as a view; never flightmesh's own output. Every partitioned plan here is checked to really have
partitions, so a result that equals the oracle is the union of the ranges.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from flightmesh.executor import MeshRuntime
from flightmesh.executor.bound import BoundPlan
from flightmesh.governance import POLICY_KEY
from flightmesh.mesh import Principal, QueryError
from tests.oracle import assert_same_result
from tests.overlap import record_overlap

K = 3  # partitioned_read_max in the test mesh

_DIM_ROWS = 3000
_FACT_ROWS = 9000
_NK_ROWS = 2000


def _write_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(
            "CREATE TABLE dim (d_id INTEGER PRIMARY KEY, d_group INTEGER, d_name TEXT, secret TEXT);"
            "CREATE TABLE fact (f_id INTEGER PRIMARY KEY, f_dim INTEGER, f_value INTEGER);"
            "CREATE INDEX fact_f_dim ON fact (f_dim);"
            # INT, not INTEGER: not the rowid, so SQLite lets the primary key be NULL
            "CREATE TABLE nk (k INT PRIMARY KEY, v INTEGER);"
            "CREATE TABLE plain (a INTEGER, b INTEGER);")
        connection.executemany("INSERT INTO dim VALUES (?, ?, ?, ?)",
                               [(i, i % 5, f"name{i}", f"s{i}") for i in range(1, _DIM_ROWS + 1)])
        connection.executemany("INSERT INTO fact VALUES (?, ?, ?)",
                               [(i, i % _DIM_ROWS + 1, i * 7 % 1000) for i in range(1, _FACT_ROWS + 1)])
        connection.executemany("INSERT INTO nk VALUES (?, ?)",
                               [(i if i % 40 else None, i) for i in range(1, _NK_ROWS + 1)])
        connection.executemany("INSERT INTO plain VALUES (?, ?)", [(i, i % 3) for i in range(1, 3001)])
        connection.commit()
    finally:
        connection.close()


def _descriptor(directory: Path, *, k: int = K, min_rows: int = 0) -> Path:
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: parts}\n"
        f"settings: {{partitioned_read_max: {k}, partitioned_read_min_rows: {min_rows},"
        " dynamic_filter_min_probe_rows: 0}\n"
        "users:\n  ann: {password: ann-pw, roles: [analyst]}\n"
        "products:\n"
        "  shop:\n"
        "    engine: {kind: sqlite, path: shop.sqlite}\n"
        "    access: {read: [analyst]}\n"
        "    tables: {dim: {}, fact: {}, nk: {}, plain: {}}\n"
        "    policies:\n"
        "      row_filters:\n"
        "        - {table: dim, where: \"d_group <> 3\"}\n"
        "      masks:\n"
        "        - {table: dim, column: secret, with: \"'hidden'\"}\n"
        "  picks:\n"
        "    engine: {kind: duckdb, path: picks.duckdb}\n"
        "    access: {read: [analyst]}\n"
        "    tables: {chosen: {}}\n")
    if (directory / "picks.duckdb").exists():
        return descriptor
    with duckdb.connect(str(directory / "picks.duckdb")) as connection:
        connection.execute("CREATE TABLE chosen AS SELECT * FROM (VALUES (5), (17), (2999), (3)) AS t(d_id)")
    return descriptor


def _oracle(directory: Path) -> duckdb.DuckDBPyConnection:
    """The same rows in one DuckDB, dim's policy written by hand as a view."""
    oracle = duckdb.connect()
    source = sqlite3.connect(directory / "shop.sqlite")
    try:
        for table, columns in (("dim", "d_id BIGINT, d_group BIGINT, d_name VARCHAR, secret VARCHAR"),
                               ("fact", "f_id BIGINT, f_dim BIGINT, f_value BIGINT"), ("nk", "k BIGINT, v BIGINT"),
                               ("plain", "a BIGINT, b BIGINT")):
            oracle.execute(f"CREATE TABLE raw_{table} ({columns})")
            cursor = source.execute(f"SELECT * FROM {table}")
            names = [item[0] for item in cursor.description]
            rows = cursor.fetchall()
            # SQLite's values as they are (a text in an INTEGER column stays text, and fails there)
            arrow = pa.table({name: pa.array([row[i] for row in rows], pa.int64() if name not in
                                             ("d_name", "secret") else pa.string())
                              for i, name in enumerate(names)})
            oracle.register("incoming", arrow)
            oracle.execute(f"INSERT INTO raw_{table} SELECT * FROM incoming")
            oracle.unregister("incoming")
    finally:
        source.close()
    oracle.execute("CREATE SCHEMA shop; CREATE SCHEMA picks")
    oracle.execute("CREATE VIEW shop.dim AS SELECT d_id, d_group, d_name, 'hidden' AS secret FROM raw_dim "
                   "WHERE d_group <> 3")
    for table in ("fact", "nk", "plain"):
        oracle.execute(f"CREATE VIEW shop.{table} AS SELECT * FROM raw_{table}")
    oracle.execute("CREATE TABLE picks.chosen AS SELECT * FROM (VALUES (5), (17), (2999), (3)) AS t(d_id)")
    return oracle


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[tuple[MeshRuntime, Path]]:
    _write_sqlite(tmp_path / "shop.sqlite")
    with MeshRuntime.open(_descriptor(tmp_path)) as runtime:
        yield runtime, tmp_path


def _ann(runtime: MeshRuntime) -> Principal:
    found = runtime.principal_for("ann")
    assert found is not None
    return found


def _bound(runtime: MeshRuntime, sql: str) -> BoundPlan:
    ann = _ann(runtime)
    return runtime.bind(runtime.prepare(sql, ann), ann)


def _check(runtime: MeshRuntime, directory: Path, sql: str, *, partitioned: bool) -> BoundPlan:
    bound = _bound(runtime, sql)
    sqlite_fragments = [f for f in bound.fragments if f.engine == "sqlite"]
    assert any(f.partitions for f in sqlite_fragments) == partitioned, [f.sql for f in sqlite_fragments]
    actual = runtime.execute(bound).read_all()
    assert_same_result(actual, _oracle(directory).sql(sql).to_arrow_table(), ordered=False)
    return bound


JOINED = ("SELECT f.f_id, f.f_value, d.d_name, d.secret FROM shop.fact f JOIN shop.dim d ON f.f_dim = d.d_id "
          "WHERE d.d_name <> 'name5'")


def test_governed_join_is_read_in_ranges_of_the_smaller_table_inside_its_policy(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    bound = _check(runtime, directory, JOINED, partitioned=True)
    fragment = next(f for f in bound.fragments if f.partitions)
    assert len(fragment.partitions) == K
    for partition in fragment.partitions:
        governed = [s for s in partition.tree.find_all(exp.Subquery) if s.meta.get(POLICY_KEY)]
        assert len(governed) == 1
        inner = governed[0].this
        # the range narrows the raw rows inside the policy subquery, on the raw key
        assert "d_id" in inner.args["where"].sql(), partition.sql
        outside = partition.tree.copy()
        for node in list(outside.find_all(exp.Subquery)):
            node.replace(exp.to_table("governed"))
        assert '"d_id" <' not in outside.sql(identify=True) and '"d_id" >=' not in outside.sql(identify=True)
    assert fragment.partitions[0].range.endswith(f"< {1 + _DIM_ROWS // K}")
    assert fragment.partitions[-1].range.startswith('"dim"."d_id" >=')


def test_the_filtered_table_is_cut_and_a_join_without_one_is_not(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    sql = "SELECT f.f_id, d.d_name FROM shop.fact f JOIN shop.dim d ON f.f_dim = d.d_id WHERE f.f_value < 500"
    bound = _check(runtime, directory, sql, partitioned=True)
    assert all('"f"."f_id"' in p.sql for p in next(f for f in bound.fragments if f.partitions).partitions)
    # which table drives the join is unknown: cutting the wrong one repeats the driver's scan per range
    _check(runtime, directory, "SELECT f.f_id, d.d_name FROM shop.fact f JOIN shop.dim d ON f.f_dim = d.d_id",
           partitioned=False)


def test_nullable_key_puts_null_rows_in_exactly_one_range(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    bound = _check(runtime, directory, "SELECT k, v FROM shop.nk", partitioned=True)
    fragment = bound.fragments[0]
    assert "IS NULL" in fragment.partitions[0].sql
    assert all("IS NULL" not in partition.sql for partition in fragment.partitions[1:])


def test_keys_outside_the_statistics_range_are_still_read_once(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    _bound(runtime, JOINED)  # statistics read and cached before the new rows
    connection = sqlite3.connect(directory / "shop.sqlite")
    try:
        connection.executescript("INSERT INTO dim VALUES (-7, 1, 'below', 's'), (0, 2, 'zero', 's'), "
                                 "(100000, 4, 'above', 's');"
                                 "INSERT INTO fact VALUES (50000, -7, 1), (50001, 0, 2), (50002, 100000, 3);"
                                 "INSERT INTO nk VALUES (-100, 1), (99999, 2);")
    finally:
        connection.close()
    bound = _check(runtime, directory, JOINED, partitioned=True)
    low = next(f for f in bound.fragments if f.partitions).partitions[0].range
    assert "-7" not in low and ">=" not in low   # the bounds are the stale statistics', open-ended
    _check(runtime, directory, "SELECT k, v FROM shop.nk", partitioned=True)


@pytest.mark.parametrize(("where", "low", "high"), [
    ("f_id BETWEEN 3001 AND 4200", 3001, 4200),
    ("3001 <= f_id AND f_id < 4201", 3001, 4200),
    ("f_id > 3000 AND f_id <= 4200 AND f_value < 900", 3001, 4200),
    ("f_id IN (3001, 3500, 4200)", 3001, 4200),
    ("f_id >= 8000", 8000, _FACT_ROWS),       # the statistics' max closes what the filter leaves open
])
def test_ranges_split_the_keys_the_fragment_itself_bounds(mesh, where: str, low: int, high: int) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    # Split over the table's whole key span, a read of keys 3001-4200 would put all its rows in
    # the middle range and none in the others.
    bound = _check(runtime, directory, f"SELECT f_id, f_value FROM shop.fact WHERE {where}", partitioned=True)
    width = high - low + 1
    expected = [low + width * index // K for index in range(1, K)]
    ranges = [partition.range for partition in bound.fragments[0].partitions]
    assert ranges[0].endswith(f"< {expected[0]}") and ranges[-1].endswith(f">= {expected[-1]}"), ranges


def test_a_fragment_bounding_its_key_to_fewer_values_than_ranges_is_one_read(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    _check(runtime, directory, "SELECT f_id, f_value FROM shop.fact WHERE f_id BETWEEN 10 AND 11", partitioned=False)


def test_partitions_take_dynamic_filter_keys_each(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    sql = ("SELECT f.f_id, d.d_name FROM shop.fact f JOIN shop.dim d ON f.f_dim = d.d_id "
           "JOIN picks.chosen c ON c.d_id = d.d_id WHERE c.d_id < 3000")
    bound = _check(runtime, directory, sql, partitioned=True)
    fragment = next(f for f in bound.fragments if f.partitions)
    assert bound.key_filters and bound.key_filters[0].probe == fragment.name
    assert all(part.name in bound.key_slots for part in fragment.partition_fragments())
    for part, partition in zip(fragment.partition_fragments(), fragment.partitions, strict=True):
        keyed = bound.key_slots[part.name].statement([pa.array([5, 17])], max_literal_keys=100)
        assert keyed.keyed and " IN (5, 17)" in keyed.sql and partition.range in keyed.sql


def test_explain_analyze_shows_rows_per_range(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, _ = mesh
    rows = runtime.query("EXPLAIN ANALYZE SELECT k, v FROM shop.nk", _ann(runtime)).read_all().to_pylist()
    ranges = [row for row in rows if row["kind"] == "partition"]
    assert [row["name"] for row in ranges] == [f"f0/{i}" for i in range(1, K + 1)]
    whole = next(row for row in rows if row["kind"] == "fragment")
    assert sum(row["rows"] for row in ranges) == whole["rows"] == _NK_ROWS
    assert all(row["rows"] > 0 for row in ranges)
    plan_rows = runtime.query("EXPLAIN SELECT k, v FROM shop.nk", _ann(runtime)).read_all().to_pylist()
    first = next(row["detail"] for row in plan_rows if row["kind"] == "partition")
    assert first.startswith("partition 1 of 3: ")


@pytest.mark.parametrize("sql", [
    "SELECT f_dim, count(*) AS n FROM shop.fact GROUP BY f_dim",
    "SELECT DISTINCT f_value FROM shop.fact",
    "SELECT f_id FROM shop.fact ORDER BY f_value DESC, f_id LIMIT 7",
    "SELECT f_id, sum(f_value) OVER (ORDER BY f_id) AS running FROM shop.fact",
    "SELECT f.f_id, d.d_name FROM shop.fact f LEFT JOIN shop.dim d ON f.f_dim = d.d_id",
    "SELECT a.f_id, b.f_id AS other FROM shop.fact a JOIN shop.fact b ON a.f_id = b.f_dim",
    "SELECT f_id FROM shop.fact WHERE f_dim IN (SELECT d_id FROM shop.dim WHERE d_group = 1)",
    "SELECT a, b FROM shop.plain",   # no primary key
])
def test_results_equal_the_oracle_whatever_is_refused(mesh, sql: str) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    bound = _bound(runtime, sql)
    assert_same_result(runtime.execute(bound).read_all(), _oracle(directory).sql(sql).to_arrow_table(),
                       ordered="ORDER BY" in sql and "OVER" not in sql)


def test_small_fragments_and_k_of_one_stay_one_read(tmp_path: Path) -> None:
    _write_sqlite(tmp_path / "shop.sqlite")
    with MeshRuntime.open(_descriptor(tmp_path, min_rows=_NK_ROWS + 1)) as runtime:
        _check(runtime, tmp_path, "SELECT k, v FROM shop.nk", partitioned=False)
        _check(runtime, tmp_path, JOINED, partitioned=True)   # 9000 expected rows: over the bound
    with MeshRuntime.open(_descriptor(tmp_path, k=1)) as runtime:
        _check(runtime, tmp_path, JOINED, partitioned=False)


def test_a_scan_of_a_large_table_for_few_rows_is_split_by_the_rows_it_reads(tmp_path: Path) -> None:
    _write_sqlite(tmp_path / "shop.sqlite")
    with MeshRuntime.open(_descriptor(tmp_path, min_rows=_FACT_ROWS // 2)) as runtime:
        # ~9 of fact's 9,000 rows, but SQLite scans all 9,000 (no index on f_value)
        _check(runtime, tmp_path, "SELECT f_id, f_dim FROM shop.fact WHERE f_value = 3", partitioned=True)
        # the key's own bound narrows what the engine reads to what it returns
        _check(runtime, tmp_path, "SELECT f_id, f_dim FROM shop.fact WHERE f_id BETWEEN 100 AND 120",
               partitioned=False)


@pytest.mark.parametrize("sql", [
    "SELECT f_id, f_value FROM shop.fact WHERE f_dim NOT IN (SELECT d_id FROM shop.dim WHERE d_group = 1)",
    "SELECT f_id FROM shop.fact WHERE f_dim IN (SELECT d_id FROM shop.dim WHERE d_name LIKE '%7%')",
    "SELECT f_id, f_value FROM shop.fact WHERE f_value > (SELECT avg(f_value) FROM shop.fact)",
    "SELECT f.f_id FROM shop.fact f WHERE EXISTS (SELECT 1 FROM shop.dim d WHERE d.d_id = f.f_dim AND d.d_group = 2)",
    "SELECT f_id, (SELECT max(d_id) FROM shop.dim) AS top FROM shop.fact WHERE f_value < 300",
])
def test_a_read_filtered_by_a_subquery_is_split_and_each_range_evaluates_it_whole(mesh, sql: str) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    # The range narrows the fragment's own read of fact; the subquery (even over fact itself,
    # even the governed dim) reads its tables whole in every range.
    _check(runtime, directory, sql, partitioned=True)


def test_a_failing_range_fails_the_query_with_its_typed_error_and_nothing_hangs(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    connection = sqlite3.connect(directory / "shop.sqlite")
    try:  # SQLite keeps text in an INTEGER column: only the last range's rows cannot be typed
        connection.execute("UPDATE nk SET v = 'not a number' WHERE k = 1990")
        connection.commit()
    finally:
        connection.close()
    bound = _bound(runtime, "SELECT k, v FROM shop.nk")
    assert bound.fragments[0].partitions
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            runtime.execute(bound).read_all()
            outcome["error"] = None
        except BaseException as error:  # the test inspects it
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the partitioned read hung after one range failed"
    assert isinstance(outcome["error"], QueryError)
    # the connections came back: the next query runs
    assert runtime.query("SELECT count(*) AS n FROM shop.nk", _ann(runtime)).read_all().column(0)[0].as_py() == _NK_ROWS


def test_a_partitioned_plan_survives_its_serialized_form(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, directory = mesh
    bound = _bound(runtime, JOINED)
    connectors = {fragment.products[0]: fragment.connector for fragment in bound.fragments}
    restored = BoundPlan.from_dict(bound.to_dict(connectors), connectors)
    before = next(f for f in bound.fragments if f.partitions)
    after = restored.fragment(before.name)
    assert [(p.sql, p.range) for p in after.partitions] == [(p.sql, p.range) for p in before.partitions]
    assert [p.tree.sql() for p in after.partitions] == [p.tree.sql() for p in before.partitions]
    assert_same_result(runtime.execute(restored).read_all(), _oracle(directory).sql(JOINED).to_arrow_table(),
                       ordered=False)


def test_arrow_types_of_a_partitioned_read_are_the_fragments(mesh) -> None:  # type: ignore[no-untyped-def]
    runtime, _ = mesh
    bound = _bound(runtime, JOINED)
    table = runtime.execute(bound).read_all()
    assert table.schema.field("f_id").type == pa.int64()


def test_ranges_of_concurrent_queries_share_a_small_pool_without_waiting_for_ever(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flightmesh.connectors import sqlite as sqlite_connector

    # Two connections for four queries of three ranges each, and ranges of many batches (more
    # than a range's read-ahead queue holds): a query whose later ranges took the connections
    # while its first range waited would never finish, nor let the others.
    monkeypatch.setattr(sqlite_connector, "_MAX_CONNECTIONS", 2)
    monkeypatch.setattr(sqlite_connector, "_BATCH_ROWS", 16)
    _write_sqlite(tmp_path / "shop.sqlite")
    expected = _oracle(tmp_path).sql("SELECT k, v FROM shop.nk").to_arrow_table()
    with MeshRuntime.open(_descriptor(tmp_path)) as runtime:
        bound = _bound(runtime, "SELECT k, v FROM shop.nk")
        assert len(bound.fragments[0].partitions) == K
        results: list[pa.Table] = []
        failures: list[BaseException] = []

        def run() -> None:
            try:
                results.append(runtime.execute(bound).read_all())
            except BaseException as error:  # the test inspects it
                failures.append(error)

        workers = [threading.Thread(target=run) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert not any(worker.is_alive() for worker in workers), "partitioned reads waited for ever on the pool"
        assert not failures
        for table in results:
            assert_same_result(table, expected, ordered=False)


def test_the_next_range_starts_while_the_one_before_runs_its_statement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flightmesh.connectors import sqlite as sqlite_connector

    # SQLite's execute runs a statement up to its first batch (a small range's whole result).
    # The ranges take their connections in order, and were the next one to wait for execute to
    # return, not for the connection, the ranges would run one after the other: no gain at all.
    overlapped = record_overlap(monkeypatch, sqlite_connector.SQLiteConnector)
    _write_sqlite(tmp_path / "shop.sqlite")
    with MeshRuntime.open(_descriptor(tmp_path)) as runtime:
        bound = _bound(runtime, "SELECT k, v FROM shop.nk")
        assert len(bound.fragments[0].partitions) == K
        table = runtime.execute(bound).read_all()
    assert overlapped == [True], "the second range waited for the first range's statement"
    assert_same_result(table, _oracle(tmp_path).sql("SELECT k, v FROM shop.nk").to_arrow_table(), ordered=False)
