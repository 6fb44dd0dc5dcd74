"""May a residual run on a Spark merge engine, and its Spark SQL over the exchanged fragments.

The residual is written in the mesh dialect (DuckDB SQL over the fragments' streams). It is
delegated to Spark only when every construct in it means on Spark what it means in DuckDB;
otherwise it stays in the embedded DuckDB, and ``Route.reason`` says why (EXPLAIN shows it).
The checks, each conservative (an unknown type counts as "may differ"):

- every node is of a class on the merge allow-list below (joins, filters, grouping, the plain
  aggregates, CASE, comparisons, arithmetic...): a construct not vetted for the Spark merge,
  such as ``string_agg`` (Spark has no ordered aggregate of strings) or a date function, stays;
- ``SparkConnector.capabilities`` accepts every node: the declared differences of
  ``connectors/spark_semantics.py`` (integer arithmetic wrapping around, division by zero, AVG of
  a DECIMAL, casts, LIKE with a backslash) keep a residual in DuckDB exactly as they keep a
  fragment out of Spark; so do the constructs ``planner.constructs.held_back`` names;
- ``||`` of a value that is not text, a cast of a DOUBLE (or an unknown type) to text: Spark
  prints numbers otherwise (``1.0E20``; DuckDB ``1e+20``);
- a comparison, CASE/COALESCE branch or set operation mixes type families (a number with text,
  a date with text): DuckDB and Spark coerce such pairs differently;
- DECIMAL ``+ - *`` whose exact result could need more than 38 digits: DuckDB raises, Spark
  rounds or returns NULL;
- a fragment's column type that does not cross Parquet unchanged (unsigned integers, nested types,
  intervals, time zones other than UTC) or two column names of one fragment equal but for case
  (Spark resolves names case-insensitively).

Some constructs are vetted one by one: YEAR/MONTH/DAY/QUARTER of a DATE, ``substring`` with a
positive start and length, arithmetic of integer literals whose result fits an INTEGER. Others
are rendered so that they mean on Spark what they mean in DuckDB:

- a cast to an integer type from a wider integer or a SUM of integers raises past the target's
  range (``raise_error``), as in DuckDB; Spark would wrap around or give NULL;
- ``a / b`` divides as DOUBLEs, as DuckDB's ``/`` does for every numeric type; a zero DECIMAL or
  integer divisor gives ``a * inf`` (inf, -inf, NaN) as in DuckDB, where Spark gives NULL;
- AVG of a DECIMAL is its exact SUM divided as a DOUBLE (Spark: a truncated DECIMAL);
- SUM of integers is a SUM of DECIMAL(38, 0) (DuckDB sums integers in 128 bits, Spark in a BIGINT
  that wraps around).

SUM of a DECIMAL(p, s) is a DECIMAL(p + 10, s) on Spark (DuckDB: 38 digits); it could differ only
past 10^10 rows of the largest values: accepted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.expressions.datatypes import DType
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.schema import MappingSchema

from flightmesh.connectors.spark import SparkConnector
from flightmesh.connectors.typed import BOOLEAN, INTEGERS, NUMBERS, STRINGS, TEMPORALS, kind_of
from flightmesh.planner.constructs import held_back
from flightmesh.planner.resolve import arrow_to_sql_type

__all__ = ["Route", "route_residual"]

# Node classes whose meaning on Spark (ANSI mode off, session in UTC) was checked against DuckDB's
# for the merge; the declared differences narrow some of them further (Add, Div, Cast, Like...).
_ALLOWED: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit,
    exp.Offset, exp.Subquery, exp.Table, exp.TableAlias, exp.Alias, exp.Column, exp.Identifier, exp.Star,
    exp.Distinct, exp.With, exp.CTE, exp.Union, exp.Intersect, exp.Except, exp.Exists, exp.In, exp.Tuple,
    exp.Paren, exp.Literal, exp.Null, exp.Boolean, exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT,
    exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Between, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg,
    exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Cast, exp.DataType, exp.DataTypeParam, exp.Count, exp.Sum,
    exp.Min, exp.Max, exp.Avg, exp.Like, exp.DPipe, exp.Window, exp.WindowSpec, exp.RowNumber,
    exp.Rank, exp.DenseRank,
)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_FAMILIES = (NUMBERS, STRINGS, BOOLEAN, frozenset({DType.DATE}), TEMPORALS - {DType.DATE})
_MAX_DIGITS = 38
_FAITHFUL = "flightmesh.merge_faithful"   # a node rewritten here to mean on Spark what it means in DuckDB
_WIDENED = "flightmesh.merge_widened"     # a SUM of integers summed as DECIMAL(38, 0)
_DATE_PARTS = (exp.Extract, exp.Year, exp.Month, exp.Day, exp.Quarter)
_WIDTH = {DType.TINYINT: 8, DType.SMALLINT: 16, DType.INT: 32, DType.BIGINT: 64}
# Types whose text is the same in both (a DOUBLE's is not: 1.0E20 on Spark, 1e+20 in DuckDB).
_PRINTED_ALIKE = STRINGS | INTEGERS | BOOLEAN | {DType.DATE, DType.DECIMAL}


@dataclass(frozen=True)
class Route:
    """Where one residual runs: ``tree`` (Spark-ready, fragments by name) when delegated, else why not.

    ``engine`` is the merge engine's kind that runs it (``duckdb`` when it stays), ``reason`` why.
    """

    tree: exp.Query | None
    reason: str
    fragments: tuple[str, ...] = ()
    engine: str = "duckdb"

    @property
    def delegated(self) -> bool:
        return self.tree is not None

    def spark_sql(self, locations: Mapping[str, tuple[str, tuple[str, ...]]]) -> str:
        """The residual in Spark SQL, each fragment read from ``locations``: name -> (Parquet folder,
        its column names in the file, positionally c0, c1, ... as written by the exchange)."""
        assert self.tree is not None
        tree = self.tree.copy()
        for table in list(tree.find_all(exp.Table)):
            if table.meta.get(_FRAGMENT) is None:
                continue
            folder, names = locations[table.meta[_FRAGMENT]]
            source = exp.Table(this=exp.to_identifier(folder, quoted=True), db=exp.to_identifier("parquet"))
            inner = exp.select(*[exp.alias_(exp.column(f"c{i}", quoted=True), name, quoted=True)
                                 for i, name in enumerate(names)]).from_(source)
            table.replace(exp.Subquery(this=inner, alias=table.args.get("alias") or exp.TableAlias(
                this=exp.to_identifier(table.name, quoted=True))))
        return tree.sql(dialect="spark", identify=True, unsupported_level=ErrorLevel.RAISE)


_FRAGMENT = "flightmesh.merge_fragment"


def route_residual(residual: str, schemas: Mapping[str, pa.Schema], kind: str = "spark") -> Route:
    """Decide where ``residual`` (DuckDB SQL over fragments with these ``schemas``) runs: on the
    merge engine of ``kind`` (a Spark Connect endpoint), or in the embedded DuckDB, and why."""
    decided = _route(residual, schemas)
    if decided.tree is None:
        return Route(None, f"merge engine {kind} (settings.merge_engine) not used: {decided.reason}; "
                           "runs in the embedded duckdb")
    return Route(decided.tree, f"merge engine {kind} (settings.merge_engine): {decided.reason}; fragments "
                               "exchanged as Parquet", decided.fragments, kind)


def _route(residual: str, schemas: Mapping[str, pa.Schema]) -> Route:
    for name, schema in schemas.items():
        why = _exchange_problem(schema)
        if why is not None:
            return Route(None, f"fragment {name}: {why}")
    try:
        tree = sqlglot.parse_one(residual, read="duckdb")
    except SqlglotError:
        return Route(None, "the residual could not be read back for Spark")
    if not isinstance(tree, exp.Query):
        return Route(None, "the residual is not a query")
    mapping: dict[str, object] = {name: {item.name: arrow_to_sql_type(item.type) for item in schema}
                                  for name, schema in schemas.items()}
    # An annotation sqlglot cannot finish leaves types unknown: every check below then says "may differ".
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError, SqlglotError):
        annotate_types(tree, schema=MappingSchema(mapping, dialect="duckdb", normalize=False), dialect="duckdb")
    _exact_integer_sums(tree)
    _double_averages(tree)
    _double_divisions(tree)
    _constant_arithmetic(tree)
    _checked_integer_casts(tree)
    columns = {name: [exp.DataType.build(sql_type).this for sql_type in types.values()]
               for name, types in mapping.items() if isinstance(types, dict)}
    why = _semantic_problem(tree, columns)
    if why is not None:
        return Route(None, why)
    used = []
    for table in tree.find_all(exp.Table):
        if not table.db and not table.catalog and table.name in schemas:
            table.meta[_FRAGMENT] = table.name
            used.append(table.name)
    route = Route(tree, "every construct of the residual means the same on Spark", tuple(dict.fromkeys(used)))
    try:  # rendering must succeed now, not when the fragments are already exchanged
        route.spark_sql({name: ("/probe", tuple(schemas[name].names)) for name in route.fragments})
    except (SqlglotError, ValueError, NotImplementedError):
        return Route(None, "sqlglot cannot render the residual in Spark SQL")
    return route


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
        quotient.meta[_FAITHFUL] = True
        quotient.type = exp.DataType.build("DOUBLE")
        if never_zero:
            node.replace(quotient)
            continue
        infinity = _double(exp.Literal.string("Infinity"))
        by_zero = exp.Mul(this=dividend, expression=infinity)
        is_zero = exp.EQ(this=node.expression.copy(), expression=exp.Literal.number(0))
        guarded = exp.Case(ifs=[exp.If(this=is_zero, true=by_zero)], default=quotient)
        for made in (by_zero, is_zero, guarded, *guarded.args["ifs"]):
            made.meta[_FAITHFUL] = True
        guarded.type = by_zero.type = exp.DataType.build("DOUBLE")
        node.replace(guarded)


def _double(node: exp.Expr) -> exp.Cast:
    cast = exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    cast.type = exp.DataType.build("DOUBLE")
    cast.meta[_FAITHFUL] = True  # a number (or 'Infinity') as a DOUBLE: the same in both
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
        average.meta[_FAITHFUL] = True
        node.replace(average)


def _constant_arithmetic(tree: exp.Expr) -> None:
    """Integer literals added, subtracted or multiplied (``1 + 10``) overflow in neither engine
    when the result fits an INTEGER: the declared wrap-around difference cannot apply."""
    for node in list(tree.find_all(exp.Add, exp.Sub, exp.Mul)):
        sides = [_integer_literal(side) for side in (node.this, node.expression)]
        if sides[0] is None or sides[1] is None:
            continue
        value = {exp.Add: sides[0] + sides[1], exp.Sub: sides[0] - sides[1], exp.Mul: sides[0] * sides[1]}[type(node)]
        if -(2 ** 31) <= value < 2 ** 31:
            node.meta[_FAITHFUL] = True


def _integer_literal(node: exp.Expr) -> int | None:
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

        CAST(x AS BIGINT)  ->  CASE WHEN x BETWEEN -2^63 AND 2^63-1 THEN CAST(x AS BIGINT)
                                    ELSE raise_error('ARITHMETIC_OVERFLOW ...') END

    The partial counts of a pre-aggregation come back this way (CAST(SUM(count) AS BIGINT)); Spark
    with ANSI mode off would wrap around or give NULL. ``spark_failure`` reads the error's class.
    """
    for node in list(tree.find_all(exp.Cast)):
        target = node.to.this
        if target not in _WIDTH or _cast_fits(node) or not _integral(node.this):
            continue
        bits = _WIDTH[target]
        within = exp.Between(this=node.this.copy(), low=exp.Literal.number(-(2 ** (bits - 1))),
                             high=exp.Literal.number(2 ** (bits - 1) - 1))
        cast = exp.Cast(this=node.this.copy(), to=node.to.copy())
        failure = exp.Anonymous(this="raise_error", expressions=[exp.Literal.string(
            "ARITHMETIC_OVERFLOW: a value is out of range for the integer type it is cast to")])
        guarded = exp.Case(ifs=[exp.If(this=within, true=cast)], default=failure)
        for made in (within, cast, failure, guarded, *guarded.args["ifs"]):
            made.meta[_FAITHFUL] = True
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


