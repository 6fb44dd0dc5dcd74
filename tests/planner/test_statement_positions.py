"""A parsed statement keeps no token positions: every copy the planner makes would carry them."""

from __future__ import annotations

from sqlglot import exp

from flightmesh.governance.language import WRITTEN_NAME
from flightmesh.planner.statement import parse_statement

POSITIONS = {"line", "col", "start", "end"}


def test_no_node_keeps_the_parsers_positions() -> None:
    sql = "SELECT a.x, approx_quantile(a.y, 0.5) AS q FROM t AS a WHERE a.s = 'v' GROUP BY a.x"
    tree = parse_statement(sql, "duckdb").tree
    # The parser did record them (on identifiers, literals and function names) ...
    assert any(not POSITIONS.isdisjoint(node.meta) for node in exp.maybe_parse(sql, dialect="duckdb").walk())
    # ... and parse_statement drops them; a node left with no meta has none at all.
    assert all(node._meta is None or POSITIONS.isdisjoint(node._meta) for node in tree.walk())
    assert any(node._meta is None for node in tree.walk() if isinstance(node, exp.Identifier))


def test_the_written_function_name_survives() -> None:
    tree = parse_statement("SELECT approx_percentile(x, 0.5) FROM t", "trino").tree
    function = next(node for node in tree.walk() if isinstance(node, exp.Func) and WRITTEN_NAME in node.meta)
    assert function.meta[WRITTEN_NAME] == "approx_percentile"
