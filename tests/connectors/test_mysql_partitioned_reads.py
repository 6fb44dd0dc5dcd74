"""Partitioned reads on MariaDB (planner/partition.py with ``partitioned_read_max`` turned on).

The fact is shaped like broad.py's inventory: a composite primary key led by a weekly date key
of few values, never analysed for persistent statistics, so the bounds of the cut come from the
connector's ``MIN``/``MAX`` on the clustered index (``connectors/mysql_stats``). The oracle is
DuckDB over the same rows in one in-memory database; every plan checked here is asserted to have
partitions, so an answer equal to the oracle's is the union of the ranges.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.oracle import assert_same_result
from tests.overlap import record_overlap

from .conftest import mysql_connect

pytestmark = pytest.mark.mysql

K = 3
DATES = [2451186 + 28 * week for week in range(10)]   # inventory's ten dates, four weeks apart
# every 13th quantity unknown: NULLs travel through the ranges like any value
FACTS = [(d, item, wh, None if (item + wh) % 13 == 0 else (d + item * wh) % 1000)
         for d in DATES for item in range(1, 601) for wh in range(1, 6)]
ITEMS = [(item, item % 7) for item in range(1, 601)]

WHOLE = "SELECT d, item, wh, qty FROM maria.inv"
# rows, not groups: a fragment grouped in the engine is never cut (a group may span two ranges)
FILTERED = ("SELECT v.d, v.item, v.wh, v.qty, i.grp FROM maria.inv v JOIN duck.items i ON v.item = i.item "
            "WHERE i.grp IN (1, 4)")


def _open_mesh(root: Path, uri: str, pool_size: int) -> Any:
    """A mesh of the MariaDB tables and a DuckDB item dimension, partitioned reads on."""
    from flightmesh.executor import MeshRuntime

    product = duckdb.connect(str(root / "items.duckdb"))
    product.execute("CREATE TABLE items (item BIGINT, grp INTEGER)")
    product.executemany("INSERT INTO items VALUES (?, ?)", ITEMS)
    product.close()
    (root / "mesh.yaml").write_text(f"""mesh: {{name: parts}}
products:
  maria:
    engine: {{kind: mysql, uri: "{uri}", allow_privileged: true, pool_size: {pool_size}}}
    tables: {{inv: {{source: pr_inv}}, wh: {{source: pr_wh}}}}
    access: {{read: [analyst]}}
  duck:
    engine: {{kind: duckdb, path: items.duckdb}}
    tables: {{items: {{}}}}
    access: {{read: [analyst]}}
users:
  reader: {{password: "reader-pw", roles: [analyst]}}
