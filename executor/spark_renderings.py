"""Renderings that make a residual's constructs mean on Spark what they mean in DuckDB (the mesh dialect).

Each rewrites the residual's tree in place before ``merge_route`` checks it, and marks what it
made (``FAITHFUL``) so that the checks pass over it; the operands it copies are checked as nodes
of their own. Without them these constructs are declared differences and keep a residual in
DuckDB. Vetted against DuckDB on Sail by tests/connectors/test_spark_merge.py.

- arithmetic of integer literals whose result fits an INTEGER (``1 + 10``) overflows in neither;
- a cast to an integer type from a wider integer or a SUM of integers raises past the target's
  range (``raise_error``), as in DuckDB; Spark would wrap around or give NULL;
- ``a / b`` divides as DOUBLEs, as DuckDB's ``/`` does for every numeric type; a zero DECIMAL or
  integer divisor gives ``a * inf`` (inf, -inf, NaN) as in DuckDB, where Spark gives NULL;
- AVG of a DECIMAL is its exact SUM divided as a DOUBLE (Spark: a truncated DECIMAL);
- SUM of integers is a SUM of DECIMAL(38, 0) (DuckDB sums integers in 128 bits, Spark in a BIGINT
  that wraps around).

SUM of a DECIMAL(p, s) needs none: it is a DECIMAL(p + 10, s) on Spark (DuckDB: 38 digits) and
could differ only past 10^10 rows of the largest values.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from flightmesh.connectors.typed import INTEGERS, NUMBERS, kind_of

__all__ = ["FAITHFUL", "cast_fits", "integer_literal", "make_faithful"]

FAITHFUL = "flightmesh.merge_faithful"   # a node made here to mean on Spark what it means in DuckDB
_WIDENED = "flightmesh.merge_widened"    # a SUM of integers summed as DECIMAL(38, 0)
_WIDTH = {DType.TINYINT: 8, DType.SMALLINT: 16, DType.INT: 32, DType.BIGINT: 64}


def make_faithful(tree: exp.Expr) -> None:
    """Every rendering below, in order (a widened SUM is what a checked cast then guards)."""
    _exact_integer_sums(tree)
    _double_averages(tree)
    _double_divisions(tree)
    _constant_arithmetic(tree)
    _checked_integer_casts(tree)


def _exact_integer_sums(tree: exp.Expr) -> None:
    """SUM of integers summed as DECIMAL(38,0) on Spark: DuckDB sums integers in 128 bits, Spark in a
    BIGINT that wraps around; 38 digits hold every sum DuckDB's HUGEINT holds short of 10^38.
    The partial counts and sums of a pre-aggregation reach the residual this way."""
    for node in list(tree.find_all(exp.Sum)):
        if kind_of(node.this) in INTEGERS:
            exact = exp.Cast(this=node.this.copy(), to=exp.DataType.build("DECIMAL(38, 0)"))
            exact.type = exp.DataType.build("DECIMAL(38, 0)")
            node.set("this", exact)
            node.meta[_WIDENED] = True


def _double_divisions(tree: exp.Expr) -> None:
    """``a / b`` with a divisor that cannot be zero (``NULLIF(x, 0)``, a non-zero literal) divided as
    DOUBLEs on Spark: DuckDB's ``/`` of numbers is DOUBLE division (1.5 / 3 is 0.5, a DECIMAL too),
    Spark's a DECIMAL rounded to 6 digits. A divisor that may be zero stays a declared difference
    (DuckDB: inf or NaN, Spark: NULL); pre-aggregated averages divide by NULLIF(count, 0)."""
    for node in list(tree.find_all(exp.Div)):
        divisor = node.expression
        while isinstance(divisor, exp.Paren):
            divisor = divisor.this
        never_zero = _nonzero_literal(divisor) or (
            isinstance(divisor, exp.Nullif) and _is_zero_literal(divisor.expression))
        if not all(kind_of(side) in NUMBERS for side in (node.this, node.expression)):
            continue
        # A zero DECIMAL or integer has no sign: x / 0 is x * inf in DuckDB (inf, -inf, or NaN for
        # 0 / 0). A DOUBLE divisor may be -0.0 (1 / -0.0 is -inf): that one stays a difference.
        if not never_zero and kind_of(node.expression) not in INTEGERS | {DType.DECIMAL}:
            continue
        dividend, quotient = _double(node.this), exp.Div(this=_double(node.this), expression=_double(node.expression))
        quotient.meta[FAITHFUL] = True
        quotient.type = exp.DataType.build("DOUBLE")
        if never_zero:
            node.replace(quotient)
            continue
        infinity = _double(exp.Literal.string("Infinity"))
        by_zero = exp.Mul(this=dividend, expression=infinity)
        is_zero = exp.EQ(this=node.expression.copy(), expression=exp.Literal.number(0))
        guarded = exp.Case(ifs=[exp.If(this=is_zero, true=by_zero)], default=quotient)
        for made in (by_zero, is_zero, guarded, *guarded.args["ifs"]):
            made.meta[FAITHFUL] = True
        guarded.type = by_zero.type = exp.DataType.build("DOUBLE")
        node.replace(guarded)


def _double(node: exp.Expr) -> exp.Cast:
    cast = exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    cast.type = exp.DataType.build("DOUBLE")
    cast.meta[FAITHFUL] = True  # a number (or 'Infinity') as a DOUBLE: the same in both
    return cast


def _double_averages(tree: exp.Expr) -> None:
    """AVG of a DECIMAL is DuckDB's exact sum divided as a DOUBLE; Spark's AVG would be a DECIMAL
    truncated to 4 more digits. Rendered ``CAST(SUM(x) AS DOUBLE) / NULLIF(COUNT(x), 0)``."""
    for node in list(tree.find_all(exp.Avg)):
        if isinstance(node.parent, exp.Window) or kind_of(node.this) != DType.DECIMAL:
            continue
        count = exp.Count(this=node.this.copy())
        count.type = exp.DataType.build("BIGINT")
        nonzero = exp.Nullif(this=count, expression=exp.Literal.number(0))
        nonzero.type = exp.DataType.build("BIGINT")
        total = exp.Sum(this=node.this.copy())
        total.type = exp.DataType.build("DECIMAL")
        average = exp.Div(this=_double(total), expression=_double(nonzero))
        average.type = exp.DataType.build("DOUBLE")
        average.meta[FAITHFUL] = True
        node.replace(average)


def _constant_arithmetic(tree: exp.Expr) -> None:
    """Integer literals added, subtracted or multiplied (``1 + 10``) overflow in neither engine
    when the result fits an INTEGER: the declared wrap-around difference cannot apply."""
    for node in list(tree.find_all(exp.Add, exp.Sub, exp.Mul)):
        sides = [integer_literal(side) for side in (node.this, node.expression)]
        if sides[0] is None or sides[1] is None:
            continue
        value = {exp.Add: sides[0] + sides[1], exp.Sub: sides[0] - sides[1], exp.Mul: sides[0] * sides[1]}[type(node)]
        if -(2 ** 31) <= value < 2 ** 31:
            node.meta[FAITHFUL] = True


def integer_literal(node: exp.Expr) -> int | None:
    negative = False
    while isinstance(node, (exp.Paren, exp.Neg)):
        negative ^= isinstance(node, exp.Neg)
        node = node.this
    if isinstance(node, exp.Literal) and node.is_int:
        value = int(node.name)
        return -value if negative else value
    return None


def _checked_integer_casts(tree: exp.Expr) -> None:
    """A cast to an integer type that may overflow raises on Spark as in DuckDB::

        CAST(x AS BIGINT)  ->  CASE WHEN x IS NULL OR x BETWEEN -2^63 AND 2^63-1 THEN CAST(x AS BIGINT)
                                    ELSE raise_error('ARITHMETIC_OVERFLOW ...') END

    The partial counts of a pre-aggregation come back this way (CAST(SUM(count) AS BIGINT)); Spark
    with ANSI mode off would wrap around or give NULL. ``spark_failure`` reads the error's class.
    A NULL casts to NULL, as in DuckDB: the sum of a LEFT JOIN's unmatched partial counts is NULL
    (TPC-H Q13's pre-aggregated orders), and NULL BETWEEN ... is not true.
    """
    for node in list(tree.find_all(exp.Cast)):
        target = node.to.this
        if target not in _WIDTH or cast_fits(node) or not _integral(node.this):
            continue
        bits = _WIDTH[target]
        between = exp.Between(this=node.this.copy(), low=exp.Literal.number(-(2 ** (bits - 1))),
                              high=exp.Literal.number(2 ** (bits - 1) - 1))
        is_null = exp.Is(this=node.this.copy(), expression=exp.Null())
        within = exp.Or(this=is_null, expression=between)
        cast = exp.Cast(this=node.this.copy(), to=node.to.copy())
        failure = exp.Anonymous(this="raise_error", expressions=[exp.Literal.string(
            "ARITHMETIC_OVERFLOW: a value is out of range for the integer type it is cast to")])
        guarded = exp.Case(ifs=[exp.If(this=within, true=cast)], default=failure)
        for made in (between, is_null, is_null.expression, within, cast, failure, guarded, *guarded.args["ifs"]):
            made.meta[FAITHFUL] = True
        cast.type = guarded.type = node.to.copy()
        node.replace(guarded)


def _integral(node: exp.Expr) -> bool:
    """An integer, or a SUM of integers widened to DECIMAL(38, 0): no fraction to round."""
    return bool(node.meta.get(_WIDENED)) or kind_of(node) in INTEGERS


def _nonzero_literal(node: exp.Expr) -> bool:
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string and float(node.name) != 0


def _is_zero_literal(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and float(node.name) == 0


def cast_fits(node: exp.Cast) -> bool:
    """Does every value of the cast's operand fit its integer target? (A wider integer, or a SUM
    widened to DECIMAL(38, 0), may not; fractions are the declared Cast difference's concern.)"""
    source = node.this
    if source.meta.get(_WIDENED):
        return False
    source_kind, target = kind_of(source), node.to.this
    if source_kind in INTEGERS:
        return _WIDTH.get(source_kind, 99) <= _WIDTH.get(target, 0)
    return source_kind is not None  # DECIMAL and DOUBLE: the Cast difference decides
