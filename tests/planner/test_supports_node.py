"""``capability._supports_node`` answers exactly what ``Capabilities.supports(node)`` answers.

The planner asks it of every node of every piece it offers an engine, and remembers per node
class which declared differences can affect a node of that class. This holds the shortcut against
the connectors' own capabilities, over annotated TPC-H queries and expressions chosen to meet the
differences' conditions (string comparisons, divisions, casts to types an engine lacks), so a
difference the per-class filter would skip fails here instead of being pushed down.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from flightmesh.connectors import Capabilities, Difference
from flightmesh.connectors.duckdb import DuckDBConnector
from flightmesh.connectors.flightsql_spark import SparkFlightSQLConnector
from flightmesh.connectors.mysql import MySQLConnector
from flightmesh.connectors.postgresql import PostgreSQLConnector
from flightmesh.connectors.spark import SparkConnector
from flightmesh.connectors.sqlite import SQLiteConnector
from flightmesh.planner.capability import _supports_node

QUERIES = Path(__file__).resolve().parent.parent / "tpch" / "queries"

SCHEMA = {
    "t": {"s": "VARCHAR", "u": "VARCHAR", "i": "INT", "b": "BIGINT", "d": "DOUBLE", "m": "DECIMAL(15, 2)",
          "day": "DATE", "at": "TIMESTAMP", "flag": "BOOLEAN"},
}

EXPRESSIONS = (
    "SELECT s = u, s < 'b', s LIKE 'a%', s ILIKE 'A%', UPPER(s) || u, LENGTH(s), s IN ('a', 'b') FROM t",
    "SELECT i / b, m / i, d / 2, i // 2, i % 3, m * 2, ROUND(m, 1), ROUND(d), -i, ABS(m) FROM t",
    "SELECT CAST(i AS TINYINT), CAST(s AS UTINYINT), CAST(d AS HUGEINT), CAST(flag AS VARCHAR), "
    "CAST(i AS BOOLEAN), CAST(s AS TIMESTAMP), CAST(d AS TEXT) FROM t",
    "SELECT GREATEST(i, b), LEAST(s, u), COALESCE(s, u), CASE WHEN flag THEN s ELSE u END, "
    "day + INTERVAL 1 DAY, EXTRACT(YEAR FROM at), DATE_TRUNC('month', at) FROM t",
    "SELECT s, COUNT(DISTINCT u), SUM(m), AVG(i), MIN(s), STRING_AGG(s, ',') FROM t GROUP BY s "
    "HAVING MAX(u) > 'a' ORDER BY s DESC NULLS FIRST",
    # Subclasses of classes differences are declared on (TryCast is a Cast, ConcatWs a Concat).
    "SELECT TRY_CAST(s AS INT), TRY_CAST(d AS VARCHAR), TRY_CAST(i AS BOOLEAN), TRY_CAST(s AS TIMESTAMP), "
    "TRY_CAST(flag AS VARCHAR), CONCAT_WS('-', s, u), CONCAT_WS('-', s, i) FROM t",
)

CAPABILITIES = {
    connector.__name__: connector.capabilities
    for connector in (DuckDBConnector, MySQLConnector, PostgreSQLConnector, SQLiteConnector, SparkConnector,
                      SparkFlightSQLConnector)
}


def _trees() -> list[exp.Expr]:
    trees = []
    for sql in EXPRESSIONS:
        tree = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=SCHEMA, dialect="duckdb")
        trees.append(annotate_types(tree, schema=SCHEMA, dialect="duckdb"))
    for path in sorted(QUERIES.glob("q*.sql")):
        trees.append(annotate_types(sqlglot.parse_one(path.read_text(), read="duckdb"), dialect="duckdb"))
    return trees


@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_every_node_is_answered_as_supports_answers(name: str) -> None:
    capabilities = CAPABILITIES[name]
    nodes = [node for tree in _trees() for node in tree.walk()]
    assert len(nodes) > 1000
    for node in nodes:
        assert _supports_node(capabilities, node) is capabilities.supports(node), (name, node.sql(), type(node))


def test_the_expressions_meet_some_difference_and_some_missing_type() -> None:
    # Otherwise the test above would compare nothing but the easy "no difference" answer.
    nodes = [node for tree in _trees() for node in tree.walk()]
    postgres = CAPABILITIES["PostgreSQLConnector"]
    mysql = CAPABILITIES["MySQLConnector"]
    assert any(postgres.difference(node) is not None for node in nodes)
    assert any(mysql.difference(node) is not None for node in nodes)
    assert any(isinstance(node, exp.DataType) and node.this in postgres.missing_types for node in nodes)
    # A node affected through a difference declared on one of its class's bases.
    assert any((difference := capabilities.difference(node)) is not None and type(node) is not difference.kind
               for capabilities in (postgres, mysql) for node in nodes)


def test_a_difference_with_its_own_affects_is_asked_of_every_node() -> None:
    # A Difference subclass deciding by something else than its kind is never filtered out.
    class Everywhere(Difference):
        def affects(self, node: exp.Expr) -> bool:
            return isinstance(node, exp.Literal)

    capabilities = replace(Capabilities(dialect="duckdb"),
                           differences=(Everywhere(kind=exp.Column, reason="literals, whatever the kind"),))
    literal = exp.Literal.number(1)
    assert _supports_node(capabilities, literal) is False
    assert _supports_node(capabilities, exp.column("a")) is True