settings: {{partitioned_read_max: {K}, partitioned_read_min_rows: 0, dynamic_filter_min_probe_rows: 0}}
""")
    return MeshRuntime.open(root / "mesh.yaml")


@pytest.fixture(scope="module")
def mesh(mysql_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    root: Path = tmp_path_factory.mktemp("mysql_parts")
    connection = mysql_connect(mysql_database)
    with connection.cursor() as cursor:
        # Its own names: the session's MariaDB database is shared by the connector tests
        cursor.execute("CREATE TABLE pr_inv (d BIGINT NOT NULL, item BIGINT NOT NULL, wh BIGINT NOT NULL, "
                       "qty INT, PRIMARY KEY (d, item, wh), KEY pr_inv_item (item))")
        cursor.executemany("INSERT INTO pr_inv VALUES (%s, %s, %s, %s)", FACTS)
        cursor.execute("CREATE TABLE pr_text_key (code VARCHAR(8) PRIMARY KEY, v INT)")
        cursor.executemany("INSERT INTO pr_text_key VALUES (%s, %s)", [(f"c{i:05d}", i) for i in range(2000)])
        cursor.execute("CREATE TABLE pr_empty (id BIGINT PRIMARY KEY, v INT)")
        cursor.execute("CREATE TABLE pr_wh (wh BIGINT PRIMARY KEY, name VARCHAR(10))")
        cursor.executemany("INSERT INTO pr_wh VALUES (%s, %s)", [(wh, f"w{wh}") for wh in range(1, 6)])
    connection.close()
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA maria; CREATE SCHEMA duck")
    oracle.execute("CREATE TABLE maria.inv (d BIGINT, item BIGINT, wh BIGINT, qty INTEGER)")
    oracle.executemany("INSERT INTO maria.inv VALUES (?, ?, ?, ?)", FACTS)
    oracle.execute("CREATE TABLE duck.items (item BIGINT, grp INTEGER)")
    oracle.executemany("INSERT INTO duck.items VALUES (?, ?)", ITEMS)
    oracle.execute("CREATE TABLE maria.wh (wh BIGINT, name VARCHAR)")
    oracle.executemany("INSERT INTO maria.wh VALUES (?, ?)", [(wh, f"w{wh}") for wh in range(1, 6)])
    runtime = _open_mesh(root, mysql_database, pool_size=4)
    yield runtime, runtime.principal_for("reader"), oracle
    runtime.close()
    oracle.close()


def _partitions(runtime: Any, reader: Any, sql: str) -> tuple[Any, ...]:
    bound = runtime.bind(runtime.prepare(sql, reader), reader)
    (fragment,) = [f for f in bound.fragments if f.engine == "mysql"]
    return fragment.partitions


def test_the_primary_keys_leading_column_has_the_engines_bounds(mesh: tuple[Any, Any, Any]) -> None:
    runtime, _, _ = mesh
    connector = runtime.connectors["maria"]
    stats = connector.table_statistics("pr_inv", connector.describe("pr_inv"))
    key = stats.column("d")
    assert key is not None and (key.min, key.max, key.null_fraction) == (min(DATES), max(DATES), 0.0)
    item = stats.column("item")   # a secondary index's column: its cardinality, no bounds asked for
    assert item is None or (item.min, item.max) == (None, None)
    # a text key's order is the engine's collation, and an empty table has no bounds
    code = connector.table_statistics("pr_text_key", connector.describe("pr_text_key")).column("code")
    assert code is None or (code.min, code.max) == (None, None)
    empty = connector.table_statistics("pr_empty", connector.describe("pr_empty")).column("id")
    assert empty is None or (empty.min, empty.max) == (None, None)


def test_with_partitioned_reads_off_the_bounds_are_not_read(mesh: tuple[Any, Any, Any],
                                                           mysql_database: str) -> None:
    from flightmesh.connectors.mysql import MySQLConnector

    # they would sharpen range estimates and so move plans that nothing partitions
    connector = MySQLConnector("p", mysql_database)   # as from_spec builds it with partitioned_read_max 1
    try:
        key = connector.table_statistics("pr_inv", connector.describe("pr_inv")).column("d")
    finally:
        connector.close()
    assert key is None or (key.min, key.max) == (None, None)


def test_a_whole_table_is_read_in_ranges_of_its_leading_key(mesh: tuple[Any, Any, Any]) -> None:
    runtime, reader, oracle = mesh
    partitions = _partitions(runtime, reader, WHOLE)
    assert len(partitions) == K
    assert all("`d`" in partition.range for partition in partitions)
    assert "IS NULL" not in partitions[0].sql   # a primary key has no NULLs to place
    actual = runtime.query(WHOLE, reader).read_all()
    assert_same_result(actual, oracle.sql(WHOLE).to_arrow_table(), ordered=False)


def test_each_range_takes_the_dynamic_filters_keys(mesh: tuple[Any, Any, Any]) -> None:
    runtime, reader, oracle = mesh
    assert len(_partitions(runtime, reader, FILTERED)) == K
    rows = runtime.query(f"EXPLAIN ANALYZE {FILTERED}", reader).read_all().to_pylist()
    ranges = [row for row in rows if row["kind"] == "partition"]
    kept = sum(1 for _, item, _, _ in FACTS if item % 7 in (1, 4))
    assert len(ranges) == K and sum(row["rows"] for row in ranges) == kept   # the keys narrowed every range
    actual = runtime.query(FILTERED, reader).read_all()
    assert_same_result(actual, oracle.sql(FILTERED).to_arrow_table(), ordered=False)


def test_a_partitioned_read_closed_early_leaves_no_reader_behind(mesh: tuple[Any, Any, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from flightmesh.connectors import mysql as mysql_connector

    runtime, reader, _ = mesh
    # batches of 64 rows: each range is ~150 of them, far more than its read-ahead holds, so
    # none can have finished when the consumer stops after one
    monkeypatch.setattr(mysql_connector, "_batch_rows", lambda schema: 64)
    pool = runtime.connectors["maria"]._workers
    stream = runtime.query(WHOLE, reader)
    assert stream.read_next_batch().num_rows > 0
    deadline = time.monotonic() + 5
    while len(pool._busy) < K and time.monotonic() < deadline:
        time.sleep(0.01)   # the later ranges start on their own threads
    reading = {worker.process.pid for worker in pool._busy}
    assert len(reading) == K   # one reader process per range
    stream.close()
    del stream
    gc.collect()
    while _alive(reading) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(reading)   # a range cut short kills its reader (and its statement)
    # and the pool is whole: every range's connection came back (a leak would time this out)
    for _ in range(2):
        assert runtime.query(WHOLE, reader).read_all().num_rows == len(FACTS)


def _alive(pids: set[int]) -> bool:
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                if "State:\tZ" not in status.read():
                    return True
        except FileNotFoundError:
            continue
    return False


# two MariaDB fragments: the warehouses join the items' groups, not the fact
TWO_READS = ("SELECT v.d, v.qty, w.name FROM maria.inv v JOIN duck.items i ON v.item = i.item "
             "JOIN maria.wh w ON w.wh = i.grp")


@pytest.fixture(scope="module")
def small_pool(mesh: tuple[Any, Any, Any], mysql_database: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    runtime = _open_mesh(tmp_path_factory.mktemp("mysql_small_pool"), mysql_database, pool_size=2)
    yield runtime, runtime.principal_for("reader")
    runtime.close()


def test_ranges_never_take_the_connections_the_plans_other_fragments_need(
        small_pool: tuple[Any, Any], mesh: tuple[Any, Any, Any]) -> None:
    runtime, reader = small_pool
    _, _, oracle = mesh
    # two connections: a fragment alone takes both ...
    assert len(_partitions(runtime, reader, WHOLE)) == 2
    # ... but beside another fragment of the same engine one is left for that one: ranges holding
    # both would leave it waiting for a connection no range gives back before the merge reads it
    bound = runtime.bind(runtime.prepare(TWO_READS, reader), reader)
    maria = [f for f in bound.fragments if f.engine == "mysql"]
    assert len(maria) == 2 and not any(f.partitions for f in maria), [f.sql for f in maria]
    actual = runtime.execute(bound).read_all()
    assert_same_result(actual, oracle.sql(TWO_READS).to_arrow_table(), ordered=False)


def test_the_next_range_starts_while_the_one_before_runs_its_statement(mesh: tuple[Any, Any, Any],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from flightmesh.connectors.mysql import MySQLConnector

    # execute returns once the worker has the statement's first batch: had the next range waited
    # for that rather than for the connection, the ranges would run one after the other.
    runtime, reader, oracle = mesh
    overlapped = record_overlap(monkeypatch, MySQLConnector)
    actual = runtime.query(WHOLE, reader).read_all()
    assert overlapped == [True], "the second range waited for the first range's statement"
    assert_same_result(actual, oracle.sql(WHOLE).to_arrow_table(), ordered=False)
