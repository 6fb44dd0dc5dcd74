"""Where SQLite computes something other than the mesh dialect (DuckDB SQL) means.

``DIFFERENCES`` are the typed nodes a fragment for SQLite must leave to the residual;
``faithful`` rewrites a fragment so SQLite computes the mesh's meaning where a plain rendering
would not. Each entry is verified on the real engine (tests/connectors/test_semantics_sqlite.py).

What SQLite stores decides most of it. Values are typed per row, not per column: a DECIMAL is a
REAL (an INTEGER when it is integral), a BOOLEAN is 0/1, dates and timestamps are ISO text. The
connector casts every result to the type the mesh dialect gives it (``typed_results=False``), so
a value that is right but typed otherwise comes back right; what must never be pushed is an
expression whose *value* differs: text made from a REAL (``'12.3'`` for DECIMAL 12.30), double
arithmetic standing in for exact decimals (``0.06 + 0.01 <> 0.07``), date arithmetic on text.

String comparison, ORDER BY, GROUP BY, DISTINCT, min/max and joins on strings: SQLite's BINARY
collation compares UTF-8 bytes, which orders by code point like DuckDB, with no case folding and
no trailing-space padding. It is the default, but a column may be declared ``COLLATE NOCASE``, so
the rendering says ``COLLATE BINARY`` wherever a string column is compared.

LIKE is case-insensitive for ASCII in SQLite. A LIKE with a literal pattern is rendered as GLOB,
SQLite's case-sensitive matcher, with the pattern translated (``%`` -> ``*``, ``_`` -> ``?``, the
GLOB metacharacters bracketed); any other LIKE stays in the residual.

The other renderings: ``//`` of integers as SQLite's integer ``/`` (exact above 2^53), ``/`` with
its numerator cast to REAL (an integral DECIMAL is an INTEGER), CAST(integer AS BOOLEAN) as
``x <> 0``, year()/month()/... of a DATE or TIMESTAMP with strftime(), and every DOUBLE or DECIMAL
output cast to REAL (the driver types a column by its first batch of values).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from .base import Difference
from .typed import BOOLEAN, FLOATS, INTEGERS, STRINGS, TEMPORALS, is_kind, kind_of, may_be

__all__ = ["DIFFERENCES", "faithful", "glob_pattern"]

_DECIMAL = frozenset({DType.DECIMAL})
_DATE = frozenset({DType.DATE})
_TIMESTAMPS = TEMPORALS - {DType.DATE, DType.TIME}
_NULL = frozenset({DType.NULL})
# Integer types by width: a cast to a narrower one fails in DuckDB when the value does not fit,
# while SQLite keeps the 64-bit value (and the result cast would wrap it).
_WIDTH = {DType.TINYINT: 1, DType.UTINYINT: 1, DType.SMALLINT: 2, DType.USMALLINT: 2, DType.INT: 4,
          DType.UINT: 4, DType.BIGINT: 8, DType.UBIGINT: 8, DType.INT128: 16}
# The canonical ISO forms SQLite's DATE()/DATETIME() keep unchanged, fraction-free.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")


# -- LIKE as GLOB ----------------------------------------------------------------------------


def glob_pattern(like: exp.Like) -> str | None:
    """The GLOB pattern matching exactly what ``like`` matches in the mesh dialect, or None.

    Only a literal pattern (and a literal one-character ESCAPE) can be translated; DuckDB's LIKE
    has no escape character unless one is given, like SQLite's.
    """
    pattern = like.expression
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return None
    escape: str | None = None
    parent = like.parent
    if isinstance(parent, exp.Escape) and parent.this is like:
        marker = parent.expression
        if not (isinstance(marker, exp.Literal) and marker.is_string and len(marker.name) == 1):
            return None
        escape = marker.name
    translated: list[str] = []
    characters = iter(pattern.name)
    for character in characters:
        if character == escape:
            escaped = next(characters, None)
            if escaped is None:
                return None  # DuckDB refuses a pattern ending in its escape character
            translated.append(_glob_literal(escaped))
        elif character == "%":
            translated.append("*")
        elif character == "_":
            translated.append("?")
        else:
            translated.append(_glob_literal(character))
    return "".join(translated)


def _glob_literal(character: str) -> str:
    # Inside brackets GLOB's metacharacters stand for themselves.
    return f"[{character}]" if character in "*?[" else character


def _like_differs(node: exp.Expr) -> bool:
    assert isinstance(node, exp.Like)
    # DuckDB turns a non-string subject into its own text form (DECIMAL 12.30 -> '12.30'),
    # SQLite into its stored value's ('12.3'); integers read the same in both.
    return glob_pattern(node) is None or not is_kind(node.this, STRINGS | INTEGERS)


def _as_glob(node: exp.Expr) -> exp.Expr:
    like = node.this if isinstance(node, exp.Escape) else node
    if not isinstance(like, exp.Like):
        return node
    pattern = glob_pattern(like)
    if pattern is None:  # refused by DIFFERENCES already; never rendered as a plain LIKE
        raise ValueError("a LIKE reached the SQLite rendering without an exact GLOB translation")
    glob: exp.Expr = exp.Glob(this=like.this, expression=exp.Literal.string(pattern))
    if like.args.get("negate"):
        glob = exp.Not(this=exp.Paren(this=glob))
    return glob


# -- arithmetic --------------------------------------------------------------------------------


def _nonzero_literal(node: exp.Expr | None) -> bool:
    while isinstance(node, (exp.Neg, exp.Paren)):
        node = node.this
    if not (isinstance(node, exp.Literal) and not node.is_string):
        return False
    try:
        return float(node.name) != 0
    except ValueError:
        return False


def _division_differs(node: exp.Expr) -> bool:
    # x / 0 is NULL in SQLite; DuckDB answers +-inf or NaN (``/``) or raises (``//``, ``%``).
    return not _nonzero_literal(node.args.get("expression"))


def _integer_division_differs(node: exp.Expr) -> bool:
    # SQLite's % truncates non-integers to integers (7.5 % 2 = 1); DuckDB's // on a double is
    # a float division. On integers both truncate toward zero, as does SQLite's integer ``/``.
    sides = (node.args.get("this"), node.args.get("expression"))
    return _division_differs(node) or not all(is_kind(side, INTEGERS) for side in sides)


def _decimal_or_temporal(node: exp.Expr) -> bool:
    # Decimals are REALs in SQLite: 0.06 + 0.01 is 0.06999999999999999 there, exactly 0.07 in
    # DuckDB, and a comparison flips. Dates are text: '2020-03-01' - '2020-01-01' is 0.
    return any(may_be(side, _DECIMAL | TEMPORALS | {DType.INTERVAL})
               for side in (node.args.get("this"), node.args.get("expression")))


def _multiplies_decimals(node: exp.Expr) -> bool:
    return any(may_be(side, _DECIMAL) for side in (node.args.get("this"), node.args.get("expression")))


def _round_differs(node: exp.Expr) -> bool:
    # SQLite rounds REALs by its own printf algorithm and ignores negative digits
    # (round(15, -1) is 15, not 20); DuckDB rounds decimals exactly. Integers are safe.
    digits = node.args.get("decimals")
    if digits is not None and not (isinstance(digits, exp.Literal) and digits.is_int):
        return True
    return not is_kind(node.this, INTEGERS)


def _fractional_power(node: exp.Expr) -> bool:
    # A negative base to a fractional power is NaN in DuckDB, NULL in SQLite.
    exponent = node.args.get("expression")
    while isinstance(exponent, exp.Neg):
        exponent = exponent.this
    return not (isinstance(exponent, exp.Literal) and exponent.is_int)


def _sums_decimals(node: exp.Expr) -> bool:
    # A sum of REALs is not DuckDB's exact DECIMAL sum: HAVING sum(x) = 0.3 over 0.1 and 0.2.
    return may_be(node.this, _DECIMAL)


# -- casts -------------------------------------------------------------------------------------


def _cast_differs(node: exp.Expr) -> bool:
    assert isinstance(node, exp.Cast)
    target = node.to.this
    source = node.this
    kind = kind_of(source)
    if kind == DType.NULL:
        return False
    if target in STRINGS:
        # Text of a REAL, a 0/1 boolean or a stored timestamp is not DuckDB's text
        # ('12.3' for 12.30, '1' for true, '...00.500000' for '...00.5').
        return kind not in STRINGS | INTEGERS | _DATE
    if target in _WIDTH:
        # SQLite truncates (CAST(2.50 AS INTEGER) = 2), DuckDB rounds (3), and parses text its
        # own way ('12.5' is 12 and 'abc' is 0 in SQLite, 13 and an error in DuckDB).
        return kind not in INTEGERS | BOOLEAN or _WIDTH.get(kind, 1) > _WIDTH[target]
    if target in BOOLEAN:
        return kind not in INTEGERS | BOOLEAN  # CAST('true' AS INTEGER) is 0 in SQLite
    if target == DType.DOUBLE:
        return kind not in INTEGERS | BOOLEAN | FLOATS | _DECIMAL  # CAST('abc' AS REAL) is 0.0
    if target == DType.DATE:
        # DATE() of ISO text is exact; of any other text it is NULL where DuckDB parses or fails.
        if kind in _DATE | _TIMESTAMPS:
            return False
        return not (isinstance(source, exp.Literal) and source.is_string and _ISO_DATE.match(source.name))
    if target in _TIMESTAMPS:
        # DATETIME() drops the fraction of a second: TIMESTAMP '2020-01-01 10:00:00.5' loses .5.
        if kind in _DATE:
            return False
        return not (isinstance(source, exp.Literal) and source.is_string and _ISO_TIMESTAMP.match(source.name))
    # DECIMAL(p, s) becomes a REAL: no rounding to s places, no overflow error, and integers
    # above 2^53 lose digits. FLOAT stays a 64-bit REAL (CAST(0.1 AS FLOAT) = 0.1 is true in
    # SQLite, false in DuckDB). TIME and the rest are not rendered faithfully either.
    return True


# -- comparisons and text ---------------------------------------------------------------------


def _compares_date_with_timestamp(node: exp.Expr) -> bool:
    # '2020-01-31' < '2020-01-31 00:00:00' as text; equal as DATE and TIMESTAMP in DuckDB.
    sides = [node.args.get(key) for key in ("this", "expression", "low", "high")]
    kinds = {kind_of(side) for side in sides if side is not None}
    return bool(kinds & _DATE) and bool(kinds & (_TIMESTAMPS | {None}))


_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


def _text_stands_for(kind: DType | None, text: str) -> bool:
    """Does SQLite compare ``text`` with a value of ``kind`` as DuckDB compares the cast literal?

    DuckDB casts the literal to the other side's type ('abc' is an error for an INTEGER, '12.5'
    rounds to 13, '0.295' to 0.30 for a DECIMAL(10,2)); SQLite compares the text by affinity,
    or as text with dates. Only literals both read alike are pushed.
    """
    if kind is None or kind in STRINGS:
        return kind is not None
    if kind in INTEGERS:
        return bool(_INTEGER_TEXT.match(text))
    if kind in _DATE:
        return bool(_ISO_DATE.match(text))
    if kind in _TIMESTAMPS:
        return bool(_ISO_TIMESTAMP.match(text))
    return False


def _compares_text_literal(node: exp.Expr) -> bool:
    if isinstance(node, exp.In):
        subject, others = node.this, list(node.expressions)
    elif isinstance(node, exp.Between):
        subject, others = node.this, [node.args.get("low"), node.args.get("high")]
    else:
        subject, others = node.args.get("this"), [node.args.get("expression")]
    sides = [subject, *others]
    for position, side in enumerate(sides):
        if isinstance(side, exp.Literal) and side.is_string:
            # The literal is read as the type of what it is compared with: the subject, or for
            # the subject itself (a literal on the left), the first other side.
            against = subject if position else next((other for other in others if other is not None), None)
            if against is not None and not (isinstance(against, exp.Literal) and against.is_string) \
                    and not _text_stands_for(kind_of(against), side.name):
                return True
    return False


def _concat_differs(node: exp.Expr) -> bool:
    # DuckDB concatenates its own text forms: 'x' || 12.30 is 'x12.30', concat('x', true) 'xtrue'.
    return any(not is_kind(argument, STRINGS | INTEGERS | _NULL) and not isinstance(argument, exp.Null)
               for argument in node.iter_expressions())


def _distinct_with_separator(node: exp.Expr) -> bool:
    # GROUP_CONCAT(DISTINCT x, ',') is an error in SQLite: DISTINCT aggregates take one argument
    # (also under an ORDER BY: string_agg(DISTINCT x, ',' ORDER BY x) parses as Order(Distinct)).
    argument = node.this.this if isinstance(node.this, exp.Order) else node.this
    return isinstance(argument, exp.Distinct) and node.args.get("separator") is not None


# Date parts SQLite's strftime() gives as DuckDB's functions do, over ISO text dates and times.
_STRFTIME: dict[type[exp.Expr], str] = {exp.Year: "%Y", exp.Month: "%m", exp.Day: "%d", exp.DayOfMonth: "%d",
                                        exp.DayOfYear: "%j", exp.Hour: "%H", exp.Minute: "%M", exp.Second: "%S"}
_STRFTIME_PARTS = (*_STRFTIME, exp.Quarter)


def _date_part(node: exp.Expr) -> exp.Expr:
    """year(d) as CAST(strftime('%Y', d) AS INTEGER), quarter as (month + 2) / 3 (integers)."""
    part = exp.Literal.string(_STRFTIME.get(type(node), "%m"))
    number: exp.Expr = exp.cast(exp.Anonymous(this="STRFTIME", expressions=[part, node.this]), exp.DType.BIGINT)
    if isinstance(node, exp.Quarter):
        number = exp.Div(this=exp.Paren(this=exp.Add(this=number, expression=exp.Literal.number(2))),
                         expression=exp.Literal.number(3), typed=True)
    return exp.Paren(this=number)


def _always(reason: str, *kinds: type[exp.Expr]) -> tuple[Difference, ...]:
    return tuple(Difference(kind, reason) for kind in kinds)


def _each(reason: str, when: Callable[[exp.Expr], bool], *kinds: type[exp.Expr]) -> tuple[Difference, ...]:
    return tuple(Difference(kind, reason, when) for kind in kinds)


DIFFERENCES: tuple[Difference, ...] = (
    Difference(exp.Like, "SQLite's LIKE folds ASCII case; only a literal pattern over text is rendered "
               "exactly (as GLOB)", _like_differs),
    *_always("SQLite has no ILIKE, and lower() folds ASCII only ('É' ILIKE 'é' is true in DuckDB)", exp.ILike),
    *_always("SQLite's upper()/lower() fold ASCII only (upper('straße') is 'STRAẞE' in DuckDB)",
             exp.Upper, exp.Lower),
    Difference(exp.Div, "x / 0 is NULL in SQLite, +-inf or NaN in DuckDB", _division_differs),
    *_each("SQLite's % truncates to integers, and x % 0 / x // 0 are NULL where DuckDB raises",
           _integer_division_differs, exp.IntDiv, exp.Mod),
    *_each("decimals are REALs in SQLite (inexact), dates are text", _decimal_or_temporal, exp.Add, exp.Sub),
    Difference(exp.Mul, "decimals are REALs in SQLite: the product is inexact", _multiplies_decimals),
    Difference(exp.Sum, "decimals are REALs in SQLite: the sum is inexact", _sums_decimals),
    Difference(exp.Round, "SQLite rounds REALs by printf, ignores negative digits", _round_differs),
    *_always("outside their domain SQLite's math functions answer NULL, DuckDB's NaN or -inf "
             "(sqrt(-1), ln(0), asin(2))", exp.Sqrt, exp.Ln, exp.Log, exp.Acos, exp.Asin),
    Difference(exp.Pow, "a negative base to a fractional power is NULL in SQLite, NaN in DuckDB", _fractional_power),
    *_always("SQLite has no such function (the fragment would not compile)", exp.Cot, exp.Skewness, exp.Kurtosis,
             exp.RegrSlope, exp.RegrIntercept, exp.RegrR2, exp.RegrCount, exp.IsInf, exp.BitLength, exp.Ascii,
             exp.Translate, exp.SHA, exp.SHA2, exp.Week, exp.DayOfWeekIso, exp.Dayname,
             exp.Monthname, exp.UnixToTime, exp.TimeToUnix, exp.StrToTime, exp.StrToDate,
             exp.BitwiseXor),  # rendered as ^, which SQLite lacks
    *_each("SQLite has no year(), month(), ...: rendered with strftime() only over a DATE or TIMESTAMP",
           lambda node: not is_kind(node.this, _DATE | _TIMESTAMPS), *_STRFTIME_PARTS),
    *_always("SQLite's hex() and unicode() answer '' and NULL where DuckDB answers NULL and -1, and hex() of "
             "a number is the hex of its text", exp.Hex, exp.Unicode),
    Difference(exp.BitwiseLeftShift, "DuckDB raises for a negative number or an overflow shifted left, SQLite "
               "answers"),
    Difference(exp.Cast, "SQLite casts by its affinity rules (truncation, text of REALs, DATETIME() "
               "dropping fractions)", _cast_differs),
    *_each("DATE and TIMESTAMP are text in SQLite: a date sorts before its midnight",
           _compares_date_with_timestamp, exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Between),
    *_each("DuckDB casts a text literal to the type it is compared with (an error for 'abc' against an "
           "INTEGER); SQLite compares by affinity", _compares_text_literal,
           exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Between, exp.In),
    *_each("SQLite's text of a REAL or boolean is not DuckDB's", _concat_differs, exp.Concat, exp.DPipe),
    Difference(exp.GroupConcat, "GROUP_CONCAT(DISTINCT x, sep) is an error in SQLite", _distinct_with_separator),
    *_always("SQLite has no intervals or month arithmetic matching DuckDB's (date('2020-01-31', "
             "'+1 month') is March 2)", exp.Interval, exp.LastDay, exp.DateAdd, exp.DateSub, exp.TsOrDsAdd,
             exp.TimestampAdd, exp.TimestampSub, exp.DatetimeAdd, exp.DatetimeSub, exp.TimeAdd, exp.TimeSub),
)


def _faithful_node(node: exp.Expr) -> exp.Expr:
    if isinstance(node, (exp.Like, exp.Escape)):
        return _as_glob(node)
    if isinstance(node, exp.Cast) and node.to.this in BOOLEAN:
        # From an integer or a boolean (DIFFERENCES saw to it). sqlglot's CAST(x AS INTEGER)
        # keeps 0, 1, 2 apart until the connector makes booleans of them: DISTINCT, GROUP BY and
        # comparisons see three values where DuckDB sees two.
        if is_kind(node.this, BOOLEAN):
            return exp.Paren(this=node.this)
        return exp.Paren(this=exp.NEQ(this=node.this, expression=exp.Literal.number(0)))
    if isinstance(node, _STRFTIME_PARTS):
        return _date_part(node)
    if isinstance(node, exp.IntDiv):
        # Both integers (DIFFERENCES saw to it): SQLite's integer division truncates like
        # DuckDB's //, exactly, where sqlglot's CAST(CAST(a AS REAL) / b AS INTEGER) loses
        # integers above 2^53.
        return exp.Div(this=node.left, expression=node.right, typed=True)
    if isinstance(node, exp.Div) and not node.args.get("typed") and not is_kind(node.left, FLOATS):
        # DuckDB's / divides as doubles; SQLite's divides integers, and integral DECIMALs are
        # stored as INTEGER. sqlglot casts only when it sees no decimal operand.
        node.set("this", exp.cast(node.left, exp.DType.DOUBLE))
    return node


def _output_selects(tree: exp.Expr) -> list[exp.Select]:
    if isinstance(tree, exp.SetOperation):
        return _output_selects(tree.left) + _output_selects(tree.right)
    if isinstance(tree, exp.Subquery):
        return _output_selects(tree.this)
    return [tree] if isinstance(tree, exp.Select) else []


def _real_outputs(tree: exp.Expr) -> None:
    """Every DOUBLE or DECIMAL output column cast to REAL, so its values arrive as one type.

    The driver types a column by the values of its first batch: a DECIMAL whose first 65,536
    values are integral (SQLite keeps 3.00 as INTEGER), or a COALESCE(x, 0) over leading NULLs,
    is typed int64, and the first REAL after it fails the stream ("Type mismatch in column").
    """
    for select in _output_selects(tree):
        for projection in select.expressions:
            value = projection.this if isinstance(projection, exp.Alias) else projection
            if not is_kind(value, FLOATS | _DECIMAL) or isinstance(value, exp.Star):
                continue
            real = exp.cast(value.copy(), exp.DType.DOUBLE)
            if isinstance(projection, exp.Alias):
                projection.set("this", real)
            else:
                projection.replace(exp.alias_(real, projection.alias_or_name, quoted=True))


def _free_projection(column: exp.Column, outputs: list[exp.Select], plain: bool) -> bool:
    """Is ``column`` an output of the fragment whose collation no comparison reads?

    The outermost SELECT's outputs are compared by nothing in SQLite unless it de-duplicates them
    (DISTINCT, or a set operation); its ORDER BY terms are collated themselves.
    """
    holder = column.parent.parent if isinstance(column.parent, exp.Alias) else column.parent
    owner = column.parent if isinstance(column.parent, exp.Alias) else column
    return (plain and isinstance(holder, exp.Select) and owner.arg_key == "expressions"
            and any(holder is output for output in outputs) and not holder.args.get("distinct"))


def _binary_collation(tree: exp.Expr) -> None:
    """String columns compared, grouped, ordered or de-duplicated as ``x COLLATE BINARY``.

    SQLite's default collation is DuckDB's byte order, but an application may have declared a
    column ``COLLATE NOCASE`` (or RTRIM): then =, IN, GROUP BY, DISTINCT, min/max and joins on it
    fold case. An explicit BINARY wins over the declared collation, and costs nothing where there
    is none: an index on the column still serves it, and numbers ignore collations.
    """
    outputs = _output_selects(tree)
    plain = isinstance(tree, exp.Select)
    for column in list(tree.find_all(exp.Column)):
        if isinstance(column.this, exp.Star) or isinstance(column.parent, (exp.Collate, exp.Glob)):
            continue
        if kind_of(column) is not None and not is_kind(column, STRINGS):
            continue
        if _free_projection(column, outputs, plain):
            continue
        collated = exp.Collate(this=column.copy(), expression=exp.var("BINARY"))
        if isinstance(column.parent, exp.Select) and column.arg_key == "expressions":
            # A bare output keeps its name: a derived table's column is read by it.
            column.replace(exp.alias_(collated, column.name, quoted=True))
        else:
            column.replace(collated)


def faithful(tree: exp.Expr) -> exp.Expr:
    """``tree`` rendered to mean in SQLite what it means in the mesh dialect."""
    tree = tree.transform(_faithful_node, copy=False)
    _real_outputs(tree)
    _binary_collation(tree)
    return tree
