"""Where Spark SQL computes something other than the mesh dialect (DuckDB SQL) means.

Found on LakeSail 0.7.2 (Spark SQL with ANSI mode off, as Spark 3 and Sail run by default)
against DuckDB 2.0; each entry is shown on Sail by tests/connectors/test_spark.py, a plain
rendering answering otherwise than DuckDB:

- ``MISSING`` (never pushed): ``quantile_cont`` (sqlglot renders ``PERCENTILE_CONT(x, q)``,
  which Spark refuses), ``mode`` (Sail refuses it over booleans), ``dayofweek`` (Spark counts
  Sunday as 1, DuckDB as 0).
- integer ``+``, ``-``, ``*`` and ``SUM`` wrap around on overflow (2147483647 + 1 is
  -2147483648); DuckDB raises an error, or sums in 128 bits;
- ``x / y`` and ``x % y`` by zero are NULL (DuckDB: +-inf and NaN for ``/``), and a division
  with a DECIMAL side is a DECIMAL rounded to 6 digits (DuckDB: a DOUBLE);
- ``AVG`` of a DECIMAL is a DECIMAL of 4 more digits, truncated (DuckDB: a DOUBLE);
- ``CAST`` of text to a number, date or time gives NULL for a bad value (DuckDB raises), and of a
  DOUBLE or DECIMAL to an integer truncates (DuckDB rounds: 2.7 is 3);
- ``LIKE`` treats ``\\`` as an escape character without ``ESCAPE`` (DuckDB has none).
- a ``DOUBLE`` or ``FLOAT`` cast to text prints otherwise (Spark ``1.0E20``, Sail ``1e20`` and
  ``0.00001``; DuckDB ``1e+20`` and ``1e-05``); ``||`` and ``concat`` turn a non-text operand
  into text the same way (and a ``TIMESTAMPTZ`` without DuckDB's ``+00``): both stay in DuckDB
  unless every operand is text.
- an integer cast to a narrower integer wraps around on Apache Spark with ANSI mode off (Spark 3,
  ``spark.sql.ansi.enabled=false``); DuckDB raises. Sail 0.7.2 and Spark 4 (ANSI on) raise too
  ("Can't cast value 300 to type Int8", classified a conversion error), but the endpoint's mode
  is not known from here, so the cast stays in DuckDB.

String comparisons are by code point in both, and ``a || NULL`` is NULL in both; sqlglot renders
DuckDB's NULL-skipping ``concat`` with COALESCE, and NULL ordering explicitly.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from .base import Difference
from .typed import FLOATS, INTEGERS, STRINGS, is_kind, kind_of, may_be

__all__ = ["DIFFERENCES", "MISSING"]

MISSING: frozenset[type[exp.Expression]] = frozenset({exp.PercentileCont, exp.Mode, exp.DayOfWeek})

_DECIMALS = frozenset({exp.DataType.Type.DECIMAL})
_INEXACT = frozenset({exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE, exp.DataType.Type.DECIMAL})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _integer_arithmetic(node: exp.Expr) -> bool:
    return may_be(node.this, INTEGERS) and may_be(node.expression, INTEGERS)


def _nonzero_literal(node: exp.Expr) -> bool:
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string and float(node.name) != 0


def _division_may_differ(node: exp.Expr) -> bool:
    if not _nonzero_literal(node.expression):
        return True
    return may_be(node.this, _DECIMALS) or may_be(node.expression, _DECIMALS)


def _cast_may_differ(node: exp.Expr) -> bool:
    assert isinstance(node, exp.Cast)
    target = node.to.this
    if target in STRINGS:
        return may_be(node.this, FLOATS)  # a DOUBLE prints otherwise
    if _real_day(node.this, target):
        return False
    if may_be(node.this, STRINGS) and not isinstance(node, exp.TryCast):
        return True  # a bad value: NULL on Spark, an error in DuckDB
    if target in INTEGERS and may_be(node.this, INTEGERS):
        return _narrower(node.this, target)  # may wrap around with ANSI mode off
    return target in INTEGERS and may_be(node.this, _INEXACT)


# Signed integer widths: a cast to a type at least as wide as the value's cannot overflow.
_WIDTH = {DType.TINYINT: 1, DType.SMALLINT: 2, DType.INT: 4, DType.BIGINT: 8}


def _narrower(value: exp.Expr, target: DType) -> bool:
    width = _WIDTH.get(target)
    if width is None:
        return True  # unsigned or wider than 64 bits: be safe
    if isinstance(value, exp.Literal) and value.is_int:
        bound = 1 << (8 * width - 1)
        return not -bound <= int(value.name) < bound
    source = kind_of(value)
    return source not in _WIDTH or _WIDTH[source] > width


def _not_all_text(node: exp.Expr) -> bool:
    """Some operand of ``||`` / ``concat`` may be other than text (a NULL literal is NULL in both)."""
    return any(not isinstance(part, exp.Null) and not is_kind(part, STRINGS) for part in node.iter_expressions())


def _real_day(value: exp.Expr, target: object) -> bool:
    """A literal ``'1994-01-01'`` cast to DATE (what ``DATE '1994-01-01'`` parses to): in ISO form and
    a day of the calendar, both engines read it as that day, so no bad value can become NULL."""
    if target != exp.DataType.Type.DATE or not (isinstance(value, exp.Literal) and value.is_string):
        return False
    if not _ISO_DATE.fullmatch(value.name):
        return False
    try:
        dt.date.fromisoformat(value.name)
    except ValueError:
        return False
    return True


def _like_may_differ(node: exp.Expr) -> bool:
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        return "\\" in pattern.name
    return True  # a pattern computed at run time may hold a backslash


DIFFERENCES: tuple[Difference, ...] = (
    Difference(exp.Add, "integer + wraps around on overflow (DuckDB raises)", _integer_arithmetic),
    Difference(exp.Sub, "integer - wraps around on overflow (DuckDB raises)", _integer_arithmetic),
    Difference(exp.Mul, "integer * wraps around on overflow (DuckDB raises)", _integer_arithmetic),
    Difference(exp.Sum, "SUM of integers is a BIGINT that wraps around (DuckDB sums in 128 bits)",
               lambda node: may_be(node.this, INTEGERS)),
    Difference(exp.Div, "division by zero is NULL (DuckDB: inf/NaN); a DECIMAL division is rounded to "
               "6 digits (DuckDB: a DOUBLE)", _division_may_differ),
    Difference(exp.Mod, "x % 0 is NULL (DuckDB: NaN or an error)",
               lambda node: not _nonzero_literal(node.expression)),
    Difference(exp.Avg, "AVG of a DECIMAL is a truncated DECIMAL (DuckDB: a DOUBLE)",
               lambda node: may_be(node.this, _DECIMALS)),
    Difference(exp.Cast, "a bad text value casts to NULL (DuckDB raises); a fraction cast to an integer is "
               "truncated (DuckDB rounds); a narrowing integer cast may wrap around (DuckDB raises); a DOUBLE "
               "prints otherwise as text", _cast_may_differ),
    Difference(exp.DPipe, "|| turns a non-text operand into text otherwise than DuckDB (1e20, timestamps)",
               _not_all_text),
    Difference(exp.Concat, "concat turns a non-text argument into text otherwise than DuckDB", _not_all_text),
    Difference(exp.Like, "LIKE treats a backslash as an escape character (DuckDB has none)", _like_may_differ),
)
