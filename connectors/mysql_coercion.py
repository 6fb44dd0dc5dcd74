"""Comparing a string with a number, date or boolean: where MariaDB and DuckDB part ways.

DuckDB casts the string to the other side's type and raises when it cannot (``id = 'abc'``:
"Could not convert string 'abc' to INT64"); MariaDB converts silently ('abc' is 0, '10.5' stays
10.5 against an integer, 'true' is 0 against a boolean), so the same query answers rows where the
mesh dialect answers an error, or other rows. A string literal that reads as the other side's
type (``day = '2024-02-29'``, ``n = '10'``) means the same in both and is pushed; anything else
stays in the residual, where DuckDB decides. A string column compared with a number is refused
alike: its values are not known while planning.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from .mysql_collation import unsure_comparison
from .typed import BOOLEAN, FLOATS, INTEGERS, NUMBERS, STRINGS, TEMPORALS, is_kind, kind_of

__all__ = ["comparison_may_differ"]

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")
_OTHER_TYPES = NUMBERS | TEMPORALS | BOOLEAN


def _reads_as(text: str, kind: DType) -> bool:
    """Does ``text`` cast to ``kind`` in DuckDB the way MariaDB converts it?"""
    try:
        if kind in INTEGERS:
            return _INTEGER.fullmatch(text) is not None
        if kind in FLOATS or kind == DType.DECIMAL:
            return _NUMBER.fullmatch(text) is not None
        if kind == DType.DATE:
            return _DATE.fullmatch(text) is not None and bool(dt.date.fromisoformat(text))
        if kind in TEMPORALS and kind != DType.TIME:
            return _TIMESTAMP.fullmatch(text) is not None and bool(dt.datetime.fromisoformat(text))
    except ValueError:
        return False
    return False  # booleans ('true' is 0 in MariaDB), times: never the same


def _pair_may_differ(left: exp.Expr, right: exp.Expr) -> bool:
    for text, other in ((left, right), (right, left)):
        if is_kind(text, STRINGS) and is_kind(other, _OTHER_TYPES):
            if not (isinstance(text, exp.Literal) and text.is_string):
                return True
            kind = kind_of(other)
            return kind is None or not _reads_as(text.name, kind)
    return False


def comparison_may_differ(node: exp.Expr) -> bool:
    """A ``Difference.when`` for comparisons, IN and BETWEEN (see the module docstring)."""
    if unsure_comparison(node):
        return True
    if isinstance(node, exp.In):
        return any(_pair_may_differ(node.this, value) for value in node.expressions)
    if isinstance(node, exp.Between):
        return any(_pair_may_differ(node.this, node.args[key]) for key in ("low", "high"))
    if isinstance(node, exp.Binary):
        return _pair_may_differ(node.this, node.expression)
    return False
