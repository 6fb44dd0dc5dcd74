"""Schema drift: where a table, as its engine describes it now, differs from its data contract.

``table_drift(promised, table, dialect)`` lists, in words, what differs (empty: none):

* the table is missing (the engine no longer has it, or the product is not described);
* a promised column is missing;
* a column's type differs from the contract's ``logicalType`` (compared with the Arrow type by
  kind: ``integer`` is any integer, ``number`` any integer, float or decimal, as JSON Schema,
  which ODCS follows, makes integers numbers) or ``physicalType`` (parsed in the engine's
  dialect with sqlglot and compared with the engine's type: integer and float widths, decimal
  precision and scale when the contract gives them, time zone or not; a text length is not
  compared: Arrow does not carry it. SQLite stores every integer in 64 bits and every float in
  64, so widths are not compared there; MariaDB's TIMESTAMP and DATETIME count as one);
* the engine has a column the contract does not list (only when the contract lists properties).

Example: the contract says ``{name: amount, logicalType: number}`` and the engine's column is
VARCHAR -> ``column amount: the contract says number, the engine has VARCHAR``.
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.expressions.datatypes import DType

from .catalog import CatalogTable
from .contract_model import ContractColumn, ContractTable
from .sqltypes import sql_type, type_name

__all__ = ["Drift", "logical_type_matches", "table_drift"]

_T = DType  # exp.DataType.Type, named so mypy sees a type
_TIMESTAMPS = {_T.TIMESTAMP, _T.DATETIME, _T.TIMESTAMPNTZ, _T.TIMESTAMP_S, _T.TIMESTAMP_MS, _T.TIMESTAMP_NS,
               _T.DATETIME2, _T.SMALLDATETIME}
_ZONED = {_T.TIMESTAMPTZ, _T.TIMESTAMPLTZ}
_DECIMALS = {_T.DECIMAL, _T.BIGDECIMAL, _T.DECIMAL32, _T.DECIMAL64, _T.DECIMAL128, _T.DECIMAL256, _T.MONEY,
             _T.SMALLMONEY, _T.UDECIMAL}
_BINARIES = {_T.BINARY, _T.VARBINARY, _T.BLOB, _T.LONGBLOB, _T.MEDIUMBLOB, _T.TINYBLOB, _T.IMAGE}


class Drift(NamedTuple):
    """One difference; ``column`` names the column it is about (None: the table), so a reader who
    may not see that column is not told about it."""

    column: str | None
    text: str


def table_drift(promised: ContractTable, table: CatalogTable | None, dialect: str) -> list[Drift]:
    if table is None:
        return [Drift(None, f"table {promised.name} is missing in the engine")]
    if promised.columns is None:
        return []
    found: list[Drift] = []
    for column in promised.columns:
        field = table.field_named(column.name)
        if field is None:
            found.append(Drift(column.name, f"column {column.name} is missing"))
            continue
        found += [Drift(column.name, text) for text in _type_drift(column, field.type, dialect)]
    found += [Drift(name, f"column {name} is not in the contract") for name in table.schema.names
              if promised.column(name) is None]
    return found


def logical_type_matches(logical: str, arrow: pa.DataType) -> bool:
    """Does an Arrow type hold values of an ODCS ``logicalType``?"""
    t = pa.types
    checks = {
        "string": t.is_string(arrow) or t.is_large_string(arrow) or t.is_string_view(arrow),
        "integer": t.is_integer(arrow),
        "number": t.is_integer(arrow) or t.is_floating(arrow) or t.is_decimal(arrow),
        "boolean": t.is_boolean(arrow),
        "date": t.is_date(arrow),
        "timestamp": t.is_timestamp(arrow),
        "time": t.is_time(arrow),
        "array": t.is_list(arrow) or t.is_large_list(arrow) or t.is_fixed_size_list(arrow),
        "vector": t.is_list(arrow) or t.is_fixed_size_list(arrow),
        "object": t.is_struct(arrow),
        "map": t.is_map(arrow),
    }
    return bool(checks.get(logical, False))


def _type_drift(column: ContractColumn, arrow: pa.DataType, dialect: str) -> list[str]:
    found = []
    if column.logical_type and not logical_type_matches(column.logical_type, arrow):
        found.append(f"column {column.name}: the contract says {column.logical_type}, the engine has "
                     f"{type_name(arrow)}")
    if column.physical_type:
        why = _physical_drift(column.physical_type, arrow, dialect)
        if why is not None:
            found.append(f"column {column.name}: {why}")
    return found


def _physical_drift(written: str, arrow: pa.DataType, dialect: str) -> str | None:
    try:
        promised = exp.DataType.build(written, dialect=dialect)
    except (ParseError, ValueError):
        return f"the contract's physicalType {written!r} is not a {dialect} type"
    engine_sql = sql_type(arrow)
    if engine_sql is None:
        return f"the contract says {written}, the engine has {type_name(arrow)}"
    engine = exp.DataType.build(engine_sql, dialect="duckdb")
    if not _same_type(promised, engine, dialect):
        return f"the contract says {written}, the engine has {type_name(arrow)}"
    return None


def _family(kind: DType, dialect: str) -> str:
    if kind in exp.DataType.INTEGER_TYPES:
        return "integer"
    if kind in exp.DataType.FLOAT_TYPES:
        return "float"
    if kind in _DECIMALS:
        return "decimal"
    if kind in exp.DataType.TEXT_TYPES:
        return "text"
    if kind in _BINARIES:
        return "binary"
    if kind in _TIMESTAMPS or (kind in _ZONED and dialect == "mysql"):
        return "timestamp"
    if kind in _ZONED:
        return "timestamptz"
    return str(kind.value)


def _same_type(promised: exp.DataType, engine: exp.DataType, dialect: str) -> bool:
    family = _family(promised.this, dialect)
    if family != _family(engine.this, dialect):
        return False
    if family in ("integer", "float"):
        return dialect == "sqlite" or promised.this == engine.this
    if family == "decimal" and promised.expressions:
        written = [e.sql() for e in promised.expressions]
        return written == [e.sql() for e in engine.expressions][:len(written)]
    return True
