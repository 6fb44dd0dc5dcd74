"""The render check's shortcut: pieces made only of ``PLAIN_NODES`` are taken without rendering.

The shortcut is sound only while every engine's dialect prints those node classes without an
"unsupported" message; this holds it against the installed sqlglot, for each connector's dialect,
so an upgrade that changes it fails here instead of letting an unrenderable piece through.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from flightmesh.planner.capability import PLAIN_NODES, render_check

# The dialects the connectors declare (connectors/*.py ``Capabilities(dialect=...)``).
DIALECTS = ("duckdb", "postgres", "mysql", "sqlite", "spark")

# Every plain class at least once, with literals that need quoting or escaping.
CONDITION = ("NOT (t.a = 'it''s \\ a' AND t.b <> 1.5) OR t.c > 2 OR t.c >= 0.25 OR t.c < 10 "
             "OR t.c <= 1e3 OR t.d IS NULL OR t.e = TRUE OR (t.f IS NOT NULL AND t.g = FALSE)")


def _plain_pieces() -> list[exp.Expr]:
    condition = sqlglot.parse_one(CONDITION, read="duckdb")
    aliased = exp.alias_(exp.column("a", table="t", quoted=True), "out", quoted=True)
    table = exp.to_table('"p"."t"', dialect="duckdb")
    table.set("alias", exp.TableAlias(this=exp.to_identifier("x", quoted=True)))
    return [condition, aliased, table]


def test_the_pieces_cover_every_plain_class() -> None:
    seen = {type(node) for piece in _plain_pieces() for node in piece.walk()}
    assert seen <= PLAIN_NODES
    assert PLAIN_NODES - seen == set(), f"not exercised: {PLAIN_NODES - seen}"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_plain_pieces_render_in_every_dialect(dialect: str) -> None:
    for piece in _plain_pieces():
        piece.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)  # raises if a message appears
        assert render_check(piece, dialect)


def test_a_piece_with_other_nodes_is_still_rendered_to_check() -> None:
    # A function outside the plain classes: the shortcut does not answer, the check renders it
    # and agrees with what rendering says.
    piece = sqlglot.parse_one("SELECT APPROX_TOP_K(t.a, 3) FROM t", read="duckdb")
    assert any(type(node) not in PLAIN_NODES for node in piece.walk())
    rendered = True
    try:
        piece.sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError:
        rendered = False
    assert render_check(piece, "sqlite") is rendered
