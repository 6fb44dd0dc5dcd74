"""The mesh's closed language: every AST node kind a statement may contain (DESIGN.md §6).

sqlglot parses far more than any one engine means: its function registry holds more than 900
names from every dialect it knows, and syntax that is harmless in DuckDB is an escape hatch
elsewhere. PostgreSQL reads ``(x).f`` as ``f(x)``, so a field access sqlglot keeps as
``exp.Dot`` reached ``pg_read_file``; ``CAST(x AS regclass)`` or a cast to a table's row type
answers "does this object exist?". A deny-list of what is known to be dangerous cannot keep up;
this module is the allow-list instead. A statement passes only if every node is of a class listed
in ``VETTED`` (or is ``Anonymous``/``Var``/``Dot``/``DataType`` and passes the narrower check for
that kind), else it is refused before any name is resolved::

    SELECT (CAST('/etc/hostname' AS TEXT)).pg_read_file FROM crm.customers
    -> ForbiddenFunction: field access (.pg_read_file) is allowed only on struct columns

    SELECT CAST('vault' AS regclass)
    -> UnsupportedQuery: cast to regclass is not supported; flightmesh casts to ...

The vetted functions are pure computations that DuckDB, the mesh's reference dialect, defines.
Functions whose result size is a parameter (``repeat``, ``lpad``, ``space``, ``generate_series``/
``range``) are vetted only with literal sizes under ``max_generated_values``: one cheap
statement must not build gigabytes outside any engine's memory accounting.

Three checks, three moments:

* ``check_statement`` — the client's tree, right after parsing and binding parameters;
* ``check_field_access`` — after qualification, when column types are known (struct fields);
* ``check_fragment`` — every tree the planner renders for an engine, policies included:
  nothing reaches an engine that was not vetted, whoever built it. (Dynamic filters add to a
  checked fragment only an IN-list or BETWEEN of key literals, or a join of a key table:
  ``planner/key_slots.py``.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import pyarrow as pa
from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from flightmesh.mesh import ForbiddenFunction, UnsupportedQuery

__all__ = [
    "ALLOWED_ANONYMOUS",
    "CAST_TYPES",
    "DATETIME_FUNCTIONS",
    "FRAME_EXCLUSIONS",
    "FUNCTIONS",
    "NUMERIC_FUNCTIONS",
    "PRINCIPAL_FUNCTIONS",
    "SAMPLE_METHODS",
    "STRING_FUNCTIONS",
    "SYNTAX",
    "UNIT_WORDS",
    "VETTED",
    "check_field_access",
    "check_fragment",
    "check_statement",
    "function_names",
    "integer_value",
]

T = DType  # exp.DataType.Type, named so mypy sees a type

# meta key on function nodes: the name as the client wrote it (set by ``parse_statement``), so a
# refusal names ``approx_percentile`` rather than the class sqlglot's dialect mapped it to.
WRITTEN_NAME = "flightmesh.written_name"

# Clauses, references, literals and operators.
SYNTAX: frozenset[type[exp.Expr]] = frozenset({
    # statements and clauses
    exp.Select, exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order,
    exp.Ordered, exp.Limit, exp.Offset, exp.Fetch, exp.LimitOptions, exp.Distinct, exp.With, exp.CTE,
    exp.Subquery, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Tuple, exp.Lateral,
    exp.TableSample, exp.Rollup, exp.Cube, exp.GroupingSets,
    # references and names
    exp.Table, exp.TableAlias, exp.Column, exp.Identifier, exp.Star, exp.Alias,
    # literals
    exp.Literal, exp.Null, exp.Boolean, exp.HexString, exp.Array, exp.Struct, exp.PropertyEQ,
    exp.Interval,
    # operators
    exp.Paren, exp.Neg, exp.Not, exp.And, exp.Or, exp.Xor, exp.Add, exp.Sub, exp.Mul, exp.Div,
    exp.IntDiv, exp.Mod, exp.Pow, exp.DPipe, exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape,
    exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift,
    exp.BitwiseRightShift, exp.Exists, exp.Any, exp.All, exp.Bracket, exp.Case, exp.If,
    exp.Cast, exp.TryCast, exp.DataTypeParam, exp.AtTimeZone,
    # aggregate and window modifiers
    exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls,
})

# Pure functions DuckDB defines, by what they compute.
AGGREGATES: frozenset[type[exp.Expr]] = frozenset({
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.AnyValue, exp.First, exp.Last, exp.CountIf,
    exp.ApproxDistinct, exp.ArgMax, exp.ArgMin, exp.ArrayAgg, exp.GroupConcat, exp.Stddev,
    exp.StddevSamp, exp.StddevPop, exp.Variance, exp.VariancePop, exp.Corr, exp.CovarSamp,
    exp.CovarPop, exp.Median, exp.Mode, exp.PercentileCont, exp.PercentileDisc, exp.Quantile,
    exp.ApproxQuantile, exp.LogicalAnd, exp.LogicalOr, exp.BitwiseAndAgg, exp.BitwiseOrAgg,
    exp.BitwiseXorAgg, exp.Skewness, exp.Kurtosis, exp.RegrSlope, exp.RegrIntercept, exp.RegrR2,
    exp.RegrCount, exp.Grouping,
})
WINDOW_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset({
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile, exp.Lag,
    exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
})
CONDITIONAL_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset({
    exp.Coalesce, exp.Nullif, exp.Greatest, exp.Least, exp.Nvl2,
})
NUMERIC_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset({
    exp.Abs, exp.Ceil, exp.Floor, exp.Round, exp.Trunc, exp.Sign, exp.Sqrt, exp.Cbrt, exp.Exp,
    exp.Ln, exp.Log, exp.Pi, exp.Degrees, exp.Radians, exp.Sin, exp.Cos, exp.Tan, exp.Asin,
    exp.Acos, exp.Atan, exp.Atan2, exp.Cot, exp.Sinh, exp.Cosh, exp.Tanh, exp.IsNan, exp.IsInf,
    exp.Rand,
})
STRING_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset({
    exp.Lower, exp.Upper, exp.Length, exp.BitLength, exp.ByteLength, exp.Substring, exp.Trim,
    exp.Left, exp.Right, exp.Concat, exp.ConcatWs, exp.Replace, exp.Reverse, exp.StrPosition,
    exp.Initcap, exp.Ascii, exp.Chr, exp.SplitPart, exp.StartsWith, exp.Contains, exp.Levenshtein,
    exp.JarowinklerSimilarity, exp.RegexpLike, exp.RegexpExtract, exp.RegexpReplace, exp.MD5,
    exp.SHA, exp.SHA2, exp.Hex, exp.Unhex, exp.Translate, exp.Unicode, exp.Split,
})
DATETIME_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset({
    exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime, exp.Extract, exp.DateTrunc,
    exp.TimestampTrunc, exp.DateDiff, exp.DateAdd, exp.DateSub, exp.DateFromParts,
    exp.TimeToStr, exp.StrToTime, exp.StrToDate, exp.Year, exp.Quarter, exp.Month, exp.Week,
    exp.Day, exp.DayOfWeek, exp.DayOfWeekIso, exp.DayOfMonth, exp.DayOfYear, exp.Hour,
    exp.Minute, exp.Second, exp.LastDay, exp.Dayname, exp.Monthname, exp.UnixToTime,
    exp.TimeToUnix, exp.Date,
})
LIST_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset({exp.ArraySize, exp.ArrayContains, exp.Explode})
SCALARS: frozenset[type[exp.Expr]] = (CONDITIONAL_FUNCTIONS | NUMERIC_FUNCTIONS | STRING_FUNCTIONS
                                      | DATETIME_FUNCTIONS | LIST_FUNCTIONS)
# Functions whose result size is an argument: vetted only when that argument is bounded.
SIZED: frozenset[type[exp.Expr]] = frozenset({exp.Repeat, exp.Pad, exp.Space, exp.GenerateSeries})
STRING_FUNCTIONS |= {exp.Repeat, exp.Pad, exp.Space}

FUNCTIONS: frozenset[type[exp.Expr]] = AGGREGATES | WINDOW_FUNCTIONS | SCALARS | SIZED
VETTED: frozenset[type[exp.Expr]] = SYNTAX | FUNCTIONS

def function_names(classes: frozenset[type[exp.Expr]]) -> list[str]:
    """The names a client may write in the mesh dialect (DuckDB) for ``classes``, upper case.

    Found by parsing a call of every name in DuckDB's parser registry: aliases included
    (``strpos`` and ``instr`` are both StrPosition), names of other dialects excluded. For
    GetSqlInfo's function lists (JDBC ``getNumericFunctions`` ...).
    """
    return sorted(name for name, cls in _duckdb_function_classes().items() if cls in classes)


@functools.lru_cache(maxsize=1)
def _duckdb_function_classes() -> dict[str, type[exp.Expr]]:
    import sqlglot

    found: dict[str, type[exp.Expr]] = {}
    for name in sqlglot.Dialect.get_or_raise("duckdb").parser_class.FUNCTIONS:
        for arguments in ("a", "a, b", "a, b, c", ""):
            try:
                select = sqlglot.parse_one(f"SELECT {name}({arguments})", read="duckdb")
            except Exception:  # not every arity parses: try the next
                continue
            if isinstance(select, exp.Select) and select.expressions:
                found[name.upper()] = type(select.expressions[0])
            break
    return found


# The mesh's data types: what CAST / TRY_CAST / typed literals may name. No object-identifier
# types (regclass, regrole, oid ...), no table row types, no domains: sqlglot parses those as
# USERDEFINED, and each of them turns a cast into a catalog lookup inside the engine.
CAST_TYPES: frozenset[DType] = frozenset({
    T.BOOLEAN, T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.INT128, T.UTINYINT, T.USMALLINT, T.UINT,
    T.UBIGINT, T.FLOAT, T.DOUBLE, T.DECIMAL, T.CHAR, T.VARCHAR, T.TEXT, T.DATE, T.TIME,
    T.TIMESTAMP, T.TIMESTAMPNTZ, T.TIMESTAMPTZ, T.TIMESTAMP_S, T.TIMESTAMP_MS, T.TIMESTAMP_NS,
    T.INTERVAL, T.VARBINARY, T.BLOB, T.UUID, T.ARRAY, T.LIST, T.STRUCT, T.MAP,
})

# Bare words the parser keeps as ``Var``: the units of EXTRACT, INTERVAL, DATE_TRUNC and friends.
# A generator prints a Var as is, so any other word (``user``, ``current_role``) is refused.
UNIT_WORDS: frozenset[str] = frozenset({
    "millennium", "century", "decade", "year", "years", "isoyear", "quarter", "quarters", "month",
    "months", "week", "weeks", "day", "days", "dow", "isodow", "doy", "dayofweek", "dayofyear",
    "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds",
    "microsecond", "microseconds", "epoch", "yearweek", "weekday", "timezone", "timezone_hour",
    "timezone_minute", "ms", "us",
})

# A window frame's EXCLUDE options (DuckDB and PostgreSQL; sqlglot refuses to print them for MariaDB).
FRAME_EXCLUSIONS: frozenset[str] = frozenset({"CURRENT ROW", "GROUP", "TIES", "NO OTHERS"})

# The methods of DuckDB's TABLESAMPLE / USING SAMPLE (sampling always runs in the merge DuckDB).
SAMPLE_METHODS: frozenset[str] = frozenset({"reservoir", "bernoulli", "system"})

# Functions sqlglot does not model that are pure computations in every engine we push to.
ALLOWED_ANONYMOUS: frozenset[str] = frozenset({"now"})

DEFAULT_MAX_GENERATED_VALUES = 1_000_000


# Name the principal; ``lock_down`` replaces them by the principal's name before any engine sees them.
PRINCIPAL_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset({exp.CurrentUser, exp.SessionUser})


def check_statement(tree: exp.Expr, max_generated_values: int = DEFAULT_MAX_GENERATED_VALUES) -> None:
    """Refuse ``tree`` unless every node is vetted. Raises ForbiddenFunction / UnsupportedQuery."""
    for node in tree.walk():
        if _is_order_by_all(node):
            continue  # the planner spells it out (planner/rules/expand_all.py) before any engine sees it
        if type(node) not in PRINCIPAL_FUNCTIONS:
            _check_node(node, max_generated_values)


def check_fragment(tree: exp.Expr, max_generated_values: int = DEFAULT_MAX_GENERATED_VALUES) -> None:
    """The gate before rendering for an engine: the same language, whoever built the tree.

    Policies and the planner's own rewrites add nodes after ``check_statement``; they are held to
    the same list, so a policy written with an unvetted function fails closed instead of reaching
    the engine.
    """
    for node in tree.walk():
        _check_node(node, max_generated_values)


def check_field_access(tree: exp.Expr, type_of: Callable[[exp.Column], pa.DataType | None]) -> None:
    """Every ``x.field`` reads a field of a struct column (``type_of`` gives a column's type).

    PostgreSQL's attribute notation makes ``(value).name`` a call of ``name(value)``, so a field
    access is kept only when its base is a column whose declared type is a struct with that field.
    """
    for node in tree.find_all(exp.Dot):
        data_type = _struct_type(node.this, type_of)
        field = node.expression.name if isinstance(node.expression, exp.Identifier) else None
        if data_type is None or field is None or data_type.get_field_index(field) < 0:
            raise ForbiddenFunction(f"field access (.{field or node.expression.sql()}) is allowed only on "
                                    "struct columns that have that field")


def _struct_type(base: exp.Expr, type_of: Callable[[exp.Column], pa.DataType | None]) -> pa.StructType | None:
    while isinstance(base, exp.Paren):
        base = base.this
    if isinstance(base, exp.Column):
        data_type = type_of(base)
    elif isinstance(base, exp.Dot):
        parent = _struct_type(base.this, type_of)
        name = base.expression.name
        if parent is None or parent.get_field_index(name) < 0:
            return None
        data_type = parent.field(name).type
    else:
        return None
    return data_type if isinstance(data_type, pa.StructType) else None


def _check_node(node: exp.Expr, max_generated_values: int) -> None:
    kind = type(node)
    if kind in VETTED:
        if kind in SIZED:
            _check_size(node, max_generated_values)
        elif kind is exp.TableSample:
            _check_sample(node)
        elif kind is exp.Star and isinstance(node.parent, (exp.Like, exp.ILike)):
            raise UnsupportedQuery("SELECT * LIKE 'pattern' is not supported; name the columns")
        elif kind is exp.LimitOptions and node.args.get("with_ties"):
            raise UnsupportedQuery("FETCH ... WITH TIES is not supported (DuckDB has no WITH TIES); use rank() "
                                   "OVER (ORDER BY ...) in a QUALIFY")
    elif kind is exp.DataType:
        _check_type(node)
    elif kind is exp.ColumnDef and isinstance(node.parent, exp.DataType):
        pass  # a STRUCT field inside a cast's type; the type itself is checked
    elif kind is exp.Var:
        if isinstance(node.parent, exp.WindowSpec) and node.arg_key == "exclude":
            if node.name.upper() not in FRAME_EXCLUSIONS:
                raise UnsupportedQuery(f"window frame EXCLUDE {node.name} is not supported")
        elif isinstance(node.parent, exp.TableSample) and node.arg_key == "method":
            if node.name.lower() not in SAMPLE_METHODS:
                raise UnsupportedQuery(f"sampling method {node.name!r} is not supported; use "
                                       "reservoir, bernoulli or system")
        elif node.name.lower() not in UNIT_WORDS:
            raise UnsupportedQuery(f"{node.name!r} is not supported here")
    elif kind is exp.Anonymous:
        if node.name.lower() not in ALLOWED_ANONYMOUS:
            raise ForbiddenFunction(f"function {node.name.lower()} is not allowed")
    elif kind is exp.Dot:
        _check_dot_shape(node)
    elif kind is exp.Unnest:
        raise UnsupportedQuery("UNNEST in FROM is not supported by flightmesh; unnest a list in the SELECT "
                               "list instead (SELECT unnest(list) AS x ...)")
    elif isinstance(node, exp.Func):
        raise ForbiddenFunction(f"function {_function_name(node)} is not supported by flightmesh")
    else:
        raise UnsupportedQuery(f"{_construct_name(node)} is not supported by flightmesh")


def _check_dot_shape(node: exp.Expr) -> None:
    """Field access reads columns only; whether the column is a struct is checked after qualification."""
    base = node.this
    while isinstance(base, exp.Paren):
        base = base.this
    if not isinstance(base, (exp.Column, exp.Dot)) or not isinstance(node.expression, exp.Identifier):
        field = node.expression.sql() if isinstance(node.expression, exp.Expr) else "?"
        raise ForbiddenFunction(f"field access (.{field}) is allowed only on struct columns that have that field")


_NESTED = frozenset({T.ARRAY, T.LIST, T.STRUCT, T.MAP})


def _check_type(node: exp.Expr) -> None:
    if node.this in _NESTED and not node.expressions:
        raise UnsupportedQuery(f"cast to {node.this.value} needs its element types, e.g. INT[] or STRUCT(a INT)")
    if node.this not in CAST_TYPES:
        name = node.args.get("kind") or getattr(node.this, "value", None) or "this type"
        raise UnsupportedQuery(f"cast to {str(name).lower()} is not supported; flightmesh casts to "
                               "BOOLEAN, integers, DOUBLE, DECIMAL, VARCHAR, DATE, TIME, TIMESTAMP[TZ], "
                               "INTERVAL, BLOB, UUID and lists/structs/maps of them")


def _check_size(node: exp.Expr, limit: int) -> None:
    """Sized functions: the size must be a literal, and what they build at most ``limit`` values."""
    if isinstance(node, exp.Repeat):
        text, times = node.this, node.args.get("times")
        size = None
        if isinstance(text, exp.Literal) and text.is_string:
            count = integer_value(times)
            size = None if count is None else len(text.this) * max(count, 0)
        _bounded(size, limit, "repeat(text, n) needs a string literal and an integer literal n")
    elif isinstance(node, exp.Pad):
        _bounded(integer_value(node.expression), limit, "lpad/rpad need an integer literal length")
    elif isinstance(node, exp.Space):
        _bounded(integer_value(node.this), limit, "space(n) needs an integer literal n")
    elif isinstance(node, exp.GenerateSeries):
        start, end = integer_value(node.args.get("start")), integer_value(node.args.get("end"))
        step_node = node.args.get("step")
        step = 1 if step_node is None else integer_value(step_node)
        count = None
        if start is not None and end is not None and step:
            count = max(0, (end - start) // step + 1)
        _bounded(count, limit, "generate_series/range need integer literal bounds and step")


def _check_sample(node: exp.Expr) -> None:
    """A sample's size is a literal: a row count, or a percentage from 0 to 100; its seed an integer."""
    size, percent, seed = node.args.get("size"), node.args.get("percent"), node.args.get("seed")
    if size is not None and (integer_value(size) is None or (integer_value(size) or 0) < 0):
        raise UnsupportedQuery("TABLESAMPLE n ROWS needs a non-negative integer literal n")
    if percent is not None:
        value = _number(percent)
        if value is None or not 0 <= value <= 100:
            raise UnsupportedQuery("TABLESAMPLE n% needs a literal percentage from 0 to 100")
    if size is None and percent is None:
        raise UnsupportedQuery("TABLESAMPLE needs a size: n ROWS or n%")
    if seed is not None and integer_value(seed) is None:
        raise UnsupportedQuery("REPEATABLE (seed) needs an integer literal seed")
    for key in ("expressions", "bucket_numerator", "bucket_denominator", "bucket_field"):
        if node.args.get(key):
            raise UnsupportedQuery("this form of TABLESAMPLE is not supported; use TABLESAMPLE n ROWS or n%")


def _number(node: exp.Expr | None) -> Decimal | None:
    if not isinstance(node, exp.Literal) or node.is_string:
        return None
    try:
        return Decimal(node.this)
    except InvalidOperation:
        return None


def _is_order_by_all(node: exp.Expr) -> bool:
    """DuckDB's ``ORDER BY ALL [DESC]``: the word ALL as the whole of the one ORDER BY term."""
    parent = node.parent
    return (type(node) is exp.Var and node.name.upper() == "ALL" and isinstance(parent, exp.Ordered)
            and node.arg_key == "this" and isinstance(parent.parent, exp.Order)
            and len(parent.parent.expressions) == 1)


def _bounded(size: int | None, limit: int, shape: str) -> None:
    if size is None:
        raise UnsupportedQuery(f"{shape} (at most {limit} values; setting max_generated_values)")
    if size > limit:
        raise UnsupportedQuery(f"the query would generate {size} values in one call, more than "
                               f"max_generated_values ({limit})")


def integer_value(node: exp.Expr | None) -> int | None:
    """An integer literal's value (``-3``, ``(4)``, ``5.0`` included), else None."""
    negative = False
    while isinstance(node, (exp.Neg, exp.Paren)):
        negative ^= isinstance(node, exp.Neg)
        node = node.this
    if not isinstance(node, exp.Literal) or node.is_string:
        return None
    try:
        value = Decimal(node.this)
    except InvalidOperation:
        return None
    if value != value.to_integral_value():
        return None
    return -int(value) if negative else int(value)


def _function_name(node: exp.Func) -> str:
    try:
        written = node.meta.get(WRITTEN_NAME)  # abstract classes have no meta: they raise too
        if isinstance(written, str) and written:
            return written.lower()
        return node.sql_name().lower()
    except Exception:  # sql_name() raises for some generated classes: the class says enough
        return type(node).__name__.lower()


def _construct_name(node: exp.Expr) -> str:
    return {exp.Collate: "COLLATE", exp.Unnest: "UNNEST in FROM", exp.Lambda: "lambda functions",
            exp.Placeholder: "an unbound parameter", exp.Parameter: "an unbound parameter",
            exp.SessionParameter: "a session variable"}.get(type(node), type(node).__name__)
