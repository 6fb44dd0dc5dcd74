"""The exact Arrow schemas of Flight SQL's catalog commands.

Clients compare these with ``Schema.Equal`` — names, types, nullability and child fields — and
reject a stream that differs (ADBC: "Invalid schema returned for ..."). They follow the Arrow
reference implementations (C++ ``SqlSchema::Get*Schema``, Go ``schema_ref``): ``utf8`` and
``binary``, never the large or view variants (JDBC casts to VarCharVector / VarBinaryVector),
and ``key_sequence`` *before* ``key_name`` in GetPrimaryKeys, as both implementations do (the
proto comment lists them the other way round).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "CATALOGS",
    "CROSS_REFERENCE",
    "DB_SCHEMAS",
    "EXPORTED_KEYS",
    "IMPORTED_KEYS",
    "PRIMARY_KEYS",
    "TABLES",
    "TABLES_WITH_SCHEMA",
    "TABLE_TYPES",
]

_utf8 = pa.utf8()


def _required(name: str, type_: pa.DataType = _utf8) -> pa.Field:
    return pa.field(name, type_, nullable=False)


def _optional(name: str, type_: pa.DataType = _utf8) -> pa.Field:
    return pa.field(name, type_, nullable=True)


CATALOGS = pa.schema([_required("catalog_name")])

DB_SCHEMAS = pa.schema([_optional("catalog_name"), _required("db_schema_name")])

TABLES = pa.schema(
    [_optional("catalog_name"), _optional("db_schema_name"), _required("table_name"), _required("table_type")]
)
# include_schema=true adds the table's IPC-serialized Arrow schema.
TABLES_WITH_SCHEMA = TABLES.append(_required("table_schema", pa.binary()))

TABLE_TYPES = pa.schema([_required("table_type")])

PRIMARY_KEYS = pa.schema(
    [
        _optional("catalog_name"),
        _optional("db_schema_name"),
        _required("table_name"),
        _required("column_name"),
        _required("key_sequence", pa.int32()),
        _optional("key_name"),
    ]
)

# Imported keys, exported keys and cross references share one schema.
IMPORTED_KEYS = EXPORTED_KEYS = CROSS_REFERENCE = pa.schema(
    [
        _optional("pk_catalog_name"),
        _optional("pk_db_schema_name"),
        _required("pk_table_name"),
        _required("pk_column_name"),
        _optional("fk_catalog_name"),
        _optional("fk_db_schema_name"),
        _required("fk_table_name"),
        _required("fk_column_name"),
        _required("key_sequence", pa.int32()),
        _optional("fk_key_name"),
        _optional("pk_key_name"),
        _required("update_rule", pa.uint8()),
        _required("delete_rule", pa.uint8()),
    ]
)
