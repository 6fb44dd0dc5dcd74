"""scalar_subquery_as_window (planner/rules/scalar_window.py) on hand-made fragments.

Each rewrite is pinned as SQL in -> SQL out and run, with the fragment as written, on the same
rows in DuckDB (NULLs, rows no filter keeps, a subquery over no row): both answer alike. Each
condition the rule checks has a case it refuses, so deleting the check fails a test. TPC-H q22's
PostgreSQL fragment (tests/tpch/golden/q22.plan) shows it on a real plan, against the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from flightmesh.connectors import Capabilities, Pushdown
from flightmesh.governance import POLICY_KEY
from flightmesh.planner.key_slots import prepare_key_slots
from flightmesh.planner.plan import KeyFilter
from flightmesh.planner.resolve import TABLE_KEY
from flightmesh.planner.rules import Cut, scalar_subquery_as_window
from flightmesh.planner.split import FragmentDraft


@dataclass
class _Engine:
    capabilities: Capabilities


_RESCANS = _Engine(Capabilities(dialect="duckdb", scalar_subquery_rescans=True))
_TYPES = {"k": "BIGINT", "b": "DECIMAL(15,2)", "p": "VARCHAR", "s": "VARCHAR"}


def _fragment(sql: str) -> exp.Query:
    """``sql`` parsed, typed as annotation leaves it; tables t and t2 are two catalog tables."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    for column in tree.find_all(exp.Column):
        column.type = exp.DataType.build(_TYPES.get(column.name, "BIGINT"))
    for table in tree.find_all(exp.Table):
        table.meta[TABLE_KEY] = f"crm.{table.name}"
    assert isinstance(tree, exp.Query)
    return tree


def _rewritten_tree(sql: str, engine: _Engine = _RESCANS) -> exp.Query:
    draft = FragmentDraft(name="f0", connector=engine, tree=_fragment(sql))  # type: ignore[arg-type]
    context: Any = None   # the rule reads nothing of the context
    cut = scalar_subquery_as_window(Cut(tree=None, fragments=(draft,)), context)
    return cut.fragments[0].tree


def _rewritten(sql: str, engine: _Engine = _RESCANS) -> str:
    return _rewritten_tree(sql, engine).sql(dialect="duckdb")


@pytest.fixture(scope="module")
def rows() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (k BIGINT, b DECIMAL(15,2), p VARCHAR, s VARCHAR)")
    connection.execute("INSERT INTO t VALUES (1, 10.00, '13', 'a'), (2, 20.50, '13', 'b'), (3, -5.00, '13', NULL), "
                       "(4, NULL, '13', 'a'), (5, 100.00, '31', 'c'), (6, 7.25, NULL, 'a'), (7, 0.00, '29', 'b'), "
                       "(8, 55.55, '29', NULL), (9, 3.00, '13', 'c')")
    connection.execute("CREATE TABLE t2 AS SELECT * FROM t")
    return connection


def _same_rows(rows: duckdb.DuckDBPyConnection, before: str, after: str) -> None:
    assert sorted(rows.sql(before).fetchall()) == sorted(rows.sql(after).fetchall())


Q22 = ("SELECT c.k AS k, c.b AS b, c.p AS p FROM t AS c WHERE c.p IN ('13', '31') "
       "AND c.b > (SELECT AVG(d.b) AS v FROM t AS d WHERE d.b > 0.00 AND d.p IN ('13', '31'))")


