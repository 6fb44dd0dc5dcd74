"""Where PostgreSQL computes something other than the mesh dialect (DuckDB SQL) means.

``DIFFERENCES`` are the typed nodes a fragment for PostgreSQL must leave to the residual;
``faithful`` rewrites a fragment so PostgreSQL computes the mesh's meaning where a plain rendering
would not. Each entry is verified on the real engine (tests/connectors/test_semantics_postgresql.py).

Strings are ordered by code point and case-mapped as DuckDB does, whatever the column's
collation (``postgresql_collation``); the session's DateStyle and IntervalStyle are pinned
(``SESSION_SETTINGS``). The rest follows what DuckDB does and PostgreSQL does not, each noted
where it is rewritten or declared.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from .base import Difference
from .postgresql_collation import (
    UNSAFE,
    collate_distinct_on,
    collate_first,
    collate_first_argument,
    collate_ordering,
    copy_type,
    int_literal,
    lower,
    lower_operands,
    no_escape,
    ordering,
    ordering_unsure,
    strings,
    upper,
)
from .typed import BOOLEAN, FLOATS, INTEGERS, STRINGS, is_kind, kind_of, may_be

__all__ = ["DIFFERENCES", "SESSION_SETTINGS", "faithful"]

# Set on every session the connector opens: a server, database or role may default to another
# DateStyle ('SQL, DMY' prints a date as 15/03/2024) or IntervalStyle; DuckDB prints ISO dates
# and PostgreSQL-style intervals.
SESSION_SETTINGS = ("SET DateStyle = 'ISO, MDY'", "SET IntervalStyle = 'postgres'")

_DECIMALS = frozenset({DType.DECIMAL})
_NUMBERS = INTEGERS | FLOATS | _DECIMALS
_DATES = frozenset({DType.DATE})
_TIMESTAMPS = frozenset({DType.TIMESTAMP, DType.TIMESTAMPNTZ, DType.DATETIME})

# date_trunc units that mean the same in both engines (PostgreSQL's century starts at year 1,
# DuckDB's at year 0; smaller units than a second were not verified).
_TRUNC_UNITS = frozenset({"YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND"})
_DATE_TRUNC_UNITS = frozenset({"YEAR", "QUARTER", "MONTH", "WEEK", "DAY"})
# EXTRACT fields with the same numbers in both engines; DuckDB answers BIGINT (DOUBLE for epoch),
# PostgreSQL numeric, and PostgreSQL's SECOND/MILLISECONDS carry the fraction DuckDB drops.
_EXTRACT_DATE_PARTS = frozenset({"YEAR", "MONTH", "DAY", "DOW", "ISODOW", "DOY", "WEEK", "QUARTER", "ISOYEAR",
                                 "DECADE", "EPOCH"})
_EXTRACT_TIME_PARTS = frozenset({"HOUR", "MINUTE", "SECOND", "MILLISECOND", "MILLISECONDS", "MICROSECOND",
                                 "MICROSECONDS"})
_WHOLE_PARTS = frozenset({"SECOND", "MILLISECOND", "MILLISECONDS"})
_PART_NAMES = {"MILLISECOND": "MILLISECONDS", "MICROSECOND": "MICROSECONDS"}
# DuckDB's part functions (year(x), hour(x), ...) and the EXTRACT field each means.
_PART_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Year: "YEAR", exp.Month: "MONTH", exp.Day: "DAY", exp.Hour: "HOUR", exp.Minute: "MINUTE",
    exp.Second: "SECOND", exp.DayOfYear: "DOY", exp.Week: "WEEK", exp.Quarter: "QUARTER",
    exp.DayOfWeekIso: "ISODOW",
}
# Text both engines read the same way, per target type. Beyond it they part: DuckDB reads '12.5'
# as the INTEGER 13, '1_000' as 1000 and truncates a 7th fractional digit; PostgreSQL refuses
# those, reads 'on', 'today', '20240315' and 'March 15 2024', and rounds the 7th digit.
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?")
_BOOLEAN_TEXT = re.compile(r"true|false|t|f|yes|no|y|n|1|0", re.IGNORECASE)
# Regular expressions: PostgreSQL's are POSIX AREs, DuckDB's RE2 ('\\b' is a word boundary in RE2, a
# backspace in an ARE; '.' matches a newline in an ARE only). Patterns of these characters mean
# the same in both.
_PLAIN_REGEX = re.compile(r"[A-Za-z0-9 ^$*+?|()\[\]_,;'\"!@#%&=<>/~-]*")  # no ':' ([[:alpha:]] is locale-aware)
# strftime specifiers sqlglot translates to to_char with the same text (checked in the tests).
_STRFTIME_SPECIFIERS = frozenset("YmdHMSyjABabIf%")
_DATE_DIFF_UNITS = frozenset({"DAY", "MONTH", "YEAR"})
_MAX_ROUND_DIGITS = 30       # a decimal's precision ends well before


# -- what a node is ----------------------------------------------------------------------------


def _nonzero_literal(node: exp.Expr | None) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string and float(node.name) != 0


def _decimal_shape(node: exp.Expr | None) -> tuple[int, int] | None:
    """(precision, scale) of a DECIMAL column or cast, or of sum/min/max of one, else None.

    sqlglot's inferred precision of other expressions is not DuckDB's (sum(DECIMAL(12,2)) is
    DECIMAL(38,2) in DuckDB, DECIMAL(12,2) for sqlglot), so only these are trusted.
    """
    if isinstance(node, (exp.Sum, exp.Min, exp.Max)):
        inner = _decimal_shape(node.this)
        if inner is None:
            return None
        return (38, inner[1]) if isinstance(node, exp.Sum) else inner
    if not isinstance(node, (exp.Column, exp.Cast)):
        return None
    data_type = node.type
    if data_type is None or data_type.this != DType.DECIMAL or len(data_type.expressions) != 2:
        return None
    precision, scale = (param.this for param in data_type.expressions)
    if not (isinstance(precision, exp.Literal) and isinstance(scale, exp.Literal)):
        return None
    return int(precision.name), int(scale.name)


def _unit(node: exp.Expr) -> str:
    unit = node.args.get("unit")
    return unit.name.upper() if isinstance(unit, (exp.Var, exp.Literal)) else ""


def _extract_part(node: exp.Extract) -> str:
    return node.this.name.upper() if isinstance(node.this, (exp.Var, exp.Literal)) else ""


# -- the declared differences ---------------------------------------------------------------


def _float_text(node: exp.Expr) -> bool:
    return is_kind(node.this, FLOATS) or (kind_of(node.this) is None and not isinstance(node.this, exp.Null))


def _text_pattern(target: DType) -> re.Pattern[str] | None:
    if target in INTEGERS:
        return _INTEGER_TEXT
    if target in FLOATS or target == DType.DECIMAL:
        return _NUMBER_TEXT
    if target == DType.DATE:
        return _DATE_TEXT
    if target in _TIMESTAMPS:
        return _TIMESTAMP_TEXT
    return _BOOLEAN_TEXT if target == DType.BOOLEAN else None


def _text_cast_unsure(node: exp.Expr) -> bool:
    """A cast from text to another type: same answer only for text both engines read alike."""
    target = node.args["to"].this
    if target in STRINGS or not may_be(node.this, STRINGS) or isinstance(node.this, exp.Null):
        return False
    pattern = _text_pattern(target)
    value = node.this
    return pattern is None or not (isinstance(value, exp.Literal) and value.is_string
                                   and pattern.fullmatch(value.name) is not None)


_ZONED = frozenset({DType.TIMESTAMPTZ, DType.TIMESTAMPLTZ})


def _zoned_cast(node: exp.Expr) -> bool:
    # To or from TIMESTAMPTZ, a value goes through each engine's own session time zone.
    return (node.args["to"].this in _ZONED) != is_kind(node.this, _ZONED) or \
        (node.args["to"].this in _ZONED and kind_of(node.this) is None)


def _plain_literal(node: exp.Expr | None, pattern: re.Pattern[str]) -> bool:
    return isinstance(node, exp.Literal) and node.is_string and pattern.fullmatch(node.name) is not None


def _regex_unsure(node: exp.Expr) -> bool:
    if node.args.get("flag") is not None or node.args.get("modifiers") is not None or \
            node.args.get("position") is not None or node.args.get("occurrence") is not None:
        return True
    replacement = node.args.get("replacement")
    if replacement is not None and not (isinstance(replacement, exp.Literal) and "\\" not in replacement.name):
        return True
    return not _plain_literal(node.expression, _PLAIN_REGEX)


def _strftime_unsure(node: exp.Expr) -> bool:
    form = node.args.get("format")
    if not (isinstance(form, exp.Literal) and form.is_string) or not is_kind(node.this, _DATES | _TIMESTAMPS):
        return True
    text = form.name
    specifiers = [text[i + 1:i + 2] for i in range(len(text)) if text[i] == "%" and (i == 0 or text[i - 1] != "%")]
    return any(specifier not in _STRFTIME_SPECIFIERS for specifier in specifiers)


def _date_diff_unsure(node: exp.Expr) -> bool:
    return _unit(node) not in _DATE_DIFF_UNITS or not (is_kind(node.this, _DATES | _TIMESTAMPS)
                                                       and is_kind(node.expression, _DATES | _TIMESTAMPS))


def _concat_unsure(node: exp.Expr) -> bool:
    return any(may_be(argument, FLOATS) and not isinstance(argument, exp.Null) for argument in node.iter_expressions())


def _round_unsure(node: exp.Expr) -> bool:
    decimals = node.args.get("decimals")
    digits = 0 if decimals is None else int_literal(decimals)
    if digits is None or abs(digits) > _MAX_ROUND_DIGITS:
        return True
    if is_kind(node.this, INTEGERS):
        # the result keeps the argument's type, trusted for columns and casts only
        return digits < 0 and not isinstance(node.this, (exp.Column, exp.Cast))
    if is_kind(node.this, FLOATS):
        # DuckDB rounds a double's exact binary value (round(2.675, 2) is 2.67); PostgreSQL can
        # reach that value only through numeric, whose conversion keeps 15 digits (2.68).
        return digits != 0
    return _decimal_shape(node.this) is None


def _trunc_unsure(node: exp.Expr) -> bool:
    unit = _unit(node)
    if is_kind(node.this, _DATES):
        return unit not in _DATE_TRUNC_UNITS
    return not is_kind(node.this, _TIMESTAMPS) or unit not in _TRUNC_UNITS


def _extract_unsure(node: exp.Expr) -> bool:
    assert isinstance(node, exp.Extract)
    part = _extract_part(node)
    if is_kind(node.expression, _DATES):
        return part not in _EXTRACT_DATE_PARTS
    return not is_kind(node.expression, _TIMESTAMPS) or part not in _EXTRACT_DATE_PARTS | _EXTRACT_TIME_PARTS


def _part_unsure(node: exp.Expr) -> bool:
    return not is_kind(node.this, _DATES | _TIMESTAMPS)


def _substring_unsure(node: exp.Expr) -> bool:
    length = node.args.get("length")
    if length is not None and (int_literal(length) is None or (int_literal(length) or 0) < 0):
        return True  # DuckDB counts a negative length backwards; PostgreSQL refuses it
    start = node.args.get("start")
    return start is not None and not is_kind(start, INTEGERS)


DIFFERENCES: tuple[Difference, ...] = (
    Difference(exp.Ordered, "a string's order follows the column's collation (linguistic in many databases); "
               "the term's type is unknown or its COLLATE cannot be placed", ordering_unsure),
    *(Difference(kind, "string comparison follows the column's collation; the operands' types are unknown",
                 lambda node: strings(node.this, node.expression) is None)
      for kind in (exp.LT, exp.LTE, exp.GT, exp.GTE)),
    Difference(exp.Between, "string comparison follows the column's collation; the operands' types are unknown",
               lambda node: strings(node.this, node.args.get("low"), node.args.get("high")) is None),
    *(Difference(kind, "min/max of strings follow the collation, of booleans do not exist; type unknown",
                 lambda node: kind_of(node.this) is None) for kind in (exp.Min, exp.Max)),
    *(Difference(kind, "GREATEST/LEAST of strings follow the collation; the arguments' types are unknown",
                 lambda node: strings(*node.iter_expressions()) is None) for kind in (exp.Greatest, exp.Least)),
    Difference(exp.IntDiv, "DIV() answers numeric, and exists for no double; only integer and double "
               "operands are rewritten", lambda node: not (is_kind(node.this, INTEGERS | FLOATS)
                                                          and is_kind(node.expression, INTEGERS | FLOATS))),
    Difference(exp.Div, "division by zero raises where DuckDB answers ±inf/NaN; only numeric operands are "
               "rewritten", lambda node: not (is_kind(node.this, _NUMBERS) and is_kind(node.expression, _NUMBERS))),
    Difference(exp.Mod, "PostgreSQL has no % for double precision (DuckDB: fmod)",
               lambda node: may_be(node.this, FLOATS) or may_be(node.expression, FLOATS)),
    Difference(exp.Round, "round of a double rounds half to even, round(double, n) does not exist; only a "
               "literal precision over a typed argument is rewritten", _round_unsure),
    Difference(exp.Cast, "a double's text differs ('0' for 0.0, exponents from 1e15 on)",
               lambda node: node.args["to"].this in STRINGS and _float_text(node)),
    Difference(exp.Cast, "text is read differently ('12.5' as INTEGER, 'on', 'today', a 7th fractional "
               "digit): only literals of the common form are pushed", _text_cast_unsure),
    Difference(exp.Cast, "TIMESTAMPTZ converts in each engine's session time zone", _zoned_cast),
    Difference(exp.Cast, "a double becomes numeric through 15 significant digits (1.005 is 1.01, DuckDB 1.00)",
               lambda node: node.args["to"].this == DType.DECIMAL and may_be(node.this, FLOATS)
               and not isinstance(node.this, exp.Null)),
    *(Difference(kind, "the current date and time follow each engine's session time zone (and clock); "
                 "DuckDB evaluates them once for the whole query") for kind in
      (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime)),
    Difference(exp.Concat, "a double's text differs ('0' for 0.0)", _concat_unsure),
    Difference(exp.DPipe, "a double's text differs ('0' for 0.0)", _concat_unsure),
    Difference(exp.TimestampTrunc, "date_trunc: DATE becomes a zoned timestamp; century/millennium start "
               "elsewhere", _trunc_unsure),
    Difference(exp.DateTrunc, "date_trunc: DATE becomes a zoned timestamp; century/millennium start elsewhere",
               _trunc_unsure),
    Difference(exp.Extract, "EXTRACT answers numeric, with fractions of seconds; only verified fields of DATE "
               "and TIMESTAMP are rewritten", _extract_unsure),
    *(Difference(kind, "the part functions exist only as EXTRACT; only DATE and TIMESTAMP are rewritten",
                 _part_unsure) for kind in _PART_FUNCTIONS),
    *(Difference(kind, "no monthname/dayname; only DATE and TIMESTAMP are rewritten", _part_unsure)
      for kind in (exp.Monthname, exp.Dayname)),
    *(Difference(kind, "POSIX regular expressions differ from RE2 ('\\b', '.' and newlines, flags); only "
                 "patterns of plain characters are pushed", _regex_unsure)
      for kind in (exp.RegexpLike, exp.RegexpReplace)),
    Difference(exp.TimeToStr, "to_char has other specifiers; only those translated alike are pushed",
               _strftime_unsure),
    Difference(exp.DateDiff, "date_diff is rendered from day counts and ages; only day, month and year of DATE "
               "and TIMESTAMP were verified", _date_diff_unsure),
    Difference(exp.Substring, "a negative start counts from the end in DuckDB, before the start in PostgreSQL; "
               "a negative length is refused", _substring_unsure),
)


# -- the rewrites ------------------------------------------------------------------------------


def _cast(node: exp.Expr, to: str) -> exp.Cast:
    cast = exp.Cast(this=node, to=exp.DataType.build(to, dialect="postgres"))
    cast.type = exp.DataType.build(to, dialect="postgres")
    return cast


def _double(node: exp.Expr) -> exp.Expr:
    return node if is_kind(node, FLOATS) else _cast(exp.Paren(this=node), "DOUBLE PRECISION")


def _min_max(node: exp.Expr) -> exp.Expr:
    if is_kind(node.this, BOOLEAN):  # PostgreSQL has no max(boolean); bool_or is the same
        kind = exp.LogicalOr if isinstance(node, exp.Max) else exp.LogicalAnd
        return copy_type(kind(this=node.this), node)
    return collate_first(node)


def _int_div(node: exp.Expr) -> exp.Expr:
    # DuckDB's // truncates integers toward zero, as PostgreSQL's integer /; on doubles it divides.
    return copy_type(exp.Div(this=node.this, expression=node.expression, typed=True), node)


def _div(node: exp.Expr) -> exp.Expr:
    # DuckDB's / is a double division (of decimals too) and x / 0 is ±inf or NaN, never an error.
    left, right = node.this, node.expression
    if _nonzero_literal(right):
        return copy_type(exp.Div(this=_double(left), expression=right, typed=True), node)
    infinity = _cast(exp.Literal.string("Infinity"), "DOUBLE PRECISION")
    by_zero = exp.Mul(this=_double(left.copy()), expression=infinity)  # +inf, -inf, NaN for 0 and NaN
    if isinstance(right, exp.Literal):  # a literal zero
        return copy_type(exp.Paren(this=by_zero), node)
    divided = exp.Div(this=_double(left), expression=_double(right.copy()), typed=True)
    case = exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Paren(this=right), expression=exp.Literal.number(0)),
                                true=by_zero)], default=divided)
    return copy_type(exp.Paren(this=case), node)


def _half_away(value: Callable[[], exp.Expr]) -> exp.Expr:
    """round(y) as DuckDB (std::round: ties away from zero); PostgreSQL's round(double) rounds ties
    to even. y - trunc(y) is exact in binary floating point, so the tie test is exact."""
    trunc = exp.func("trunc", exp.Paren(this=value()))
    fraction = exp.Sub(this=exp.Paren(this=value()), expression=trunc.copy())
    tie = exp.In(this=exp.Paren(this=fraction), expressions=[exp.Literal.number(0.5), exp.Neg(
        this=exp.Literal.number(0.5))])
    away = exp.Add(this=trunc, expression=exp.func("sign", exp.Paren(this=value())))
    return exp.Paren(this=exp.Case(ifs=[exp.If(this=tie, true=away)],
                                   default=exp.Round(this=exp.Paren(this=value()))))


def _round(node: exp.Expr) -> exp.Expr:
    argument, decimals = node.this, node.args.get("decimals")
    digits = 0 if decimals is None else int_literal(decimals)
    assert digits is not None
    if is_kind(argument, INTEGERS):
        if digits >= 0:
            return exp.Paren(this=argument)
        rounded = exp.Round(this=_cast(exp.Paren(this=argument), "NUMERIC"), decimals=exp.Literal.number(digits))
        type_sql = argument.type.sql("postgres") if argument.type is not None else "BIGINT"
        return copy_type(_cast(rounded, type_sql), argument)
    if is_kind(argument, FLOATS):  # round(x): ties away from zero (round(x, n) is a Difference)
        return copy_type(_half_away(lambda: argument.copy()), node)
    shape = _decimal_shape(argument)
    assert shape is not None
    precision, scale_digits = shape
    # DuckDB: ROUND(DECIMAL(p, s), n) is DECIMAL(p, min(s, n)), DECIMAL(p, 0) for n < 0; PostgreSQL's
    # numeric round is half away from zero as well, its scale is n.
    target = max(0, min(scale_digits, digits))
    rounded = exp.Round(this=argument, decimals=exp.Literal.number(digits))
    return copy_type(_cast(rounded, f"DECIMAL({precision}, {target})"), node)


def _cast_rewrite(node: exp.Expr) -> exp.Expr:
    assert isinstance(node, exp.Cast)
    # PostgreSQL casts boolean to integer only: bigint, smallint, double, decimal go through it.
    if is_kind(node.this, BOOLEAN) and node.to.this in _NUMBERS and node.to.this != DType.INT:
        node.set("this", _cast(node.this, "INT"))
    # ... and only integer to boolean; DuckDB's cast of any number is x <> 0 (NaN is true).
    value = node.this
    while isinstance(value, exp.Paren):  # the type is the inner node's (a rewritten one's too)
        value = value.this
    if node.to.this == DType.BOOLEAN and is_kind(value, _NUMBERS - {DType.INT}):
        return copy_type(exp.Paren(this=exp.NEQ(this=exp.Paren(this=node.this), expression=exp.Literal.number(0))),
                          node)
    return node


def _concat(node: exp.Expr) -> exp.Expr:
    # A boolean inside concat() or || prints 't'/'f' in PostgreSQL; its cast to text is 'true'.
    for argument in list(node.iter_expressions()):
        if is_kind(argument, BOOLEAN):
            argument.replace(_cast(exp.Paren(this=argument.copy()), "TEXT"))
    return node


def _trunc(node: exp.Expr) -> exp.Expr:
    # date_trunc of a DATE: PostgreSQL casts it to timestamptz (the session's zone); DuckDB answers
    # a TIMESTAMP.
    if is_kind(node.this, _DATES):
        node.set("this", _cast(node.this, "TIMESTAMP"))
    return node


def _extract(field: str, value: exp.Expr, original: exp.Expr) -> exp.Expr:
    name = _PART_NAMES.get(field, field)
    extracted: exp.Expr = exp.Extract(this=exp.var(name), expression=value)
    if field == "EPOCH":
        return copy_type(_cast(extracted, "DOUBLE PRECISION"), original)
    if field in _WHOLE_PARTS:  # DuckDB drops the fraction PostgreSQL keeps
        extracted = exp.Floor(this=extracted)
    return copy_type(_cast(extracted, "BIGINT"), original)


def _extract_rewrite(node: exp.Expr) -> exp.Expr:
    assert isinstance(node, exp.Extract)
    return _extract(_extract_part(node), node.expression, node)


def _part_rewrite(node: exp.Expr) -> exp.Expr:
    return _extract(_PART_FUNCTIONS[type(node)], node.this, node)


def _month_day_name(node: exp.Expr) -> exp.Expr:
    # 'FM' drops to_char's padding; without 'TM' the names are English whatever lc_time says.
    pattern = "FMMonth" if isinstance(node, exp.Monthname) else "FMDay"
    return copy_type(exp.func("to_char", node.this, exp.Literal.string(pattern)), node)


def _substring(node: exp.Expr) -> exp.Expr:
    start = node.args.get("start")
    if start is None:
        return node
    value = node.this
    literal = int_literal(start)
    if literal is not None and literal >= 0:
        return node
    # DuckDB counts a negative start from the end: -1 is the last character.
    length = exp.Length(this=value.copy())
    from_end: exp.Expr = exp.Add(this=exp.Add(this=length, expression=exp.Paren(this=start.copy())),
                                 expression=exp.Literal.number(1))
    if literal is None:
        from_end = exp.Case(ifs=[exp.If(this=exp.LT(this=exp.Paren(this=start.copy()),
                                                     expression=exp.Literal.number(0)), true=from_end)],
                            default=start)
    node.set("start", exp.Paren(this=from_end))
    return node


def _rewrite_for(node: exp.Expr) -> Callable[[exp.Expr], exp.Expr] | None:
    """The rewrite ``node`` needs, decided on the annotated tree before anything is rewritten."""
    if isinstance(node, exp.Ordered):
        how, decider = ordering(node)
        return collate_ordering if how != UNSAFE and strings(decider) else None
    if isinstance(node, (exp.LT, exp.LTE, exp.GT, exp.GTE)):
        return collate_first if strings(node.this, node.expression) else None
    if isinstance(node, exp.Between):
        return collate_first if strings(node.this, node.args.get("low"), node.args.get("high")) else None
    if isinstance(node, (exp.Min, exp.Max)):
        return _min_max if is_kind(node.this, STRINGS | BOOLEAN) else None
    if isinstance(node, (exp.Greatest, exp.Least)):
        return collate_first_argument if strings(*node.iter_expressions()) else None
    if isinstance(node, (exp.Like, exp.ILike)):
        escape = not isinstance(node.parent, exp.Escape) and not (
            isinstance(node.expression, exp.Literal) and "\\" not in node.expression.name)
        if isinstance(node, exp.ILike):
            return no_escape(lower_operands) if escape else lower_operands
        return no_escape(lambda like: like) if escape else None
    if isinstance(node, exp.Distinct) and isinstance(node.args.get("on"), exp.Tuple):
        return collate_distinct_on if any(strings(on) for on in node.args["on"].expressions) else None
    rewrites: dict[type[exp.Expr], Callable[[exp.Expr], exp.Expr]] = {
        exp.IntDiv: _int_div, exp.Div: _div, exp.Round: _round, exp.Cast: _cast_rewrite, exp.Concat: _concat,
        exp.DPipe: _concat, exp.TimestampTrunc: _trunc, exp.DateTrunc: _trunc, exp.Extract: _extract_rewrite,
        exp.Monthname: _month_day_name, exp.Dayname: _month_day_name, exp.Substring: _substring,
        exp.Upper: upper, exp.Lower: lower,
    }
    if isinstance(node, exp.Sub) and is_kind(node.this, _DATES) and is_kind(node.expression, _DATES):
        return _as_bigint  # date - date: DuckDB's BIGINT, PostgreSQL's integer
    if isinstance(node, exp.DateDiff):
        return _as_bigint
    if isinstance(node, exp.Group):
        return _typed_group_constants if any(_bare_constant(key) for key in node.expressions) else None
    if type(node) in _PART_FUNCTIONS:
        return _part_rewrite
    return rewrites.get(type(node))


def _as_bigint(node: exp.Expr) -> exp.Expr:
    # Typed BIGINT, not as the node: sqlglot types date - date as a DATE, and a parent's rewrite
    # (a cast to BOOLEAN) must see the number it is.
    return _cast(exp.Paren(this=node), "BIGINT")


def _bare_constant(node: exp.Expr) -> bool:
    return isinstance(node, (exp.Null, exp.Boolean)) or (isinstance(node, exp.Literal) and not node.is_int)


def _typed_group_constants(node: exp.Expr) -> exp.Expr:
    # PostgreSQL refuses a constant other than an integer (a position) in GROUP BY; a cast of it
    # is an expression, grouping every row together as DuckDB's constant key does.
    for key in list(node.expressions):
        if _bare_constant(key):
            to = "TEXT" if isinstance(key, exp.Literal) and key.is_string else (
                "BOOLEAN" if isinstance(key, exp.Boolean) else "DOUBLE PRECISION" if isinstance(key, exp.Literal)
                else "INT")
            key.replace(_cast(key.copy(), to))
    return node


def faithful(tree: exp.Expr) -> exp.Expr:
    """``tree`` rendered to mean in PostgreSQL what it means in the mesh dialect."""
    # Decide on the annotated tree first, then rewrite children before parents: a rewrite sees
    # its children's rewritten forms, never has to type them again.
    planned = [(node, rewrite) for node in tree.walk() if (rewrite := _rewrite_for(node)) is not None]
    for node, rewrite in reversed(planned):
        parent, key, index = node.parent, node.arg_key, node.index
        replacement = rewrite(node)
        if replacement is node:
            continue
        if parent is None or key is None:
            tree = replacement
        elif index is None:
            parent.set(key, replacement)
        else:
            siblings = list(parent.args[key])
            siblings[index] = replacement
            parent.set(key, siblings)
    return tree
