"""Rewrite rules: golden input -> output pairs, each also evaluated by DuckDB on both sides.

The evaluation table holds every combination of TRUE, FALSE and NULL for the predicates'
inputs, so three-valued logic is checked too, not just the happy path.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from flightmesh.planner.rules import exists_select_one, factor_disjunctions

CASES = [
    ("(a = b AND x > 1) OR (a = b AND y < 2)", "a = b AND ((x > 1) OR (y < 2))"),
    ("(a = b AND x > 1) OR a = b", "a = b"),
    ("z = 1 AND ((a = b AND x > 1 AND c = 2) OR (c = 2 AND a = b AND y < 2) OR (a = b AND c = 2 AND w = 1))",
     "z = 1 AND a = b AND c = 2 AND ((x > 1) OR (y < 2) OR (w = 1))"),
    ("x > 1 OR y < 2", "x > 1 OR y < 2"),
    ("(x > 1 AND y < 2) OR (z = 1 AND w = 1)", "(x > 1 AND y < 2) OR (z = 1 AND w = 1)"),
    ("a = b", "a = b"),
]


@pytest.fixture(scope="module")
def values() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    domain = "(VALUES (0), (1), (2), (NULL)) AS v(v)"
    connection.execute(
        "CREATE TABLE t AS SELECT a.v AS a, b.v AS b, x.v AS x, y.v AS y, z.v AS z, c.v AS c, w.v AS w "
        f"FROM {domain.replace('v(v)', 'a(v)')}, {domain.replace('v(v)', 'b(v)')}, {domain.replace('v(v)', 'x(v)')}, "
        f"{domain.replace('v(v)', 'y(v)')}, {domain.replace('v(v)', 'z(v)')}, {domain.replace('v(v)', 'c(v)')}, "
        f"{domain.replace('v(v)', 'w(v)')}"
    )
    return connection


@pytest.mark.parametrize(("before", "after"), CASES)
def test_factor_disjunctions(before: str, after: str, values: duckdb.DuckDBPyConnection) -> None:
    rewritten = factor_disjunctions(sqlglot.parse_one(before)).sql()
    assert rewritten == after
    keep = "SELECT a, b, x, y, z, c, w FROM t WHERE {} ORDER BY ALL"
    assert values.sql(keep.format(before)).fetchall() == values.sql(keep.format(rewritten)).fetchall()


EXISTS_CASES = [
    ("SELECT a FROM t WHERE EXISTS(SELECT * FROM t AS u WHERE u.b = t.a)",
     "SELECT a FROM t WHERE EXISTS(SELECT 1 FROM t AS u WHERE u.b = t.a)"),
    ("SELECT a FROM t WHERE NOT EXISTS(SELECT u.b, u.c FROM t AS u WHERE u.b = t.a AND u.c > 1)",
     "SELECT a FROM t WHERE NOT EXISTS(SELECT 1 FROM t AS u WHERE u.b = t.a AND u.c > 1)"),
    # an aggregate without GROUP BY yields a row over no rows: left alone
    ("SELECT a FROM t WHERE EXISTS(SELECT max(u.b) FROM t AS u WHERE u.b > 100)",
     "SELECT a FROM t WHERE EXISTS(SELECT MAX(u.b) FROM t AS u WHERE u.b > 100)"),
    ("SELECT a FROM t WHERE EXISTS(SELECT u.c, count(*) FROM t AS u WHERE u.b = t.a GROUP BY u.c HAVING count(*) > 1)",
     "SELECT a FROM t WHERE EXISTS(SELECT 1 FROM t AS u WHERE u.b = t.a GROUP BY u.c HAVING COUNT(*) > 1)"),
]


@pytest.mark.parametrize(("before", "after"), EXISTS_CASES)
def test_exists_select_one(before: str, after: str, values: duckdb.DuckDBPyConnection) -> None:
    rewritten = exists_select_one(sqlglot.parse_one(before)).sql()
    assert rewritten == after
    assert values.sql(before + " ORDER BY ALL").fetchall() == values.sql(rewritten + " ORDER BY ALL").fetchall()