def _semantic_problem(tree: exp.Query, fragments: Mapping[str, list[DType]]) -> str | None:
    construct = held_back(tree, "spark")
    if construct is not None:
        return f"{construct} is computed differently on Spark"
    capabilities = SparkConnector.capabilities
    for node in tree.walk():
        if node.meta.get(_FAITHFUL):
            continue  # made here to mean what DuckDB means; its operands are checked as nodes of their own
        if isinstance(node, _DATE_PARTS) and _date_part_alike(node):
            continue
        if isinstance(node, exp.Var) and isinstance(node.parent, exp.Extract) and _date_part_alike(node.parent):
            continue  # the unit of a vetted EXTRACT
        if isinstance(node, exp.Substring) and _substring_alike(node):
            continue
        if not isinstance(node, _ALLOWED):
            return f"{type(node).__name__} is not among the constructs the Spark merge runs"
        if isinstance(node, exp.Table) and (node.db or node.catalog):
            return "the residual reads a table that is not a fragment"
        if not capabilities.supports(node):
            difference = capabilities.difference(node)
            return f"Spark: {difference.reason}" if difference is not None else \
                f"{type(node).__name__} is missing on Spark"
        if isinstance(node, _COMPARISONS) and not _same_family(node.this, node.expression):
            return "a comparison mixes types that DuckDB and Spark coerce differently"
        if isinstance(node, exp.Between) and not (_same_family(node.this, node.args["low"])
                                                  and _same_family(node.this, node.args["high"])):
            return "a BETWEEN mixes types that DuckDB and Spark coerce differently"
        if isinstance(node, exp.In) and not all(_same_family(node.this, item) for item in node.expressions):
            return "an IN list mixes types that DuckDB and Spark coerce differently"
        if isinstance(node, (exp.Coalesce, exp.Case, exp.If)) and not _branches_agree(node):
            return "CASE/COALESCE branches of different types are coerced differently on Spark"
        if isinstance(node, exp.SetOperation) and not _set_sides_agree(node, fragments):
            return "a set operation's sides have different column types"
        if isinstance(node, exp.Cast) and node.to.this in INTEGERS and not _cast_fits(node):
            return "a cast to an integer type that may overflow (DuckDB raises, Spark wraps around or gives NULL)"
        if isinstance(node, exp.DPipe) and not (kind_of(node.this) in STRINGS and kind_of(node.expression) in STRINGS):
            return "|| of a value that is not text (Spark prints numbers otherwise: 1.0E20, DuckDB 1e+20)"
        if isinstance(node, exp.Cast) and node.to.this in STRINGS and kind_of(node.this) not in _PRINTED_ALIKE:
            return "a cast to text of a value Spark prints otherwise (a DOUBLE: 1.0E20, DuckDB 1e+20)"
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul)) and _may_exceed_decimal_digits(node):
            return "DECIMAL arithmetic past 38 digits (DuckDB raises, Spark rounds)"
    return None


