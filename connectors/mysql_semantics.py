"""Where MariaDB/MySQL computes something other than the mesh dialect (DuckDB SQL) means.

``DIFFERENCES`` are the typed nodes a fragment for MariaDB/MySQL must leave to the residual;
``faithful`` rewrites a fragment so MariaDB/MySQL computes the mesh's meaning where a plain rendering
would not. Each entry is verified on the real engine (tests/connectors/test_semantics_mysql.py):
a test runs the plain rendering on MariaDB and shows DuckDB answers otherwise.

Found on MariaDB 10.11 against DuckDB 2.0:

- string comparisons follow the column's collation: ``mysql_collation`` makes them exact;
- LIKE treats ``\\`` as an escape character even without ESCAPE (DuckDB has none): doubled;
- ``GREATEST``/``LEAST`` answer NULL when any argument is NULL (DuckDB skips NULLs): each argument
  becomes ``COALESCE(itself, the others...)``, NULL only when all are;
- ``CAST(x AS DATETIME)`` and ``CAST(x AS TIME)`` drop the fraction of a second: precision 6;
- ``CAST(boolean AS CHAR)`` gives '1'/'0' (DuckDB 'true'/'false'): a CASE;
- ``CAST(number AS BOOLEAN)`` becomes CAST AS SIGNED (0.1 is false, 2 is not 1): ``number <> 0``;
- ``CEIL``/``FLOOR`` of a DECIMAL are integers (BIGINT under MIN/MAX): cast to DECIMAL(p, 0);
- ``x / y`` on exact numbers is a DECIMAL rounded to ``div_precision_increment`` digits (DuckDB: a
  DOUBLE): the dividend is cast to DOUBLE.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from .base import Difference
from .mysql_coercion import comparison_may_differ
from .mysql_collation import exact, exact_strings
from .typed import BOOLEAN, FLOATS, INTEGERS, NUMBERS, STRINGS, TEMPORALS, is_kind, kind_of, may_be

__all__ = ["DIFFERENCES", "faithful"]

# EXTRACT fields MariaDB computes as DuckDB does. EPOCH becomes UNIX_TIMESTAMP (NULL before 1970,
# the session's zone), DOW/ISODOW/DOY do not exist, WEEK counts from Sunday (mode 0), MICROSECOND
# and MILLISECOND are only the fraction (DuckDB counts the seconds in).
_SAME_EXTRACT_FIELDS = frozenset({"YEAR", "QUARTER", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"})
_INTERVALS = frozenset({DType.INTERVAL})
_DECIMALS = frozenset({DType.DECIMAL})
# What sqlglot renders as DATETIME for MariaDB (whole seconds unless given a precision).
_TIMESTAMPS = frozenset({DType.TIMESTAMP, DType.TIMESTAMPNTZ, DType.DATETIME})


def _nonzero_number(node: exp.Expr) -> bool:
    if isinstance(node, exp.Neg):
        return _nonzero_number(node.this)
    if isinstance(node, exp.Paren):
        return _nonzero_number(node.this)
    return isinstance(node, exp.Literal) and not node.is_string and float(node.name) != 0


def _division_may_differ(node: exp.Expr) -> bool:
    # x / 0 is +-inf or NaN in DuckDB (a DOUBLE division); MariaDB has no such values: NULL.
    return not _nonzero_number(node.expression)


def _integer_division_may_differ(node: exp.Expr) -> bool:
    # DuckDB's // is a truncating integer division on integers only; on DOUBLE and DECIMAL it is
    # a plain division (7.5 // 2 = 3.75), where MariaDB's DIV still truncates. By zero: DuckDB
    # raises, MariaDB answers NULL (x % 0 too: see _division_may_differ).
    return _division_may_differ(node) or not all(is_kind(side, INTEGERS) for side in (node.this, node.expression))


def _date_diff_may_differ(node: exp.Expr) -> bool:
    # date_diff('month', a, b) counts month boundaries in DuckDB; sqlglot renders DATEDIFF(b, a),
    # which counts days whatever the unit.
    unit = node.args.get("unit")
    return unit is not None and unit.name.upper() not in ("DAY", "DAYS")


def _string_to_boolean(node: exp.Expr) -> bool:
    # Numbers become booleans faithfully (``_boolean_cast``); strings would be CAST AS SIGNED.
    return _target(node) == DType.BOOLEAN and not is_kind(node.this, NUMBERS | BOOLEAN)


def _extract_may_differ(node: exp.Expr) -> bool:
    return node.this.name.upper() not in _SAME_EXTRACT_FIELDS


def _round_may_differ(node: exp.Expr) -> bool:
    # MariaDB rounds a DOUBLE half to even (round(2.5e0) = 2), DuckDB half away from zero (3).
    return may_be(node.this, FLOATS)


def _substring_may_differ(node: exp.Expr) -> bool:
    # A start <= 0 counts from the end in MariaDB and gives '' when it passes the beginning;
    # DuckDB clamps it (substr('ab', -3) = 'ab'). A negative length: '' in MariaDB, the
    # characters before the start in DuckDB.
    start, length = node.args.get("start"), node.args.get("length")
    start_ok = isinstance(start, exp.Literal) and start.is_int and int(start.name) >= 1
    length_ok = length is None or (isinstance(length, exp.Literal) and length.is_int and int(length.name) >= 0)
    return not (start_ok and length_ok)


def _date_arithmetic(node: exp.Expr) -> bool:
    # date - 1 is a number in MariaDB (20240228), a DATE in DuckDB; date - date a number of days
    # in DuckDB, a difference of YYYYMMDD numbers in MariaDB.
    return any(is_kind(side, TEMPORALS | _INTERVALS) or
               (kind_of(side) is None and not isinstance(side, exp.Literal))
               for side in (node.this, node.expression))


def _target(node: exp.Expr) -> DType | None:
    """The type a CAST converts to."""
    to = node.args.get("to")
    return to.this if isinstance(to, exp.DataType) else None


def _text_cast_may_differ(node: exp.Expr) -> bool:
    # To text, MariaDB spells DOUBLEs its own way ('3' for 3.0, '1e20' for 1e+20, '0' for -0.0)
    # and TIMESTAMPs with six fraction digits ('...59.500000' for DuckDB's '...59.5').
    if _target(node) not in STRINGS:
        return False
    source = node.this
    return kind_of(source) is None or is_kind(source, FLOATS | (TEMPORALS - {DType.DATE}))


def _concat_may_differ(node: exp.Expr) -> bool:
    # Concatenation turns its arguments into text as a cast would: booleans give '1', doubles '3'.
    return any(kind_of(part) is None or is_kind(part, FLOATS | BOOLEAN | (TEMPORALS - {DType.DATE}))
               for part in node.iter_expressions() if not isinstance(part, exp.Literal))


def _positive_number(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and float(node.name) > 0


def _outside_domain_may_differ(node: exp.Expr) -> bool:
    # sqrt(-1), ln(0), acos(2), cot(0): NaN or +-inf in DuckDB; MariaDB has neither and answers NULL.
    return not all(_positive_number(argument) for argument in node.iter_expressions())


def _power_may_differ(node: exp.Expr) -> bool:
    # power(-8, 0.5) is NaN in DuckDB, NULL in MariaDB; an integer exponent is defined everywhere.
    exponent = node.expression
    return not (isinstance(exponent, exp.Literal) and exponent.is_int)


def _end_length_may_differ(node: exp.Expr) -> bool:
    # left(s, -1) is all but the last character in DuckDB, '' in MariaDB.
    length = node.expression
    return not (isinstance(length, exp.Literal) and length.is_int and int(length.name) >= 0)


def _trim_characters_may_differ(node: exp.Expr) -> bool:
    # trim(s, 'ab') removes any of 'a' and 'b' in DuckDB; MariaDB removes the string 'ab' repeated.
    characters = node.args.get("expression")
    return characters is not None and not (isinstance(characters, exp.Literal) and len(characters.name) == 1)


def _non_ascii_code_may_differ(node: exp.Expr) -> bool:
    # chr(223) is 'ß' in DuckDB, the byte 0xDF in MariaDB (not UTF-8); code points below 128 agree.
    codes = node.expressions
    return not all(isinstance(code, exp.Literal) and code.is_int and 0 <= int(code.name) < 128 for code in codes)


def _full_join(node: exp.Expr) -> bool:
    return isinstance(node, exp.Join) and (node.side or "").upper() == "FULL"


DIFFERENCES: tuple[Difference, ...] = (
    Difference(exp.Join, "no FULL JOIN: sqlglot's LEFT JOIN UNION ALL rewrite repeats a global aggregate "
               "and a projection over it", _full_join),
    *(Difference(kind, "a string compared with a number, date or boolean: converted silently (DuckDB casts, "
                 "or raises)", comparison_may_differ)
      for kind in (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.In,
                   exp.Between)),
    Difference(exp.Div, "division by zero is NULL, not +-inf or NaN", _division_may_differ),
    Difference(exp.Mod, "a remainder by zero is NULL (DuckDB: NaN for DOUBLEs, an error otherwise)",
               _division_may_differ),
    Difference(exp.IntDiv, "DIV truncates DOUBLE and DECIMAL operands (DuckDB's // divides them); by zero "
               "NULL, not an error", _integer_division_may_differ),
    Difference(exp.DateDiff, "DATEDIFF counts days whatever the unit", _date_diff_may_differ),
    Difference(exp.Cast, "a string cast to BOOLEAN is 0 unless it reads as a number ('t', 'true': 0)",
               _string_to_boolean),
    Difference(exp.Extract, "EPOCH, DOW, DOY, WEEK, MICROSECOND... differ or do not exist", _extract_may_differ),
    Difference(exp.Round, "a DOUBLE is rounded half to even", _round_may_differ),
    Difference(exp.Substring, "a start before the first character is not clamped", _substring_may_differ),
    Difference(exp.Sub, "date arithmetic on YYYYMMDD numbers", _date_arithmetic),
    Difference(exp.Add, "date arithmetic on YYYYMMDD numbers", _date_arithmetic),
    Difference(exp.Cast, "DOUBLE and TIMESTAMP values spelt differently as text", _text_cast_may_differ),
    Difference(exp.DPipe, "booleans, DOUBLEs and TIMESTAMPs spelt differently as text", _concat_may_differ),
    Difference(exp.Concat, "booleans, DOUBLEs and TIMESTAMPs spelt differently as text", _concat_may_differ),
    Difference(exp.Left, "a negative length gives ''", _end_length_may_differ),
    Difference(exp.Right, "a negative length gives ''", _end_length_may_differ),
    Difference(exp.Trim, "trims the characters given as one string, repeated", _trim_characters_may_differ),
    Difference(exp.Sqrt, "NULL outside the domain, not NaN or +-inf", _outside_domain_may_differ),
    Difference(exp.Ln, "NULL outside the domain, not NaN or +-inf", _outside_domain_may_differ),
    Difference(exp.Log, "NULL outside the domain, not NaN or +-inf", _outside_domain_may_differ),
    Difference(exp.Acos, "NULL outside the domain, not NaN", _outside_domain_may_differ),
    Difference(exp.Asin, "NULL outside the domain, not NaN", _outside_domain_may_differ),
    Difference(exp.Cot, "NULL at zero, not +-inf", _outside_domain_may_differ),
    Difference(exp.Pow, "NULL for a negative base and a fractional exponent, not NaN", _power_may_differ),
    Difference(exp.Ascii, "the first byte, not the first character's code point"),
    Difference(exp.Chr, "a code point above 127 gives one byte, not the character", _non_ascii_code_may_differ),
    Difference(exp.Factorial, "no FACTORIAL"),
    Difference(exp.IsInf, "no IS_INF (and no infinities)"),
    Difference(exp.BitwiseNot, "bit operations on unsigned 64-bit integers (~0 is 18446744073709551615)"),
    Difference(exp.BitwiseAnd, "bit operations on unsigned 64-bit integers"),
    Difference(exp.BitwiseOr, "bit operations on unsigned 64-bit integers"),
    Difference(exp.BitwiseXor, "bit operations on unsigned 64-bit integers"),
    Difference(exp.BitwiseLeftShift, "bit operations on unsigned 64-bit integers"),
    Difference(exp.BitwiseRightShift, "bit operations on unsigned 64-bit integers"),
    Difference(exp.Upper, "case mapping of some letters (upper('ß') is 'ẞ' in DuckDB)"),
    Difference(exp.Lower, "case mapping of some letters (lower('ẞ') is 'ß' in DuckDB)"),
    Difference(exp.ILike, "case folding through LOWER differs for some letters"),
)


def _like_pattern(node: exp.Like) -> None:
    """A backslash in the pattern is a plain character, as in DuckDB (MariaDB: an escape)."""
    if isinstance(node.parent, exp.Escape):
        return  # an explicit ESCAPE replaces the backslash in MariaDB too
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        if "\\" in pattern.name:
            node.set("expression", exp.Literal.string(pattern.name.replace("\\", "\\\\")))
    elif not isinstance(pattern, exp.Null):
        node.set("expression", exp.Replace(this=pattern, expression=exp.Literal.string("\\"),
                                           replacement=exp.Literal.string("\\\\")))


def _ignoring_nulls(node: exp.Greatest | exp.Least) -> None:
    """GREATEST(a, b, c) skipping NULLs: GREATEST(COALESCE(a, b, c), COALESCE(b, a, c), ...)."""
    arguments = [node.this, *node.expressions]
    strings = any(is_kind(argument, STRINGS) for argument in arguments)
    rewritten = []
    for index, argument in enumerate(arguments):
        others = [other.copy() for position, other in enumerate(arguments) if position != index]
        value: exp.Expr = exp.Coalesce(this=argument, expressions=others) if others else argument
        value.type = argument.type
        rewritten.append(exact(value) if strings else value)
    node.set("this", rewritten[0])
    node.set("expressions", rewritten[1:])
    node.set("ignore_nulls", None)


def _boolean_text(node: exp.Cast) -> None:
    """CAST(b AS VARCHAR) spelt 'true'/'false', as DuckDB does (MariaDB: '1'/'0')."""
    value = node.this
    case = exp.Case(ifs=[exp.If(this=value.copy(), true=exp.Literal.string("true")),
                         exp.If(this=exp.Not(this=value.copy()), true=exp.Literal.string("false"))])
    case.type = node.type
    node.replace(case)


def _boolean_cast(node: exp.Cast) -> None:
    """CAST(number AS BOOLEAN) as ``number <> 0`` (sqlglot's CAST AS SIGNED truncates 0.1 to 0 and
    keeps 2 apart from 1, so DISTINCT and GROUP BY see more values than true and false)."""
    comparison = exp.Paren(this=exp.NEQ(this=node.this, expression=exp.Literal.number(0)))
    comparison.type = exp.DataType(this=DType.BOOLEAN)
    node.replace(comparison)


def _fractional_cast(node: exp.Cast, target: DType) -> None:
    """CAST(x AS TIMESTAMP / TIME) keeps microseconds: DATETIME(6) / TIME(6), not whole seconds."""
    kind = DType.TIME if target == DType.TIME else DType.DATETIME
    node.set("to", exp.DataType(this=kind, expressions=[exp.DataTypeParam(this=exp.Literal.number(6))]))


def _decimal_ceiling(node: exp.Ceil | exp.Floor) -> None:
    """CEIL/FLOOR of DECIMAL(p, s) is DECIMAL(p, 0) in DuckDB; MariaDB gives an integer, a BIGINT
    under MIN/MAX, which does not convert to the declared DECIMAL(p, 0) (more digits): cast it."""
    argument_type = node.this.type
    parameters = argument_type.expressions if argument_type is not None else []
    precision = parameters[0].this.name if parameters else "18"  # DuckDB's default DECIMAL(18, 3)
    target = exp.DataType(this=DType.DECIMAL, expressions=[
        exp.DataTypeParam(this=exp.Literal.number(precision)), exp.DataTypeParam(this=exp.Literal.number(0))])
    placeholder = exp.Null()
    node.replace(placeholder)
    cast = exp.Cast(this=node, to=target)
    cast.type = target.copy()
    placeholder.replace(cast)


def _double_division(node: exp.Div) -> None:
    """Exact operands divided as DOUBLEs: DuckDB's / on integers and decimals yields a DOUBLE."""
    if not any(is_kind(side, FLOATS) for side in (node.this, node.expression)):
        dividend = node.this
        cast = exp.Cast(this=dividend, to=exp.DataType(this=DType.DOUBLE))
        cast.type = exp.DataType(this=DType.DOUBLE)
        node.set("this", cast)