@pytest.mark.parametrize(("sql", "expected"), [
    # TPC-H q22's shape: the SELECT's filter is one of the subquery's; the other stays in the CASE
    (Q22,
     "SELECT c.k AS k, c.b AS b, c.p AS p FROM (SELECT c.k AS k, c.b AS b, c.p AS p, "
     "AVG(CASE WHEN c.b > 0.00 THEN c.b END) OVER () AS \"scalar_value\" FROM t AS c "
     "WHERE c.p IN ('13', '31')) AS c WHERE c.b > c.\"scalar_value\""),
    # the subquery keeps exactly the SELECT's rows: no CASE; the subquery on the left
    ("SELECT c.k FROM t AS c WHERE c.p = '13' AND (SELECT SUM(d.b) FROM t AS d WHERE d.p = '13') <= c.b * 10",
     "SELECT c.k FROM (SELECT c.k AS k, c.b AS b, SUM(c.b) OVER () AS \"scalar_value\" FROM t AS c "
     "WHERE c.p = '13') AS c WHERE c.\"scalar_value\" <= c.b * 10"),
    # no filter on the SELECT: the window sees the whole table; tables without aliases
    ("SELECT t.k FROM t WHERE t.b >= (SELECT MAX(t.b) FROM t WHERE t.p = '29')",
     "SELECT t.k FROM (SELECT t.k AS k, t.b AS b, MAX(CASE WHEN t.p = '29' THEN t.b END) OVER () "
     "AS \"scalar_value\" FROM t) AS t WHERE t.b >= t.\"scalar_value\""),
    # count of a value counts what the CASE keeps; a name taken by a column gets a suffix; the
    # SELECT's GROUP BY and ORDER BY read the same rows
    ("SELECT c.p, count(*) AS n FROM t AS c WHERE c.k > 1 AND c.scalar_value <> (SELECT COUNT(d.s) FROM t AS d "
     "WHERE d.k > 1 AND d.p = '13') GROUP BY c.p ORDER BY c.p",
     "SELECT c.p, COUNT(*) AS n FROM (SELECT c.p AS p, c.scalar_value AS scalar_value, "
     "COUNT(CASE WHEN c.p = '13' THEN c.s END) OVER () AS \"scalar_value_1\" FROM t AS c WHERE c.k > 1) AS c "
     "WHERE c.scalar_value <> c.\"scalar_value_1\" GROUP BY c.p ORDER BY c.p"),
])
def test_the_aggregate_becomes_a_window_over_the_one_scan(sql: str, expected: str) -> None:
    assert _rewritten(sql) == expected


@pytest.mark.parametrize("sql", [
    Q22,
    # the subquery keeps no row: NULL, and count 0
    Q22.replace("d.b > 0.00", "d.b > 1000"),
    "SELECT c.k FROM t AS c WHERE c.p = '13' AND c.k > (SELECT COUNT(d.b) FROM t AS d WHERE d.p = '13' AND d.b > 99)",
    # NULLs in the aggregated value and in the filters
    "SELECT c.k FROM t AS c WHERE c.s = 'a' AND c.b < (SELECT AVG(d.b) FROM t AS d "
    "WHERE d.s = 'a' AND d.p IS NOT NULL)",
    "SELECT c.k FROM t AS c WHERE c.b >= (SELECT MIN(d.b) FROM t AS d WHERE d.p = '29')",
    "SELECT t.k FROM t WHERE t.p = '13' AND t.b > (SELECT AVG(d.b) FROM t AS d WHERE d.p = '13' AND d.b > 1)",
    # an ORDER BY naming an output
    "SELECT c.k AS key FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t AS d) ORDER BY key",
    # the SELECT keeps no row
    "SELECT c.k FROM t AS c WHERE c.p = 'none' AND c.b > (SELECT SUM(d.b) FROM t AS d WHERE d.p = 'none')",
])
def test_the_rewrite_answers_as_the_fragment_did(sql: str, rows: duckdb.DuckDBPyConnection) -> None:
    after = _rewritten(sql)
    assert after != sql.replace("\n", " ")
    assert "OVER ()" in after
    _same_rows(rows, sql, after)


