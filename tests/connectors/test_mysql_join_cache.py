"""MariaDB fragments may hash-join (join_cache_level 4): the plan flips, the answers do not.

The fixture is the shape of benchmarks/broad.py's inventory fragments: a fact with a secondary
index on its dimension key, joined with a dimension of a few rows. Under MariaDB's default
(join_cache_level 2) the engine plans it as the dimension's rows each looking the fact up through
that index (``ref``: a random primary-key lookup per fact row); with the connector's session it
builds a hash table and scans the fact once (``BNLH``). The oracle for every answer is DuckDB
over the same rows; the fact's strings differ only in case and trailing spaces, and keys are
NULL or dangling, so a hash join that compared differently from the nested loop would show.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from tests.oracle import assert_same_result

from .conftest import mysql_connect, mysql_execute

pytestmark = pytest.mark.mysql

CODES = ["a", "A", "a ", "b", None, "B", "c"]
FACT_ROWS = 20_000
EXACT = "CAST({} AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_nopad_bin"  # the connector's exact rendering


def _fact() -> list[tuple[Any, ...]]:
    # dim_id 7 has no dimension row, NULL none at all; codes cycle through the look-alikes
    return [(i, None if i % 97 == 0 else i % 8, CODES[i % len(CODES)], i % 13) for i in range(FACT_ROWS)]


DIMS = [(0, "a", "TN"), (1, "A", "GA"), (2, "a ", "TN"), (3, "b", "CA"), (4, None, "GA"), (5, "x", "TN"),
        (6, "B", None)]


@pytest.fixture(scope="module")
def engine(mysql_database: str) -> Iterator[tuple[Any, duckdb.DuckDBPyConnection]]:
    from flightmesh.connectors.mysql import MySQLConnector

    mysql_execute(mysql_database,
                  "CREATE TABLE fact (id INT PRIMARY KEY, dim_id INT, code VARCHAR(10), qty INT, "
                  "KEY fact_dim (dim_id), KEY fact_code (code))",
                  "CREATE TABLE dim (dim_id INT PRIMARY KEY, code VARCHAR(10), state VARCHAR(2))")
    connection = mysql_connect(mysql_database)
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO fact VALUES (%s, %s, %s, %s)", _fact())
        cursor.executemany("INSERT INTO dim VALUES (%s, %s, %s)", DIMS)
        cursor.execute("ANALYZE TABLE fact, dim")
    connection.close()
    oracle = duckdb.connect()
    oracle.execute("CREATE TABLE fact (id INTEGER, dim_id INTEGER, code VARCHAR, qty INTEGER)")
    oracle.executemany("INSERT INTO fact VALUES (?, ?, ?, ?)", _fact())
    oracle.execute("CREATE TABLE dim (dim_id INTEGER, code VARCHAR, state VARCHAR)")
    oracle.executemany("INSERT INTO dim VALUES (?, ?, ?)", DIMS)
    connector = MySQLConnector("stock", mysql_database, pool_size=2)
    if connector.flavor() != "mariadb":
        connector.close()
        pytest.skip("join_cache_level is MariaDB's; MySQL 8 hash-joins by itself")
    yield connector, oracle
    connector.close()
    oracle.close()


def _run(connector: Any, sql: str) -> pa.Table:
    from flightmesh.connectors.base import FragmentQuery
    from flightmesh.mesh import CancelScope

    return connector.execute(FragmentQuery(sql), CancelScope()).read_all()


JOIN = ("SELECT `fact`.`id` AS id, `fact`.`qty` AS qty, `dim`.`state` AS state FROM `fact` AS `fact`, `dim` AS `dim` "
        "WHERE `fact`.`dim_id` = `dim`.`dim_id`")


def _plan(connection: Any, statements: list[str], sql: str) -> str:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        cursor.execute(f"EXPLAIN {sql}")
        return " | ".join(" ".join(str(value) for value in row) for row in cursor.fetchall())


def test_the_fragment_session_lets_mariadb_hash_join(engine: tuple[Any, duckdb.DuckDBPyConnection],
                                                     mysql_database: str) -> None:
    connector, _ = engine
    assert _run(connector, "SELECT @@join_cache_level AS level").column("level").to_pylist() == [4]
    # The same statement under the engine's default plans a lookup per fact row, under the
    # fragment's session a hash join: the setting is what flips it.
    connection = mysql_connect(mysql_database)
    try:
        default = _plan(connection, [], JOIN)
        fragment = _plan(connection, connector._session(None), JOIN)
    finally:
        connection.close()
    assert "BNLH" not in default and " ref " in f" {default} ", default
    assert "BNLH" in fragment, fragment


CASES = {
    "inner join on the dimension key": (
        JOIN, "SELECT fact.id AS id, fact.qty AS qty, dim.state AS state FROM fact, dim "
              "WHERE fact.dim_id = dim.dim_id"),
    "left join keeps dangling and NULL keys": (
        "SELECT `fact`.`id` AS id, `dim`.`state` AS state FROM `fact` AS `fact` LEFT JOIN `dim` AS `dim` "
        "ON `fact`.`dim_id` = `dim`.`dim_id`",
        "SELECT fact.id AS id, dim.state AS state FROM fact LEFT JOIN dim ON fact.dim_id = dim.dim_id"),
    "filtered dimension": (JOIN + " AND `dim`.`state` = 'TN' AND " + EXACT.format("`dim`.`state`") + " = "
                           + EXACT.format("'TN'"),
                           "SELECT fact.id AS id, fact.qty AS qty, dim.state AS state FROM fact, dim "
                           "WHERE fact.dim_id = dim.dim_id AND dim.state = 'TN'"),
    "string key: case and trailing spaces differ": (
        "SELECT `fact`.`id` AS id, `dim`.`dim_id` AS dim_id FROM `fact` AS `fact`, `dim` AS `dim` "
        "WHERE (`fact`.`code` = `dim`.`code` AND " + EXACT.format("`fact`.`code`") + " = "
        + EXACT.format("`dim`.`code`") + ")",
        "SELECT fact.id AS id, dim.dim_id AS dim_id FROM fact, dim WHERE fact.code = dim.code"),
    "key list on the fact": (
        JOIN + " AND `fact`.`id` IN (" + ", ".join(str(i) for i in range(0, FACT_ROWS, 37)) + ")",
        "SELECT fact.id AS id, fact.qty AS qty, dim.state AS state FROM fact, dim WHERE fact.dim_id = dim.dim_id "
        "AND fact.id IN (" + ", ".join(str(i) for i in range(0, FACT_ROWS, 37)) + ")"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hash_joined_fragments_answer_as_the_oracle(engine: tuple[Any, duckdb.DuckDBPyConnection], case: str) -> None:
    connector, oracle = engine
    mariadb_sql, duckdb_sql = CASES[case]
    actual = _run(connector, mariadb_sql)
    expected = oracle.sql(duckdb_sql).to_arrow_table()
    assert expected.num_rows > 0
    assert_same_result(actual.cast(expected.schema), expected, ordered=False)
