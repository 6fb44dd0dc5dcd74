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
positive start and length. Others are first rendered to mean on Spark what they mean in DuckDB
(``spark_renderings``: integer SUMs, divisions, AVG of a DECIMAL, narrowing casts).
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

from .spark_renderings import FAITHFUL, cast_fits, integer_literal, make_faithful

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
_DATE_PARTS = (exp.Extract, exp.Year, exp.Month, exp.Day, exp.Quarter)
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
    make_faithful(tree)
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


def _semantic_problem(tree: exp.Query, fragments: Mapping[str, list[DType]]) -> str | None:
    construct = held_back(tree, "spark")
    if construct is not None:
        return f"{construct} is computed differently on Spark"
    capabilities = SparkConnector.capabilities
    for node in tree.walk():
        if node.meta.get(FAITHFUL):
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
        if isinstance(node, exp.Cast) and node.to.this in INTEGERS and not cast_fits(node):
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
    positive = [integer_literal(part) for part in (start, length) if part is not None]
    return kind_of(node.this) in STRINGS and start is not None and all(v is not None and v > 0 for v in positive)


def _family(node: exp.Expr | None) -> int | None:
    return _family_of(kind_of(node))


def _family_of(kind: DType | None) -> int | None:
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
    """Each column of the two sides in one type family (an INTEGER beside a BIGINT or a DOUBLE is
    widened alike by both engines; a number beside text is not)."""
    left, right = _output_kinds(node.left, fragments), _output_kinds(node.right, fragments)
    if left is None or right is None or len(left) != len(right):
        return False
    return all(_family_of(a) is not None and _family_of(a) == _family_of(b) for a, b in zip(left, right, strict=True))


def _output_kinds(query: exp.Expr, fragments: Mapping[str, list[DType]]) -> list[DType] | None:
    """The column types a set operation's side produces (None: unknown, or its own sides differ)."""
    while isinstance(query, exp.Subquery):
        query = query.this
    if isinstance(query, exp.SetOperation):
        return _output_kinds(query.left, fragments) if _set_sides_agree(query, fragments) else None
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