def _date_part_alike(node: exp.Expr) -> bool:
    """YEAR/MONTH/DAY/QUARTER of a DATE: the same integer in both (a weekday is not: Sunday 1 vs 0)."""
    if isinstance(node, exp.Extract):
        unit = node.this.name.upper() if isinstance(node.this, (exp.Var, exp.Identifier)) else ""
        return unit in ("YEAR", "MONTH", "DAY", "QUARTER") and kind_of(node.expression) == DType.DATE
    return kind_of(node.this) == DType.DATE


def _substring_alike(node: exp.Substring) -> bool:
    """substring(text, start[, length]) with a positive start and length: characters in both."""
    start, length = node.args.get("start"), node.args.get("length")
    positive = [_integer_literal(part) for part in (start, length) if part is not None]
    return kind_of(node.this) in STRINGS and start is not None and all(v is not None and v > 0 for v in positive)


def _cast_fits(node: exp.Cast) -> bool:
    """Does every value of the cast's operand fit its integer target? (A wider integer, or a SUM
    widened to DECIMAL(38, 0), may not; fractions are the declared Cast difference's concern.)"""
    source = node.this
    if source.meta.get(_WIDENED):
        return False
    source_kind, target = kind_of(source), node.to.this
    if source_kind in INTEGERS:
        return _WIDTH.get(source_kind, 99) <= _WIDTH.get(target, 0)
    return source_kind is not None  # DECIMAL and DOUBLE: the Cast difference decides


