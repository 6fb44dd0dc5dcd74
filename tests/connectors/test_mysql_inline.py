"""Tiny MariaDB fragments read on the control connection (connectors/mysql_inline.py).

Each answer is compared with DuckDB over the same rows; whether a reader process served the
fragment is seen in the connector's worker pool (it starts one on first use).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from tests.oracle import assert_same_result

from .conftest import mysql_connect, mysql_execute

pytestmark = pytest.mark.mysql

ROWS = [(1, "Main", Decimal("12.50"), datetime.date(1999, 3, 1), 1.5),
        (2, "Ünïcode ✓", Decimal("-0.01"), None, None),
        (3, None, None, datetime.date(2000, 2, 29), 2.25),
        (4, "tail ", Decimal("99999.99"), datetime.date(1970, 1, 1), -0.5)]
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("price", pa.decimal128(7, 2)),
                    ("day", pa.date32())])


@pytest.fixture(scope="module")
def engine(mysql_database: str) -> Iterator[tuple[Any, duckdb.DuckDBPyConnection]]:
    from flightmesh.connectors.mysql import MySQLConnector

    mysql_execute(mysql_database, "CREATE TABLE mf_inline (id BIGINT PRIMARY KEY, name VARCHAR(20), "
                                  "price DECIMAL(7, 2), day DATE, ratio DOUBLE)",
                  "CREATE TABLE mf_inline_many (id INT PRIMARY KEY)",
                  "CREATE TABLE mf_inline_log (id INT PRIMARY KEY AUTO_INCREMENT)",
                  "CREATE TABLE mf_inline_odd (id INT PRIMARY KEY, raw VARBINARY(4), day DATE)",
                  "SET SESSION sql_mode = ''",
                  "INSERT INTO mf_inline_odd VALUES (1, 'ab', '0000-00-00'), (2, NULL, '2001-01-01')",
                  "CREATE FUNCTION mf_inline_write() RETURNS INT MODIFIES SQL DATA "
                  "BEGIN INSERT INTO mf_inline_log VALUES (NULL); RETURN 1; END")
    connection = mysql_connect(mysql_database)
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO mf_inline VALUES (%s, %s, %s, %s, %s)", ROWS)
        cursor.executemany("INSERT INTO mf_inline_many VALUES (%s)", [(i,) for i in range(3000)])
    connection.close()
    oracle = duckdb.connect()
    oracle.execute("CREATE TABLE mf_inline (id BIGINT, name VARCHAR, price DECIMAL(7, 2), day DATE, ratio DOUBLE)")
    oracle.executemany("INSERT INTO mf_inline VALUES (?, ?, ?, ?, ?)", ROWS)
    connector = MySQLConnector("stock", mysql_database, pool_size=2)
    if connector.flavor() != "mariadb":
        connector.close()
        pytest.skip("the inline read uses MariaDB's SET STATEMENT")
    yield connector, oracle
    connector.close()
    oracle.close()


def _run(connector: Any, sql: str, *, estimate: float | None = 5, schema: pa.Schema | None = None,
         timeout: float | None = None, cancel: Any = None) -> pa.Table:
    from flightmesh.connectors.base import FragmentQuery
    from flightmesh.mesh import CancelScope

    query = FragmentQuery(sql, expected_schema=schema, estimated_rows=estimate, timeout_seconds=timeout)
    return connector.execute(query, cancel or CancelScope()).read_all()


def _fresh(connector: Any) -> None:
    connector._workers.close()  # no reader process left: a new one shows in workers()
    from flightmesh.connectors.mysql_stream import WorkerPool

    connector._workers = WorkerPool()


SQL = "SELECT `id`, `name`, `price`, `day` FROM `mf_inline` ORDER BY `id`"


def test_a_tiny_fragment_needs_no_reader_process(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    connector, oracle = engine
    _fresh(connector)
    found = _run(connector, SQL, schema=SCHEMA)
    assert connector._workers.workers() == []
    assert found.schema.equals(SCHEMA)
    assert_same_result(found, oracle.sql("SELECT id, name, price, day FROM mf_inline ORDER BY id").to_arrow_table(),
                       ordered=True)


def test_without_an_expected_schema_the_types_are_the_readers(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    connector, _ = engine
    inline = _run(connector, SQL)
    through_worker = _run(connector, SQL, estimate=None)
    assert inline.equals(through_worker.cast(inline.schema))
    assert inline.column("id").to_pylist() == [1, 2, 3, 4]


def test_the_session_holds_inside_and_does_not_stay(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    connector, _ = engine
    _fresh(connector)
    found = _run(connector, "SELECT @@div_precision_increment AS dpi, "
                            "@@join_cache_level AS jcl, @@time_zone AS tz, AVG(`id`) AS mean FROM `mf_inline`")
    assert connector._workers.workers() == []
    assert found.to_pylist() == [{"dpi": 10, "jcl": 4, "tz": "+00:00", "mean": Decimal("2.5000000000")}]
    assert connector._rows("SELECT @@join_cache_level")[0] != (4,)  # the statement's alone


def test_an_inline_fragment_cannot_write(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    from flightmesh.mesh import EngineError

    connector, _ = engine
    _fresh(connector)
    with pytest.raises(EngineError):
        _run(connector, "SELECT mf_inline_write() AS w")
    assert connector._workers.workers() == []
    assert _run(connector, "SELECT COUNT(*) AS n FROM `mf_inline_log`").to_pylist() == [{"n": 0}]


def test_more_rows_than_expected_go_through_a_reader_process(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    connector, _ = engine
    _fresh(connector)
    found = _run(connector, "SELECT `id` FROM `mf_inline_many`", estimate=3)
    assert sorted(found.column("id").to_pylist()) == list(range(3000))
    assert len(connector._workers.workers()) == 1
    assert _run(connector, "SELECT COUNT(*) AS n FROM `mf_inline`").to_pylist() == [{"n": 4}]  # pool still serves


def test_a_float_column_goes_through_a_reader_process(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    connector, oracle = engine
    _fresh(connector)
    found = _run(connector, "SELECT `id`, `ratio` FROM `mf_inline`")
    assert len(connector._workers.workers()) == 1
    assert_same_result(found, oracle.sql("SELECT id, ratio FROM mf_inline").to_arrow_table(), ordered=False)


@pytest.mark.parametrize("select", [f"`{column}` FROM `mf_inline_odd` {where}" for column in ("raw", "day")
                                    for where in ("ORDER BY `id`", "WHERE `id` = 1")])
def test_a_value_the_text_protocol_leaves_undecoded_goes_through_a_reader_process(
        engine: tuple[Any, duckdb.DuckDBPyConnection], select: str) -> None:
    # PyMySQL gives bytes for a binary string and the text '0000-00-00' for a zero date
    # (connectorx refuses the zero date: the same refusal either way is the point)
    connector, _ = engine

    def outcome(estimate: float | None) -> object:
        try:
            return _run(connector, f"SELECT {select}", estimate=estimate)
        except Exception as error:
            return type(error)

    through_worker = outcome(None)
    _fresh(connector)
    found = outcome(5)
    assert connector._workers.workers() != []
    assert found == through_worker if isinstance(found, type) else found.equals(through_worker)


def test_a_large_estimate_goes_through_a_reader_process(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    connector, _ = engine
    _fresh(connector)
    _run(connector, SQL, estimate=10_000)
    assert len(connector._workers.workers()) == 1


def test_timeout_and_cancel_stop_an_inline_statement(engine: tuple[Any, duckdb.DuckDBPyConnection]) -> None:
    from flightmesh.mesh import CancelScope, QueryCancelled, QueryTimeout

    connector, _ = engine
    with pytest.raises(QueryTimeout):
        _run(connector, "SELECT SLEEP(5) AS x", timeout=0.3)
    cancel = CancelScope()
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        _run(connector, "SELECT SLEEP(5) AS x", cancel=cancel)
    assert time.monotonic() - started < 3
    assert not [row for row in connector._rows("SELECT INFO FROM information_schema.PROCESSLIST")
                if row[0] and "SLEEP(5)" in row[0]]
