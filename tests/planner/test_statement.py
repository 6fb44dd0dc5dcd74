"""Parsing, refusing what may not run, and binding parameters: no catalog or engine needed."""

from __future__ import annotations

import datetime
import decimal

import pytest
from sqlglot import exp

from flightmesh.mesh import ParameterError, ReadOnlyViolation, SqlSyntaxError, UnsupportedQuery
from flightmesh.planner import bind_parameters, parse_statement


def parse(sql: str):
    return parse_statement(sql, "duckdb")


@pytest.mark.parametrize(
    ("sql", "line", "column"),
    [
        ("selec 1", 1, 7),
        ("SELECT a FROM\n  WHERE x", 2, 3),
        ("SELECT 1; SELECT 2", 1, 11),
        ("SELECT 1;\n\nDROP TABLE x", 3, 1),
        ("EXPLAIN SELECT a FROM\n WHERE", 2, 2),
    ],
)
def test_syntax_errors_carry_line_and_column(sql: str, line: int, column: int) -> None:
    with pytest.raises(SqlSyntaxError) as caught:
        parse(sql)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert f"line {line}, column {column}" in str(caught.value)


@pytest.mark.parametrize("sql", ["", "   ", ";", "EXPLAIN", "SELECT 'unterminated"])
def test_empty_or_broken_text_is_a_syntax_error(sql: str) -> None:
    with pytest.raises(SqlSyntaxError):
        parse(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO sales.orders VALUES (1)",
        "UPDATE sales.orders SET total = 0",
        "DELETE FROM sales.orders",
        "CREATE TABLE x (a INT)",
        "DROP TABLE sales.orders",
        "ALTER TABLE sales.orders ADD COLUMN x INT",
        "TRUNCATE sales.orders",
        "COPY sales.orders TO '/tmp/x.csv'",
        "ATTACH '/tmp/x.duckdb' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET threads = 64",
        "PRAGMA enable_profiling",
        "CALL pragma_version()",
        "USE sales",
        "BEGIN TRANSACTION",
        "EXPLAIN DELETE FROM sales.orders",
        "WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x",
        "GRANT SELECT ON sales.orders TO bob",
    ],
)
def test_anything_but_a_query_is_refused_as_read_only(sql: str) -> None:
    with pytest.raises(ReadOnlyViolation, match="read-only"):
        parse(sql)


def test_describe_of_a_query_is_refused_with_a_pointer() -> None:
    with pytest.raises(UnsupportedQuery, match="information_schema"):
        parse("DESCRIBE SELECT * FROM sales.orders")


def test_describe_and_show_are_queries_over_information_schema() -> None:
    tree = parse("DESCRIBE sales.orders").tree
    assert [t.sql() for t in tree.find_all(exp.Table)] == ["information_schema.columns"]
    assert "LOWER(table_schema) = 'sales'" in tree.sql()
    assert [t.sql() for t in parse("SHOW TABLES FROM crm").tree.find_all(exp.Table)] == ["information_schema.tables"]


@pytest.mark.parametrize(
    ("sql", "explain"),
    [("SELECT 1", None), ("explain SELECT 1", "plan"), ("EXPLAIN ANALYZE SELECT 1", "analyze"),
     ("  Explain\n analyze  SELECT 1", "analyze")],
)
def test_explain_prefix(sql: str, explain: str | None) -> None:
    statement = parse(sql)
    assert statement.explain == explain
    assert statement.tree.sql() == "SELECT 1"


def test_positional_parameters_bind_in_text_order() -> None:
    statement = parse("WITH c AS (SELECT ? AS x) SELECT * FROM t WHERE a = ? AND b IN (SELECT ?) ORDER BY ? LIMIT ?")
    assert statement.parameter_count == 5
    bound = bind_parameters(statement.tree, [1, 2, 3, 4, 5])
    assert bound.sql("duckdb") == (
        "WITH c AS (SELECT 1 AS x) SELECT * FROM t WHERE a = 2 AND b IN (SELECT 3) ORDER BY 4 LIMIT 5"
    )


def test_numbered_parameters_bind_by_number() -> None:
    statement = parse("SELECT $2 + $1, $2")
    assert statement.parameter_count == 2
    assert bind_parameters(statement.tree, [10, 20]).sql() == "SELECT 20 + 10, 20"


def test_parameter_values_become_quoted_literals() -> None:
    statement = parse("SELECT * FROM t WHERE name = ? AND day = ? AND amount = ? AND flag = ? AND note IS ?")
    bound = bind_parameters(statement.tree, ["o'); DROP TABLE t; --", datetime.date(2024, 2, 29),
                                             decimal.Decimal("12.50"), True, None])
    assert bound.sql("postgres") == (
        "SELECT * FROM t WHERE name = 'o''); DROP TABLE t; --' AND day = CAST('2024-02-29' AS DATE) "
        "AND amount = 12.50 AND flag = TRUE AND note IS NULL"
    )


def test_binding_does_not_touch_the_parsed_statement() -> None:
    statement = parse("SELECT ?")
    bind_parameters(statement.tree, [1])
    assert statement.tree.sql() == "SELECT ?"


@pytest.mark.parametrize(("values", "message"), [([], "takes 2 parameter"), ([1, 2, 3], "3 were bound")])
def test_wrong_parameter_count(values: list[int], message: str) -> None:
    statement = parse("SELECT ?, ?")
    with pytest.raises(ParameterError, match=message):
        bind_parameters(statement.tree, values)


@pytest.mark.parametrize("sql", ["SELECT :name", "SELECT ?, $1", "SELECT 1 WHERE x = :name"])
def test_unsupported_parameter_styles(sql: str) -> None:
    with pytest.raises((ParameterError, SqlSyntaxError)):
        parse(sql)


def test_unsupported_parameter_type() -> None:
    with pytest.raises(ParameterError, match="list"):
        bind_parameters(parse("SELECT ?").tree, [[1, 2]])


def test_comments_never_reach_an_engine() -> None:
    statement = parse("/* hello */ SELECT 1 -- */ ; DROP TABLE x\n, 2 /* ; DROP TABLE y */")
    assert statement.tree.sql() == "SELECT 1, 2"
