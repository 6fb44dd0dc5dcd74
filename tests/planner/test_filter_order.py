"""cheap_filters_first (planner/rules/filter_order.py) on hand-made fragments: what moves, what stays.

The golden cases (golden/rules/cheap_filters_first.txt) show the rule on the demo mesh and check
its answers against the oracle; these pin what those cannot reach: a governed table's policy
subquery, engines that order filters themselves, and the conjuncts that must keep their place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from flightmesh.connectors import Capabilities
from flightmesh.governance import POLICY_KEY
from flightmesh.planner.rules import Cut, cheap_filters_first
from flightmesh.planner.split import FragmentDraft


@dataclass
class _Engine:
    capabilities: Capabilities


_IN_ORDER = _Engine(Capabilities(dialect="sqlite", filters_in_written_order=True))
_BY_COST = _Engine(Capabilities(dialect="duckdb"))


def _typed(sql: str) -> exp.Query:
    """``sql`` parsed, with t.n / g.n typed BIGINT and t.s / g.s typed VARCHAR (as annotation leaves them)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    for column in tree.find_all(exp.Column):
        column.type = exp.DataType.build("BIGINT" if column.name == "n" else "VARCHAR")
    assert isinstance(tree, exp.Query)
    return tree


def _ordered(tree: exp.Query, engine: _Engine = _IN_ORDER) -> str:
    draft = FragmentDraft(name="f0", connector=engine, tree=tree)  # type: ignore[arg-type]
    context: Any = None   # the rule reads nothing of the context
    cut = cheap_filters_first(Cut(tree=None, fragments=(draft,)), context)
    return cut.fragments[0].tree.sql(dialect="duckdb")


@pytest.mark.parametrize(("where", "expected"), [
    # number comparisons, then text comparisons, then the rest, each group as written
    ("t.s <> 'a' AND t.s LIKE '%x%' AND t.n IN (1, 2) AND t.n > 0",
     "t.n IN (1, 2) AND t.n > 0 AND t.s <> 'a' AND t.s LIKE '%x%'"),
    ("NOT t.s = 'a' AND NOT t.n BETWEEN 1 AND 5", "NOT t.n BETWEEN 1 AND 5 AND NOT t.s = 'a'"),
    ("t.s IS NULL AND t.n IS NOT NULL", "NOT t.n IS NULL AND t.s IS NULL"),
    # a function or a cast may raise: the plain comparison moves before it, the two others keep
    # their order (a guard written first still guards)
    ("t.n <> 0 AND 10 // t.n > 1 AND length(t.s) > 2 AND t.n < 9",
     "t.n <> 0 AND t.n < 9 AND 10 // t.n > 1 AND LENGTH(t.s) > 2"),
    # an IN list of expressions, a negative number (an expression), a subquery: not plain
    ("t.n IN (1, t.n + 1) AND t.n > -1 AND t.n IN (SELECT 1) AND t.s = 'a'",
     "t.s = 'a' AND t.n IN (1, t.n + 1) AND t.n > -1 AND t.n IN (SELECT 1)"),
    # an OR stays one conjunct, parenthesized
    ("(t.n = 1 OR t.s = 'a') AND t.n > 2", "t.n > 2 AND (t.n = 1 OR t.s = 'a')"),
    # already in order: unchanged
    ("t.n = 1 AND t.s = 'a'", "t.n = 1 AND t.s = 'a'"),
])
def test_plain_comparisons_move_first(where: str, expected: str) -> None:
    assert _ordered(_typed(f"SELECT t.n FROM t WHERE {where}")) == f"SELECT t.n FROM t WHERE {expected}"


def test_an_untyped_column_is_not_taken_for_a_number() -> None:
    tree = sqlglot.parse_one("SELECT 1 FROM t WHERE t.s = 'a' AND t.u = 1 AND t.n = 2", read="duckdb")
    for column in tree.find_all(exp.Column):
        if column.name == "n":
            column.type = exp.DataType.build("BIGINT")
    assert isinstance(tree, exp.Query)
    assert _ordered(tree) == "SELECT 1 FROM t WHERE t.n = 2 AND t.s = 'a' AND t.u = 1"


def test_every_select_of_the_fragment_is_ordered() -> None:
    tree = _typed("SELECT g.n FROM (SELECT t.n, t.s FROM t WHERE t.s = 'a' AND t.n = 1) AS g "
                  "WHERE g.s <> 'b' AND g.n > 2")
    assert _ordered(tree) == ("SELECT g.n FROM (SELECT t.n, t.s FROM t WHERE t.n = 1 AND t.s = 'a') AS g "
                              "WHERE g.n > 2 AND g.s <> 'b'")


def test_a_policy_subquery_keeps_its_where() -> None:
    tree = _typed("SELECT g.n FROM (SELECT t.n, t.s FROM t WHERE t.s = 'a' AND t.n = 1) AS g "
                  "WHERE g.s <> 'b' AND g.n > 2")
    governed = tree.find(exp.Subquery)
    assert governed is not None
    governed.meta[POLICY_KEY] = ("row filter on t",)
    assert _ordered(tree) == ("SELECT g.n FROM (SELECT t.n, t.s FROM t WHERE t.s = 'a' AND t.n = 1) AS g "
                              "WHERE g.n > 2 AND g.s <> 'b'")


def test_engines_that_order_filters_by_cost_are_left_alone() -> None:
    sql = "SELECT t.n FROM t WHERE t.s <> 'a' AND t.n > 0"
    assert _ordered(_typed(sql), _BY_COST) == sql


def test_sqlite_declares_written_order() -> None:
    from flightmesh.connectors.sqlite import SQLiteConnector

    assert SQLiteConnector.capabilities.filters_in_written_order