def _family(node: exp.Expr | None) -> int | None:
    kind = kind_of(node)
    if kind is None:
        return None
    return next((index for index, family in enumerate(_FAMILIES) if kind in family), None)


def _same_family(left: exp.Expr | None, right: exp.Expr | None) -> bool:
    if isinstance(right, exp.Null) or isinstance(left, exp.Null):
        return True
    first, second = _family(left), _family(right)
    return first is not None and first == second


def _branches_agree(node: exp.Expr) -> bool:
    if isinstance(node, exp.Coalesce):
        values = [node.this, *node.expressions]
    elif isinstance(node, exp.Case):
        values = [branch.args.get("true") for branch in node.args.get("ifs") or []] + [node.args.get("default")]
    else:
        values = [node.args.get("true"), node.args.get("false")]
    present = [value for value in values if value is not None and not isinstance(value, exp.Null)]
    return all(_same_family(present[0], value) for value in present[1:])


def _set_sides_agree(node: exp.SetOperation, fragments: Mapping[str, list[DType]]) -> bool:
    left, right = _output_kinds(node.left, fragments), _output_kinds(node.right, fragments)
    return left is not None and left == right


def _output_kinds(query: exp.Expr, fragments: Mapping[str, list[DType]]) -> list[DType] | None:
    """The column types a set operation's side produces (None: unknown, or its own sides differ)."""
    while isinstance(query, exp.Subquery):
        query = query.this
    if isinstance(query, exp.SetOperation):
        left = _output_kinds(query.left, fragments)
        return left if left is not None and left == _output_kinds(query.right, fragments) else None
    if not isinstance(query, exp.Select):
        return None
    source = query.args.get("from_") or query.args.get("from")
    if [type(item) for item in query.selects] == [exp.Star] and source is not None \
            and isinstance(source.this, exp.Table) and not query.args.get("joins"):
        return fragments.get(source.this.name)  # SELECT * FROM a fragment: its columns' types
    kinds = [kind_of(item) for item in query.selects]
    return None if any(kind is None for kind in kinds) else [kind for kind in kinds if kind is not None]


