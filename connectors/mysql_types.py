"""MariaDB / MySQL types as Arrow types, and the conversion of connectorx results to them.

``mysql_arrow_type`` maps a column as ``information_schema.COLUMNS`` describes it. Results are
read by connectorx, whose own types are close but not exact (every DECIMAL arrives as
``decimal128(38, 10)``, BLOBs as ``large_binary``, TIMESTAMP without its zone), so each result
is cast to the declared (or planner-expected) schema, one vectorised cast per column.

Choices worth knowing:

- ``tinyint(1)`` is ``bool``: it is what ``BOOLEAN`` means in MySQL, which has no other boolean.
- ``timestamp`` is ``timestamp[us, tz=UTC]``: sessions run with ``time_zone = '+00:00'``, so
  the values connectorx returns are UTC. ``datetime`` has no zone and stays naive.
- JSON, ENUM, SET, and MariaDB's UUID / INET4 / INET6 are text.
- connectorx carries decimals through a 96-bit decimal with at most 10 fractional digits in
  its Arrow output, so a DECIMAL with more than 28 digits or a scale above 10 would be rounded
  or rejected mid-stream: such a column is refused up front with a clear error instead.
- TIME is ``time64[us]``; a TIME value outside 00:00-24:00 (MySQL allows -838h..838h) cannot
  be an Arrow time of day and fails the fragment with a clear error.
"""

from __future__ import annotations

import re

import pyarrow as pa

__all__ = ["MAX_DECIMAL_PRECISION", "MAX_DECIMAL_SCALE", "UnknownMySQLType", "mysql_arrow_type",
           "normalize_result_type"]

MAX_DECIMAL_PRECISION = 28
MAX_DECIMAL_SCALE = 10

_INTEGERS = {
    "tinyint": (pa.int8(), pa.uint8()),
    "smallint": (pa.int16(), pa.uint16()),
    "mediumint": (pa.int32(), pa.uint32()),
    "int": (pa.int32(), pa.uint32()),
    "integer": (pa.int32(), pa.uint32()),
    "bigint": (pa.int64(), pa.uint64()),
}
_TEXT = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json",
                   "uuid", "inet4", "inet6"})
_BINARY = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit"})
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)")


class UnknownMySQLType(Exception):
    """A column type without an exact Arrow mapping; ``args[0]`` is its COLUMN_TYPE."""


def mysql_arrow_type(data_type: str, column_type: str) -> pa.DataType:
    """The Arrow type of a column (``DATA_TYPE`` and ``COLUMN_TYPE`` from information_schema)."""
    data_type = data_type.lower()
    column_type = column_type.lower()
    unsigned = "unsigned" in column_type
    if data_type == "tinyint" and column_type.startswith("tinyint(1)") and not unsigned:
        return pa.bool_()
    if data_type in _INTEGERS:
        signed_type, unsigned_type = _INTEGERS[data_type]
        return unsigned_type if unsigned else signed_type
    if data_type == "decimal":
        match = _DECIMAL.match(column_type)
        precision, scale = (int(match.group(1)), int(match.group(2))) if match else (10, 0)
        if precision > MAX_DECIMAL_PRECISION or scale > MAX_DECIMAL_SCALE:
            raise UnknownMySQLType(column_type)
        return pa.decimal128(precision, scale)
    if data_type == "float":
        return pa.float32()
    if data_type in ("double", "real"):
        return pa.float64()
    if data_type in _TEXT:
        return pa.string()
    if data_type in _BINARY:
        return pa.binary()
    if data_type == "date":
        return pa.date32()
    if data_type == "time":
        return pa.time64("us")
    if data_type == "datetime":
        return pa.timestamp("us")
    if data_type == "timestamp":
        return pa.timestamp("us", tz="UTC")
    if data_type == "year":
        return pa.int16()
    raise UnknownMySQLType(column_type)


def normalize_result_type(arrow_type: pa.DataType) -> pa.DataType:
    """A connectorx result type as this connector reports it when the planner gave no schema."""
    if pa.types.is_large_binary(arrow_type):
        return pa.binary()
    if pa.types.is_large_string(arrow_type):
        return pa.string()
    return arrow_type
