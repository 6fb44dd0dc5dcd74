"""Which conditions a privacy-mode query may write: those that cannot fail because of a row's value.

A privacy-mode answer must depend on one unit only through the noise. An error is no answer, but
whether it happens is: ``WHERE CASE WHEN customer_id = 5 THEN CAST(region AS INTEGER) END = 1``
fails iff customer 5 exists with a non-numeric region, a noiseless yes/no about one person. A
failed query gives its reserved epsilon back (``executor.privacy_gate``: nothing was released), so
such a question would even be free. The rewrite therefore admits in WHERE (and in a join's ON)
only conditions that compare columns with values::

    region = 'EMEA' AND year >= 2023 AND (amount BETWEEN 10 AND 20 OR note IS NULL)
    code IN ('a', 'b') AND name LIKE 'A%' AND NOT day < DATE '2024-01-01'

Columns appear bare (no function, cast or arithmetic around them: those are what can raise on a
value, e.g. a cast, a division by zero, an overflow); a cast of a constant (``DATE '...'``) is
allowed, since it fails or not whatever the rows hold. A comparison whose types do not fit (text
against a number) is refused while the query is typed, before any budget is reserved.
"""

from __future__ import annotations

from sqlglot import exp

from flightmesh.mesh import UnsupportedQuery

__all__ = ["CONDITIONS", "check_condition"]

CONDITIONS = ("conditions may only compare columns with values (=, <>, <, <=, >, >=, IN, BETWEEN, LIKE, "
              "ILIKE, IS [NOT] NULL), combined with AND, OR and NOT; a column inside a function, cast or "
              "arithmetic is refused, since whether such a condition fails would tell something about one row")

# Logic and comparisons: none of them raises on a value of the right type.
_CONNECTIVES = (exp.And, exp.Or, exp.Not, exp.Paren, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
                exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape)
_VALUES = (exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Neg, exp.Placeholder,
           exp.DataType)


def check_condition(condition: exp.Expr, clause: str) -> None:
    """Raise UnsupportedQuery if ``condition`` (of ``clause``: WHERE, ON) could fail on a value."""
    for node in condition.walk():
        if isinstance(node, _CONNECTIVES + _VALUES):
            if (isinstance(node, exp.In) and node.args.get("query") is not None) or \
                    (isinstance(node, exp.Neg) and not isinstance(node.this, exp.Literal)):   # -x overflows
                _refuse(node, clause)
            continue
        if isinstance(node, exp.Cast) and node.this.find(exp.Column) is None:
            continue   # a constant's cast: fails or not whatever the rows hold
        _refuse(node, clause)


def _refuse(node: exp.Expr, clause: str) -> None:
    raise UnsupportedQuery(f"{clause} {_shown(node)} is not allowed in privacy mode: {CONDITIONS}")


def _shown(node: exp.Expr) -> str:
    text = node.sql()
    return text if len(text) <= 80 else text[:77] + "..."
