"""Statistics read from each real engine (``connectors/*_stats.py``) against the same engine
queried by hand: ``count(*)``, ``count(DISTINCT c)``, ``min(c)``, ``max(c)`` and the share of
NULLs, on one data set loaded into PostgreSQL, MariaDB, SQLite, DuckDB and Parquet.

Exact where the engine's statistics are exact on a table this small (PostgreSQL's ANALYZE samples
every row of it, MariaDB's persistent statistics scan it, Parquet footers count), within the
engine's own approximation otherwise (DuckDB's HyperLogLog; SQLite's stat1 rounds rows per value
up). A statistic the engine does not keep is None, never a guess.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flightmesh.connectors.duckdb import DuckDBConnector
from flightmesh.connectors.parquet import ParquetConnector
from flightmesh.connectors.sqlite import SQLiteConnector
from flightmesh.mesh.statistics import TableStatistics
from tests.connectors.conftest import mysql_connect, pg_execute

ROWS = 5000
START = datetime.date(2020, 1, 1)
COLUMNS = ("id", "grp", "val", "day")
QUERIES = {"rows": "SELECT count(*) FROM t",
           **{f"distinct_{c}": f"SELECT count(DISTINCT {c}) FROM t" for c in COLUMNS},
           **{f"min_{c}": f"SELECT min({c}) FROM t" for c in COLUMNS},
           **{f"max_{c}": f"SELECT max({c}) FROM t" for c in COLUMNS},
           **{f"nulls_{c}": f"SELECT sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END) FROM t" for c in COLUMNS}}


def _data() -> list[tuple[Any, ...]]:
    # ids unique, grp 7 values, val NULL every 10th row, day cycling over 400 days
    return [(i, i % 7, None if i % 10 == 0 else i * 3, START + datetime.timedelta(days=i % 400))
            for i in range(1, ROWS + 1)]


def _truth(run: Callable[[str], Any]) -> dict[str, Any]:
    """The engine's own answers, queried by hand."""
    return {name: run(sql) for name, sql in QUERIES.items()}


def _same_range(stats: TableStatistics, truth: dict[str, Any], columns: tuple[str, ...]) -> None:
    for column in columns:
        found = stats.column(column)
        assert found is not None, column
        low, high = truth[f"min_{column}"], truth[f"max_{column}"]
        if isinstance(found.min, float):
            low, high = float(low), float(high)
        if isinstance(low, datetime.datetime):
            low, high = low.date(), high.date()
        assert (found.min, found.max) == (low, high), column


def _same_nulls(stats: TableStatistics, truth: dict[str, Any], columns: tuple[str, ...]) -> None:
    for column in columns:
        found = stats.column(column)
        assert found is not None and found.null_fraction is not None, column
        assert found.null_fraction == pytest.approx(int(truth[f"nulls_{column}"]) / truth["rows"], abs=1e-6)


def _within(found: int | None, exact: int, tolerance: float) -> bool:
    return found is not None and abs(found - exact) <= exact * tolerance


def test_postgresql_statistics_equal_the_engine(postgres_database: str) -> None:
    from flightmesh.connectors.postgresql import PostgreSQLConnector

    rows = ", ".join(f"({i}, {g}, {'NULL' if v is None else v}, DATE '{d}')" for i, g, v, d in _data())
    pg_execute(postgres_database, "DROP TABLE IF EXISTS t",
               "CREATE TABLE t (id integer PRIMARY KEY, grp integer, val bigint, day date)",
               f"INSERT INTO t VALUES {rows}", "ANALYZE t")
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(postgres_database, autocommit=True) as raw, raw.cursor() as cursor:
        def run(sql: str) -> Any:
            cursor.execute(sql)
            return cursor.fetchone()[0]
        truth = _truth(run)
    connector = PostgreSQLConnector("p", postgres_database)
    try:
        stats = connector.table_statistics("t", connector.describe("t"))
    finally:
        connector.close()
    assert stats.rows == truth["rows"] == ROWS
    for column in COLUMNS:  # ANALYZE read all 5,000 rows: its distinct counts are exact
        assert stats.column(column).distinct == truth[f"distinct_{column}"], column  # type: ignore[union-attr]
    _same_range(stats, truth, COLUMNS)
    _same_nulls(stats, truth, COLUMNS)


def test_postgresql_never_analysed_knows_no_column(postgres_database: str) -> None:
    from flightmesh.connectors.postgresql import PostgreSQLConnector

    pg_execute(postgres_database, "DROP TABLE IF EXISTS fresh", "CREATE TABLE fresh (a integer)",
               "INSERT INTO fresh SELECT g FROM generate_series(1, 50) g")
    connector = PostgreSQLConnector("p", postgres_database)
    try:
        stats = connector.table_statistics("fresh", connector.describe("fresh"))
    finally:
        connector.close()
    assert stats.column("a") is None   # no pg_stats row: nothing is known, nothing is guessed


