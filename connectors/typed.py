"""Reading the mesh types the planner annotated on a fragment's nodes, for ``Difference`` checks.

The planner annotates the qualified query once (``planner.annotate``) with sqlglot's type
inference over the catalog's column types, in the mesh dialect (DuckDB). Nodes the planner's
rules create later may carry no type: ``kind_of`` then answers None, and a check that must be
sure (``may_be``) treats an unknown type as possibly affected: refusing a pushdown is always
correct, only slower.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

__all__ = [
    "BOOLEAN",
    "FLOATS",
    "INTEGERS",
    "NUMBERS",
    "STRINGS",
    "TEMPORALS",
    "any_argument",
    "is_kind",
    "kind_of",
    "may_be",
]

STRINGS = frozenset({DType.VARCHAR, DType.CHAR, DType.TEXT, DType.NVARCHAR, DType.NCHAR, DType.NAME})
INTEGERS = frozenset({DType.TINYINT, DType.SMALLINT, DType.INT, DType.BIGINT, DType.INT128,
                      DType.UTINYINT, DType.USMALLINT, DType.UINT, DType.UBIGINT})
FLOATS = frozenset({DType.FLOAT, DType.DOUBLE})
NUMBERS = INTEGERS | FLOATS | {DType.DECIMAL}
BOOLEAN = frozenset({DType.BOOLEAN})
# TIMESTAMPNTZ: what DuckDB's parser gives a ``TIMESTAMP '...'`` literal's cast.
TEMPORALS = frozenset({DType.DATE, DType.TIMESTAMP, DType.TIMESTAMPTZ, DType.TIMESTAMP_S, DType.TIMESTAMP_MS,
                       DType.TIMESTAMP_NS, DType.TIMESTAMPNTZ, DType.TIMESTAMPLTZ, DType.TIME, DType.DATETIME})


def kind_of(node: exp.Expr | None) -> DType | None:
    """The annotated type of ``node``, or None when it has none (or sqlglot could not tell)."""
    if node is None:
        return None
    if isinstance(node, exp.Literal):
        # Literals need no annotation: their text says what they are.
        return DType.VARCHAR if node.is_string else (DType.INT if node.is_int else DType.DOUBLE)
    if isinstance(node, exp.Null):
        return DType.NULL
    if isinstance(node, exp.Boolean):
        return DType.BOOLEAN
    data_type = node.type
    kind = data_type.this if data_type is not None else None
    if not isinstance(kind, DType) or kind in (DType.UNKNOWN, DType.NULL):
        return None
    return kind


def is_kind(node: exp.Expr | None, kinds: frozenset[DType]) -> bool:
    """True only when ``node`` is known to have one of ``kinds``."""
    return kind_of(node) in kinds


def may_be(node: exp.Expr | None, kinds: frozenset[DType]) -> bool:
    """True when ``node`` has one of ``kinds`` or its type is unknown (be safe: assume it might)."""
    kind = kind_of(node)
    return kind is None or kind in kinds


def any_argument(test: Callable[[exp.Expr], bool]) -> Callable[[exp.Expr], bool]:
    """A ``Difference.when`` true when ``test`` holds for any direct argument of the node."""

    def when(node: exp.Expr) -> bool:
        return any(test(child) for child in node.iter_expressions())

    return when