@pytest.mark.parametrize("sql", [
    # the SELECT filters on something the subquery does not: the window would miss rows of P
    "SELECT c.k FROM t AS c WHERE c.p = '13' AND c.s = 'a' AND c.b > (SELECT AVG(d.b) FROM t AS d WHERE d.p = '13')",
    # another table
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t2 AS d)",
    # correlated
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t AS d WHERE d.p = c.p)",
    # aggregates that keep NULLs, count rows, or take DISTINCT values
    "SELECT c.k FROM t AS c WHERE c.k = (SELECT COUNT(*) FROM t AS d WHERE d.p = '13')",
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT AVG(DISTINCT d.b) FROM t AS d)",
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT STDDEV(d.b) FROM t AS d)",
    # not a plain aggregate: grouped, limited, an expression of the aggregate
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t AS d GROUP BY d.p LIMIT 1)",
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT AVG(d.b) * 2 FROM t AS d)",
    # min of strings (the engine's collation)
    "SELECT c.k FROM t AS c WHERE c.s > (SELECT MIN(d.s) FROM t AS d)",
    # a random function
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t AS d WHERE RANDOM() < 0.5)",
    # the subquery not a conjunct of its own, or not one of a comparison
    "SELECT c.k FROM t AS c WHERE c.k = 1 OR c.b > (SELECT AVG(d.b) FROM t AS d)",
    "SELECT c.k FROM t AS c WHERE c.b IN (SELECT AVG(d.b) FROM t AS d)",
    # another subquery beside it, a join, a sample, a column the rule cannot place
    "SELECT c.k FROM t AS c WHERE EXISTS(SELECT 1 FROM t2 AS e WHERE e.k = c.k) "
    "AND c.b > (SELECT AVG(d.b) FROM t AS d)",
    "SELECT c.k FROM t AS c JOIN t2 AS e ON e.k = c.k WHERE c.b > (SELECT AVG(d.b) FROM t AS d)",
    "SELECT c.k, c.k + (c.k + (c.k + (SELECT MAX(c.x) FROM t2 AS c))) AS m FROM t AS c "
    "WHERE c.b > (SELECT AVG(d.b) FROM t AS d)",
    "SELECT c.k FROM t AS c TABLESAMPLE (50 PERCENT) WHERE c.b > (SELECT AVG(d.b) FROM t AS d)",
    "SELECT k FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t AS d)",
    "SELECT c.k FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t AS d) ORDER BY b",   # b: not an output name
])
def test_what_is_not_exactly_one_scan_is_left_alone(sql: str) -> None:
    assert _rewritten(sql) == sqlglot.parse_one(sql, read="duckdb").sql(dialect="duckdb")


def test_a_governed_table_is_left_alone() -> None:
    # the policy subquery's own SELECT reads the table directly, with the subquery in its WHERE
    sql = ("SELECT g.k FROM (SELECT c.k AS k FROM t AS c WHERE c.b > (SELECT AVG(d.b) FROM t AS d)) AS g")
    tree = _fragment(sql)
    governed = tree.find(exp.Subquery)
    assert governed is not None
    governed.meta[POLICY_KEY] = ("row filter on t",)
    draft = FragmentDraft(name="f0", connector=_RESCANS, tree=tree)  # type: ignore[arg-type]
    context: Any = None
    cut = scalar_subquery_as_window(Cut(tree=None, fragments=(draft,)), context)
    assert cut.fragments[0].tree.sql(dialect="duckdb") == sql
    # the same tree, not governed, is rewritten
    assert "OVER ()" in _rewritten(sql)


def test_only_engines_that_rescan_and_have_windows() -> None:
    assert _rewritten(Q22, _Engine(Capabilities(dialect="duckdb"))) == Q22
    no_windows = frozenset(Pushdown) - {Pushdown.WINDOW}
    assert _rewritten(Q22, _Engine(Capabilities(dialect="postgres", pushdown=no_windows,
                                                scalar_subquery_rescans=True))) == Q22


def test_postgresql_declares_it() -> None:
    from flightmesh.connectors.postgresql import PostgreSQLConnector

    assert PostgreSQLConnector.capabilities.scalar_subquery_rescans


def test_a_key_filter_on_the_rewritten_fragment_stays_above_the_window(rows: duckdb.DuckDBPyConnection) -> None:
    # A dynamic filter restricts the fragment's output rows; under the window it would change
    # the average. It goes into the SELECT around the derived table, as for any window.
    tree = _rewritten_tree(Q22)
    fragment = SimpleNamespace(name="f0", sql=tree.sql(dialect="duckdb"), tree=tree, dialect="duckdb")
    slots = prepare_key_slots(fragment, [KeyFilter("f1", "k", "f0", "k")],  # type: ignore[arg-type]
                              Capabilities(dialect="duckdb"))
    keyed = slots.statement([pa.array([1, 2, 5])], max_literal_keys=10).sql
    assert keyed.endswith('WHERE "c"."b" > "c"."scalar_value" AND "c"."k" IN (1, 2, 5)')
    _same_rows(rows, f"{Q22} AND c.k IN (1, 2, 5)", keyed)