def test_mariadb_statistics_equal_the_engine(mysql_database: str) -> None:
    from flightmesh.connectors.mysql import MySQLConnector

    connection = mysql_connect(mysql_database)
    try:
        with connection.cursor() as cursor:
            # Its own name: the MariaDB database is shared by the session's tests (test_semantics_mysql has a t)
            cursor.execute("CREATE TABLE stats_t (id INT PRIMARY KEY, grp INT, val BIGINT, day DATE, KEY (grp))")
            cursor.executemany("INSERT INTO stats_t VALUES (%s, %s, %s, %s)", _data())
            cursor.execute("ANALYZE TABLE stats_t PERSISTENT FOR ALL")
            cursor.fetchall()

            def run(sql: str) -> Any:
                cursor.execute(sql.replace(" FROM t", " FROM stats_t"))
                return cursor.fetchone()[0]
            truth = _truth(run)
    finally:
        connection.close()
    connector = MySQLConnector("p", mysql_database)
    try:
        stats = connector.table_statistics("stats_t", connector.describe("stats_t"))
    finally:
        connector.close()
    # TABLE_ROWS is InnoDB's sampled estimate; the persistent statistics scanned every row
    assert _within(stats.rows, truth["rows"], 0.2)
    assert stats.column("grp").distinct == truth["distinct_grp"] == 7  # type: ignore[union-attr]
    for column in ("id", "val", "day"):
        assert _within(stats.column(column).distinct, truth[f"distinct_{column}"], 0.2), column  # type: ignore[union-attr]
    _same_range(stats, truth, COLUMNS)
    _same_nulls(stats, truth, COLUMNS)


def test_sqlite_statistics_equal_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, val INTEGER, day DATE)")
        raw.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(i, g, v, d.isoformat()) for i, g, v, d in _data()])
        raw.execute("CREATE INDEX t_grp ON t (grp)")
        raw.execute("CREATE INDEX t_val ON t (val)")
        raw.execute("ANALYZE")
        truth = _truth(lambda sql: raw.execute(sql).fetchone()[0])
    truth["min_day"], truth["max_day"] = (datetime.date.fromisoformat(truth[k]) for k in ("min_day", "max_day"))
    connector = SQLiteConnector("p", path)
    try:
        stats = connector.table_statistics("t", connector.describe("t"))
    finally:
        connector.close()
    assert stats.rows == truth["rows"] == ROWS
    assert stats.column("id").distinct == truth["distinct_id"]  # type: ignore[union-attr]  # the rowid
    assert stats.column("grp").distinct == truth["distinct_grp"] == 7  # type: ignore[union-attr]
    # stat1 keeps rows per value rounded up: 5,000 rows / 4,500 values says 2 -> 2,500
    rounded = ROWS // -(-ROWS // truth["distinct_val"])
    assert stats.column("val").distinct == rounded  # type: ignore[union-attr]
    _same_range(stats, truth, ("id", "grp", "val"))     # indexed columns: answered from the index
    _same_nulls(stats, truth, ("id", "grp", "val"))
    assert stats.column("day") is None                   # no index, nullable: reading it would scan


def test_duckdb_statistics_equal_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "d.duckdb"
    raw = duckdb.connect(str(path))
    raw.execute("CREATE TABLE t (id INTEGER, grp INTEGER, val BIGINT, day DATE)")
    raw.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", _data())
    raw.execute("CHECKPOINT")
    truth = _truth(lambda sql: raw.execute(sql).fetchone()[0])  # type: ignore[index]
    raw.execute("CREATE VIEW v AS SELECT * FROM t")
    raw.close()
    connector = DuckDBConnector("p", path)
    try:
        stats = connector.table_statistics("t", connector.describe("t"))
        view = connector.table_statistics("v", connector.describe("v"))
    finally:
        connector.close()
    assert stats.rows == truth["rows"] == ROWS
    assert stats.column("grp").distinct == truth["distinct_grp"] == 7  # type: ignore[union-attr]
    for column in ("id", "val", "day"):  # HyperLogLog: a few percent off
        assert _within(stats.column(column).distinct, truth[f"distinct_{column}"], 0.1), column  # type: ignore[union-attr]
    _same_range(stats, truth, COLUMNS)
    _same_nulls(stats, truth, ("id", "grp", "day"))                # no NULLs at all: exactly 0
    assert stats.column("val").null_fraction is None  # type: ignore[union-attr]  # some NULLs: DuckDB does not count them
    assert view == TableStatistics()                  # a view's statistics would cost its query


def test_parquet_statistics_equal_the_engine(tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    data = _data()
    types = {"id": pa.int32(), "grp": pa.int32(), "val": pa.int64(), "day": pa.date32()}
    table = pa.table({name: pa.array([row[index] for row in data], types[name])
                      for index, name in enumerate(COLUMNS)})
    pq.write_table(table.slice(0, 3000), folder / "part-0.parquet", row_group_size=1000)
    pq.write_table(table.slice(3000), folder / "part-1.parquet", row_group_size=1000)
    oracle = duckdb.connect()
    files = f" read_parquet('{folder}/*.parquet')"
    truth = _truth(lambda sql: oracle.execute(sql.replace(" t", files)).fetchone()[0])  # type: ignore[index]
    connector = ParquetConnector("p", folder, ["*.parquet"])
    try:
        stats = connector.table_statistics("*.parquet", connector.describe("*.parquet"))
    finally:
        connector.close()
    assert stats.rows == truth["rows"] == ROWS
    _same_range(stats, truth, COLUMNS)
    _same_nulls(stats, truth, COLUMNS)
    assert all(stats.column(c).distinct is None for c in COLUMNS)  # type: ignore[union-attr]  # footers keep none
