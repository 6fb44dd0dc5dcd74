"""Which conditions a privacy-mode query may write: those that cannot fail because of a row's value.

A privacy-mode answer must depend on one unit only through the noise. An error is no answer, but
whether it happens is: ``WHERE customer_id = 5 AND CAST(region AS INTEGER) = 1`` fails iff customer
5 has a non-numeric region, a noiseless yes/no about one person. A failed query gives its reserved
epsilon back (``executor.privacy_gate``: nothing was released), so such a question would even be
free. The rewrite therefore admits in WHERE (and in a join's ON) only conditions that compare
columns with values of their own kind::

    region = 'EMEA' AND year >= 2023 AND (amount BETWEEN 10 AND 20 OR note IS NULL)
    code IN ('a', 'b') AND name LIKE 'A%' AND NOT day < DATE '2024-01-01'

* columns appear bare: a function, cast or arithmetic around one is what can raise on a value (a
  cast, a division by zero, an overflow); a constant may be cast (``DATE '...'``), since it fails
  or not whatever the rows hold;
* both sides of a comparison are of one kind (numbers, text, dates and times, booleans): DuckDB
  compares a text column with a number by casting every row's text (``region = 5`` fails iff some
  region is not a number). A text constant goes with any column: engines convert the constant;
* a column used as a condition by itself (``WHERE flag``, ``NOT flag``, ``flag IS TRUE``) is a
  BOOLEAN one, for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
from sqlglot import exp

from flightmesh.mesh import UnsupportedQuery

__all__ = ["CONDITIONS", "ColumnType", "check_condition"]

CONDITIONS = ("conditions may only compare columns with values of their kind (=, <>, <, <=, >, >=, IN, BETWEEN, "
              "LIKE, ILIKE, IS [NOT] NULL), combined with AND, OR and NOT; a column inside a function, cast or "
              "arithmetic, or compared with another kind (text with a number), is refused, since whether such a "
              "condition fails would tell something about one row")

# The type of a column the condition names (None: not a column of the query's tables; the planner
# reports it as unknown later).
ColumnType = Callable[[exp.Column], pa.DataType | None]

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_PREDICATES = (*_COMPARISONS, exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike)
ANY = "any"   # NULL, a parameter, a column the planner will report as unknown


def check_condition(condition: exp.Expr, clause: str, column_type: ColumnType) -> None:
    """Raise UnsupportedQuery if ``condition`` (of ``clause``: WHERE, ON) could fail on a row's value."""
    _predicate(condition, clause, column_type)


def _predicate(node: exp.Expr, clause: str, types: ColumnType) -> None:
    """``node`` stands where a truth value is expected."""
    if isinstance(node, exp.Paren):
        _predicate(node.this, clause, types)
    elif isinstance(node, (exp.And, exp.Or)):
        _predicate(node.this, clause, types)
        _predicate(node.expression, clause, types)
    elif isinstance(node, exp.Not):
        _predicate(node.this, clause, types)
    elif isinstance(node, _COMPARISONS):
        _same_kind(node, node.this, [node.expression], clause, types)
    elif isinstance(node, exp.Between):
        _same_kind(node, node.this, [node.args["low"], node.args["high"]], clause, types)
    elif isinstance(node, exp.In):
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            _refuse(node, clause)
        _same_kind(node, node.this, list(node.expressions), clause, types)
    elif isinstance(node, exp.Escape):   # x LIKE pattern ESCAPE '!'
        if not _constant(node.expression):
            _refuse(node, clause)
        _predicate(node.this, clause, types)
    elif isinstance(node, (exp.Like, exp.ILike)):
        _same_kind(node, node.this, [node.expression], clause, types, only="text")
    elif isinstance(node, exp.Is):
        if isinstance(node.expression, exp.Null):
            _kind(node.this, clause, types)   # IS NULL: any value may be asked
        else:
            _same_kind(node, node.this, [node.expression], clause, types, only="bool")
    elif _kind(node, clause, types) not in ("bool", ANY) and not _constant(node):
        _refuse(node, clause)   # a text or number column as a truth value: cast per row


def _same_kind(node: exp.Expr, left: exp.Expr, rights: list[exp.Expr], clause: str, types: ColumnType,
               only: str | None = None) -> None:
    kinds = [(_kind(side, clause, types), _constant(side)) for side in (left, *rights)]
    named = {kind for kind, constant in kinds if kind != ANY and not (constant and kind == "text")}
    if only is not None:
        named |= {only} if any(kind not in (ANY, only) for kind, _ in kinds) else set()
    if len(named) > 1:
        _refuse(node, clause)


def _kind(node: exp.Expr, clause: str, types: ColumnType) -> str:
    """What ``node`` is (number, text, time, bool, any); refused if it is not a bare column or a constant."""
    if isinstance(node, exp.Paren):
        return _kind(node.this, clause, types)
    if isinstance(node, exp.Column):
        found = types(node)
        return ANY if found is None else _of_type(found)
    if isinstance(node, exp.Literal):
        return "text" if node.is_string else "number"
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return "number"
    if isinstance(node, exp.Boolean):
        return "bool"
    if isinstance(node, (exp.Null, exp.Placeholder)):
        return ANY
    if isinstance(node, exp.Cast) and _constant(node):
        return _of_sql_type(node.to)
    if isinstance(node, _PREDICATES):
        _predicate(node, clause, types)
        return "bool"
    _refuse(node, clause)
    raise AssertionError("unreachable")


def _constant(node: exp.Expr) -> bool:
    """No column inside: fails or not whatever the rows hold (a literal, a cast of one)."""
    return node.find(exp.Column) is None and all(
        isinstance(part, (exp.Literal, exp.Neg, exp.Boolean, exp.Null, exp.Placeholder, exp.Cast, exp.DataType,
                          exp.Paren, exp.Identifier, exp.Var))
        for part in node.walk())


def _of_type(data_type: pa.DataType) -> str:
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "number"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return "text"
    if pa.types.is_temporal(data_type):
        return "time"
    if pa.types.is_boolean(data_type):
        return "bool"
    return str(data_type)   # binary, nested...: a kind of its own, compared only with itself


def _of_sql_type(data_type: exp.DataType) -> str:
    if data_type.is_type(*exp.DataType.NUMERIC_TYPES):
        return "number"
    if data_type.is_type(*exp.DataType.TEXT_TYPES):
        return "text"
    if data_type.is_type(*exp.DataType.TEMPORAL_TYPES):
        return "time"
    if data_type.is_type(exp.DataType.Type.BOOLEAN):
        return "bool"
    return data_type.sql()


def _refuse(node: exp.Expr, clause: str) -> None:
    raise UnsupportedQuery(f"{clause} {_shown(node)} is not allowed in privacy mode: {CONDITIONS}")


def _shown(node: exp.Expr) -> str:
    text = node.sql()
    return text if len(text) <= 80 else text[:77] + "..."