def _digits(node: exp.Expr) -> tuple[int, int] | None:
    """(precision, scale) of a DECIMAL or integer ``node``, as DuckDB types it; None if unknown."""
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        text = node.name.lstrip("-")
        whole, _, fraction = text.partition(".")
        return (max(1, len(whole.lstrip("0")) + len(fraction)), len(fraction)) if text.replace(".", "").isdigit() \
            else None
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        left, right = _digits(node.this), _digits(node.expression)
        if left is None or right is None:
            return None
        if isinstance(node, exp.Mul):
            return left[0] + right[0], left[1] + right[1]
        scale = max(left[1], right[1])
        return max(left[0] - left[1], right[0] - right[1]) + scale + 1, scale
    data_type = node.type
    if data_type is None:
        return None
    kind = data_type.this
    if kind == DType.DECIMAL:
        params = [param.this for param in data_type.expressions]
        if len(params) == 2 and all(isinstance(p, exp.Literal) for p in params):
            return int(params[0].name), int(params[1].name)
        return None
    return {DType.TINYINT: (3, 0), DType.SMALLINT: (5, 0), DType.INT: (10, 0), DType.BIGINT: (19, 0)}.get(kind)


def _may_exceed_decimal_digits(node: exp.Expr) -> bool:
    if not any(kind_of(side) in (None, DType.DECIMAL) for side in (node.this, node.expression)):
        return False  # doubles (integers are a declared difference of their own)
    if kind_of(node.this) in (DType.DOUBLE, DType.FLOAT) or kind_of(node.expression) in (DType.DOUBLE, DType.FLOAT):
        return False  # a DOUBLE side makes it DOUBLE arithmetic in both
    digits = _digits(node)
    return digits is None or digits[0] > _MAX_DIGITS


def _exchange_problem(schema: pa.Schema) -> str | None:
    """Why a fragment with ``schema`` cannot cross Parquet to Spark unchanged, or None."""
    lowered = [name.lower() for name in schema.names]
    if len(set(lowered)) != len(lowered):
        return "two columns differ only in case (Spark resolves names case-insensitively)"
    for item in schema:
        kind = item.type
        if pa.types.is_unsigned_integer(kind):
            return f"column type {kind} has no Spark equivalent"
        if pa.types.is_timestamp(kind):
            if kind.unit == "ns" or kind.tz not in (None, "UTC", "Etc/UTC", "+00:00"):
                return f"column type {kind} does not cross Parquet to Spark unchanged"
            continue
        if pa.types.is_decimal(kind) and kind.precision > _MAX_DIGITS:
            return f"column type {kind} has more digits than Spark's DECIMAL"
        if not (pa.types.is_signed_integer(kind) or kind in (pa.float32(), pa.float64()) or pa.types.is_decimal(kind)
                or pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind)
                or pa.types.is_date32(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
            return f"column type {kind} is not exchanged with the Spark merge engine"
    return None