def _constant_keys_dropped(select: exp.Select) -> None:
    """ORDER BY keys that are constants (or an output's alias of one) dropped: they order nothing,
    and MariaDB reads a number there, as sqlglot spells out NULLS FIRST, as a column position."""
    constants = {projection.alias for projection in select.expressions
                 if isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Literal | exp.Null)}

    def constant(key: exp.Expr) -> bool:
        if isinstance(key, exp.Literal | exp.Null):
            return True
        return isinstance(key, exp.Column) and not key.table and key.name in constants

    order = select.args["order"]
    kept = [term for term in order.expressions if not constant(term.this)]
    if not kept:
        select.set("order", None)
    elif len(kept) < len(order.expressions):
        order.set("expressions", kept)


def faithful(tree: exp.Expr) -> exp.Expr:
    """``tree`` rendered to mean in MariaDB/MySQL what it means in the mesh dialect."""
    for node in reversed(list(tree.walk())):
        if isinstance(node, exp.Like):
            _like_pattern(node)
        elif isinstance(node, (exp.Greatest, exp.Least)) and node.args.get("ignore_nulls"):
            _ignoring_nulls(node)
        elif isinstance(node, exp.Cast):
            target = _target(node)
            if target in STRINGS and is_kind(node.this, BOOLEAN):
                _boolean_text(node)
            elif target == DType.BOOLEAN and is_kind(node.this, NUMBERS):
                _boolean_cast(node)
            elif target in _TIMESTAMPS or target == DType.TIME:
                _fractional_cast(node, target)
        elif isinstance(node, exp.Div):
            _double_division(node)
        elif isinstance(node, (exp.Ceil, exp.Floor)) and is_kind(node.this, _DECIMALS):
            _decimal_ceiling(node)
        elif isinstance(node, exp.Select) and node.args.get("order") is not None:
            _constant_keys_dropped(node)
        elif isinstance(node, exp.Not) and isinstance(node.parent, exp.Binary):
            # NOT binds looser than comparisons in MariaDB: b <= NOT x is a syntax error there.
            node.replace(exp.Paren(this=node.copy()))
    return exact_strings(tree)
