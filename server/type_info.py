"""GetXdbcTypeInfo: the SQL types a client may write in the mesh dialect, in the spec's schema.

The mesh dialect is DuckDB's (sqlglot transpiles other dialects into it), so these are the
DuckDB spellings of the types ``mesh.sqltypes`` maps Arrow types to. The schema is the spec's
exactly (``create_params`` is a list of non-null utf8 items named ``item``, as in the C++ and Go
reference schemas); rows are ordered by data_type, then type_name, as the spec asks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from .proto import FlightSql_pb2 as sql

__all__ = ["XDBC_TYPE_INFO", "type_info_batch"]

_u, _i32, _b = pa.utf8(), pa.int32(), pa.bool_()
XDBC_TYPE_INFO = pa.schema([
    pa.field("type_name", _u, False), pa.field("data_type", _i32, False), pa.field("column_size", _i32),
    pa.field("literal_prefix", _u), pa.field("literal_suffix", _u),
    pa.field("create_params", pa.list_(pa.field("item", _u, False))),
    pa.field("nullable", _i32, False), pa.field("case_sensitive", _b, False), pa.field("searchable", _i32, False),
    pa.field("unsigned_attribute", _b), pa.field("fixed_prec_scale", _b, False), pa.field("auto_increment", _b),
    pa.field("local_type_name", _u), pa.field("minimum_scale", _i32), pa.field("maximum_scale", _i32),
    pa.field("sql_data_type", _i32, False), pa.field("datetime_subcode", _i32), pa.field("num_prec_radix", _i32),
    pa.field("interval_precision", _i32),
])


@dataclass(frozen=True)
class _Type:
    name: str
    code: int                         # XdbcDataType
    size: int | None = None           # precision of numbers, characters of datetimes
    prefix: str | None = None
    suffix: str | None = None
    params: tuple[str, ...] | None = None
    text: bool = False
    unsigned: bool | None = None
    fixed: bool = False
    scale: tuple[int, int] | None = None
    subcode: int | None = None        # XdbcDatetimeSubcode; sql_data_type is then XDBC_DATETIME
    radix: int | None = None


_TYPES = (
    _Type("BOOLEAN", sql.XDBC_BIT),
    _Type("TINYINT", sql.XDBC_TINYINT, 3, unsigned=False, radix=10),
    _Type("UTINYINT", sql.XDBC_TINYINT, 3, unsigned=True, radix=10),
    _Type("SMALLINT", sql.XDBC_SMALLINT, 5, unsigned=False, radix=10),
    _Type("USMALLINT", sql.XDBC_SMALLINT, 5, unsigned=True, radix=10),
    _Type("INTEGER", sql.XDBC_INTEGER, 10, unsigned=False, radix=10),
    _Type("UINTEGER", sql.XDBC_INTEGER, 10, unsigned=True, radix=10),
    _Type("BIGINT", sql.XDBC_BIGINT, 19, unsigned=False, radix=10),
    _Type("UBIGINT", sql.XDBC_BIGINT, 20, unsigned=True, radix=10),
    _Type("DECIMAL", sql.XDBC_DECIMAL, 38, params=("precision", "scale"), unsigned=False, fixed=True,
          scale=(0, 38), radix=10),
    _Type("REAL", sql.XDBC_REAL, 24, unsigned=False, radix=2),
    _Type("DOUBLE", sql.XDBC_DOUBLE, 53, unsigned=False, radix=2),
    _Type("VARCHAR", sql.XDBC_VARCHAR, prefix="'", suffix="'", text=True),
    _Type("BLOB", sql.XDBC_VARBINARY, prefix="'", suffix="'::BLOB"),
    _Type("DATE", sql.XDBC_DATE, 10, "DATE '", "'", subcode=sql.XDBC_SUBCODE_DATE),
    _Type("TIME", sql.XDBC_TIME, 15, "TIME '", "'", subcode=sql.XDBC_SUBCODE_TIME),
    _Type("TIMESTAMP", sql.XDBC_TIMESTAMP, 26, "TIMESTAMP '", "'", subcode=sql.XDBC_SUBCODE_TIMESTAMP),
    _Type("TIMESTAMP WITH TIME ZONE", sql.XDBC_TIMESTAMP, 32, "TIMESTAMPTZ '", "'",
          subcode=sql.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE),
)
_NULLABLE = 1       # Nullable.NULLABILITY_NULLABLE: every mesh column may hold NULL
_BASIC, _FULL = 2, 3  # Searchable: every operator but LIKE; LIKE too (text)


def type_info_batch(data_type: int | None = None) -> pa.RecordBatch:
    """Every type (or those of one XdbcDataType), one row each."""
    chosen = sorted((t for t in _TYPES if data_type is None or t.code == data_type), key=lambda t: (t.code, t.name))
    rows = [[
        t.name, t.code, t.size, t.prefix, t.suffix, list(t.params) if t.params else None, _NULLABLE, t.text,
        _FULL if t.text else _BASIC, t.unsigned, t.fixed, False if t.radix else None, t.name,
        t.scale[0] if t.scale else None, t.scale[1] if t.scale else None,
        sql.XDBC_DATETIME if t.subcode is not None else t.code, t.subcode, t.radix, None,
    ] for t in chosen]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in XDBC_TYPE_INFO]
    return pa.RecordBatch.from_arrays(
        [pa.array(list(values), type=field.type) for values, field in zip(columns, XDBC_TYPE_INFO, strict=True)],
        schema=XDBC_TYPE_INFO)
