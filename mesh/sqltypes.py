"""Arrow types and Python values as SQL: the one home of both maps, shared by every package.

Three packages spell Arrow types in SQL: the planner (column types for sqlglot's qualifier), the
policies (``CAST(NULL AS <type>)`` for a NULL mask, sent to the product's engine), the server's
metadata (``ARROW:FLIGHT:SQL:TYPE_NAME``). Two turn Python values into literals: bound statement
parameters and principal attributes in policy SQL. They used to keep their own copies, which
drifted (a NULL mask cast an int8 column to SMALLINT; an attribute's aware datetime lost its time
zone; a float attribute could render ``nan``). It lives in ``mesh`` so governance, planner,
connectors and server may all import it.

Spellings are DuckDB's, the mesh dialect: each one runs in DuckDB and parses in sqlglot's duckdb
dialect, which renders it for each engine (so uint32 is UINTEGER, not sqlglot's own UINT). One
row per Arrow type, in ``_TYPES``; the decision each row makes is noted beside it.

    sql_type(pa.int8())                -> "TINYINT"
    sql_type(pa.list_(pa.int32()))     -> "INT[]"
    portable_sql_type(pa.uint8())      -> "SMALLINT"   (no engine but DuckDB casts to UTINYINT)
    type_name(pa.int32())              -> "INTEGER"    (what DuckDB's typeof() prints)
    sql_literal(datetime.date(2024, 1, 2)).sql() -> "CAST('2024-01-02' AS DATE)"
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

__all__ = ["UnsupportedLiteral", "portable_sql_type", "sql_literal", "sql_type", "type_name"]


@dataclass(frozen=True)
class _Row:
    matches: Callable[[pa.DataType], bool]
    sql: Callable[[pa.DataType], str]      # the exact type, as the planner types columns
    # A type every engine's CAST takes once sqlglot renders it (checked on DuckDB, SQLite,
    # PostgreSQL and MariaDB by tests/connectors/test_sqltypes.py); None: a bare NULL is safer.
    portable: Callable[[pa.DataType], str | None]
    name: str | None = None                # the display name, when it differs from ``sql``


def _none(t: pa.DataType) -> str | None:
    return None


def _const(text: str) -> Callable[[pa.DataType], str]:
    return lambda t: text


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
                or pa.types.is_fixed_size_binary(t))


_EXACT = object()  # ``_row(portable=...)`` left out: the portable spelling is the exact one


def _row(matches: Callable[[pa.DataType], bool], sql: str | Callable[[pa.DataType], str], *,
         portable: Any = _EXACT, name: str | None = None) -> _Row:
    exact = _const(sql) if isinstance(sql, str) else sql
    if portable is _EXACT:
        cast: Callable[[pa.DataType], str | None] = exact
    elif portable is None:
        cast = _none
    elif isinstance(portable, str):
        cast = _const(portable)
    else:
        cast = portable
    return _Row(matches, exact, cast, name)


_TYPES: tuple[_Row, ...] = (
    _row(pa.types.is_boolean, "BOOLEAN"),
    # Signed integers keep their width. int8 is TINYINT: sqlglot renders it SMALLINT for
    # PostgreSQL and SIGNED for MySQL's CAST, and a NULL mask must not widen the column a client
    # sees (an unmasked user gets int8).
    _row(pa.types.is_int8, "TINYINT"),
    _row(pa.types.is_int16, "SMALLINT"),
    _row(pa.types.is_int32, "INT", name="INTEGER"),
    _row(pa.types.is_int64, "BIGINT"),
    # Unsigned integers (MariaDB/MySQL UNSIGNED columns, DuckDB): exact for the planner. Only
    # DuckDB and MySQL's UNSIGNED (64-bit) take them in a CAST, so a NULL mask uses the smallest
    # signed type that holds every value of the column.
    _row(pa.types.is_uint8, "UTINYINT", portable="SMALLINT"),
    _row(pa.types.is_uint16, "USMALLINT", portable="INT"),
    _row(pa.types.is_uint32, "UINTEGER", portable="BIGINT"),
    _row(pa.types.is_uint64, "UBIGINT", portable="DECIMAL(20, 0)"),
    # float16 has no SQL type; FLOAT (DuckDB's REAL) holds every value of it.
    _row(pa.types.is_float16, "FLOAT", name="REAL"),
    _row(pa.types.is_float32, "FLOAT", name="REAL"),
    _row(pa.types.is_float64, "DOUBLE"),
    _row(pa.types.is_decimal, lambda t: f"DECIMAL({t.precision}, {t.scale})"),
    _row(pa.types.is_date, "DATE"),
    _row(pa.types.is_time, "TIME"),
    _row(pa.types.is_timestamp, lambda t: "TIMESTAMPTZ" if t.tz else "TIMESTAMP"),
    # MariaDB/MySQL have no INTERVAL, no arrays, and no CAST to VARBINARY: these masks stay a
    # bare NULL (typed NULL by the planner), as they always were.
    _row(pa.types.is_interval, "INTERVAL", portable=None),
    _row(pa.types.is_duration, "INTERVAL", portable=None),
    _row(_is_text, "VARCHAR"),
    _row(_is_binary, "BLOB", portable=None),
)


def _find(t: pa.DataType) -> _Row | None:
    return next((row for row in _TYPES if row.matches(t)), None)


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t))


def sql_type(t: pa.DataType) -> str | None:
    """The SQL type of Arrow type ``t`` (DuckDB's spelling), or None when SQL has none for it."""
    if _is_list(t):
        inner = sql_type(t.value_type)
        return f"{inner}[]" if inner is not None else None
    row = _find(t)
    return row.sql(t) if row is not None else None


def portable_sql_type(t: pa.DataType) -> str | None:
    """A type for ``CAST(NULL AS ...)`` that every engine kind takes; None: use a bare NULL.

    The exact ``sql_type`` where every engine casts to it, else the nearest type that holds
    every value of ``t``. Lists and structs: None (MariaDB/MySQL and SQLite have no arrays).
    """
    row = _find(t)
    return row.portable(t) if row is not None else None


def type_name(t: pa.DataType) -> str:
    """A display name for column listings: DuckDB's ``typeof()`` spellings.

    Never fails: a type SQL cannot name is shown as Arrow names it.
    """
    if pa.types.is_dictionary(t):
        return type_name(t.value_type)
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP WITH TIME ZONE" if t.tz else "TIMESTAMP"
    if _is_list(t) or pa.types.is_fixed_size_list(t):
        return f"{type_name(t.value_type)}[]"
    for matches, name in _DISPLAY_ONLY:
        if matches(t):
            return name
    row = _find(t)
    if row is not None:
        return row.name or row.sql(t)
    return str(t).upper()


_DISPLAY_ONLY: tuple[tuple[Callable[[pa.DataType], bool], str], ...] = (
    (pa.types.is_struct, "STRUCT"),
    (pa.types.is_map, "MAP"),
    (pa.types.is_null, "NULL"),
)


class UnsupportedLiteral(TypeError):
    """A Python value with no SQL literal; callers turn it into their own error."""


def sql_literal(value: Any) -> exp.Expr:
    """The SQL literal for a Python value, typed so every dialect reads it back the same.

    Values become AST nodes, so the generator quotes them: a value can never change the shape of
    a statement. Floats are CAST to DOUBLE (a bare 1.5 is DECIMAL in MySQL; nan and inf have no
    numeric literal at all); aware datetimes stay TIMESTAMPTZ.
    """
    if value is None:
        return exp.Null()
    if isinstance(value, bool):  # before int: bool is an int
        return exp.Boolean(this=value)
    if isinstance(value, int):
        # What Literal.number builds, without its round trip through the text (a dynamic
        # filter's IN list has hundreds of these).
        if value < 0:
            return exp.Neg(this=exp.Literal(this=str(-value), is_string=False))
        return exp.Literal(this=str(value), is_string=False)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return exp.cast(exp.Literal.string(repr(value)), exp.DataType.Type.DOUBLE)
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.Type.DOUBLE)
    if isinstance(value, decimal.Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, datetime.datetime):  # before date: a datetime is a date
        kind = exp.DataType.Type.TIMESTAMPTZ if value.tzinfo else exp.DataType.Type.TIMESTAMP
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), kind)
    if isinstance(value, datetime.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, datetime.time):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.TIME)
    if isinstance(value, bytes):
        return exp.HexString(this=value.hex())
    raise UnsupportedLiteral(type(value).__name__)
