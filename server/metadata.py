"""Catalog metadata for one principal: GetCatalogs, GetDbSchemas, GetTables, GetTableTypes, keys.

The mesh maps onto Flight SQL's three levels as catalog = the mesh, db schema = a product,
table = a product's output table. Everything is computed from ``Catalog`` for the calling
principal, so a product the principal may not read is absent exactly as if it did not exist.

Each answer is one record batch: ADBC's ``adbc_get_table_schema`` and flightsql-dbapi read only
the first batch of GetTables.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache

import pyarrow as pa

from flightmesh.governance import visible_schema
from flightmesh.mesh import Catalog, CatalogTable, Principal

from . import schemas
from .proto import FlightSql_pb2 as sql

__all__ = [
    "MetadataService",
    "like_matcher",
    "sql_type_name",
]

_TABLE = "TABLE"
_FLIGHT_SQL = "ARROW:FLIGHT:SQL:"


class MetadataService:
    """Answers the catalog commands against the runtime's current catalog."""

    def __init__(self, table_type_case: str = "upper") -> None:
        self.table_type = _TABLE if table_type_case == "upper" else _TABLE.lower()
        self._schema_cache: dict[tuple[object, ...], bytes] = {}
        self._cache_lock = threading.Lock()

    # -- the commands --------------------------------------------------------------------------

    def catalogs(self, catalog: Catalog) -> pa.RecordBatch:
        return _batch(schemas.CATALOGS, [[catalog.name]])

    def db_schemas(
        self, catalog: Catalog, principal: Principal, command: sql.CommandGetDbSchemas
    ) -> pa.RecordBatch:
        rows: list[list[object]] = []
        if _catalog_matches(catalog, command):
            matches = _optional_pattern(command, "db_schema_filter_pattern")
            rows = [[catalog.name, p.name] for p in catalog.products_for(principal) if matches(p.name)]
        return _batch(schemas.DB_SCHEMAS, sorted(rows))

    def tables(self, catalog: Catalog, principal: Principal, command: sql.CommandGetTables) -> pa.RecordBatch:
        rows: list[list[object]] = []
        wanted_types = {kind.upper() for kind in command.table_types}
        type_matches = not wanted_types or _TABLE in wanted_types  # clients spell types either way
        if _catalog_matches(catalog, command) and type_matches:
            schema_matches = _optional_pattern(command, "db_schema_filter_pattern")
            table_matches = _optional_pattern(command, "table_name_filter_pattern")
            for table in catalog.tables_for(principal):
                if schema_matches(table.product) and table_matches(table.name):
                    row: list[object] = [catalog.name, table.product, table.name, self.table_type]
                    if command.include_schema:
                        row.append(self._serialized_schema(catalog, table, principal))
                    rows.append(row)
        rows.sort(key=lambda row: (row[1], row[2]))
        return _batch(schemas.TABLES_WITH_SCHEMA if command.include_schema else schemas.TABLES, rows)

    def table_types(self) -> pa.RecordBatch:
        return _batch(schemas.TABLE_TYPES, [[self.table_type]])

    @staticmethod
    def empty(schema: pa.Schema) -> pa.RecordBatch:
        """The (empty) answer of the key commands: the mesh declares no constraints."""
        return _batch(schema, [])

    # -- table schemas -------------------------------------------------------------------------

    def _serialized_schema(self, catalog: Catalog, table: CatalogTable, principal: Principal) -> bytes:
        # Harlequin and JDBC getColumns ask for every table's schema at once; serialize once per
        # catalog version and policy context. A principal sees the table as its policies show it:
        # denied columns are not listed, any more than they can be queried.
        key = (id(catalog), catalog.version, table.product, table.name, principal.policy_key())
        with self._cache_lock:
            cached = self._schema_cache.get(key)
        if cached is None:
            visible = visible_schema(table, principal, catalog.spec)
            cached = described_schema(catalog.name, table, visible).serialize().to_pybytes()
            with self._cache_lock:
                if len(self._schema_cache) > 10_000:
                    self._schema_cache.clear()
                self._schema_cache[key] = cached
        return cached


def described_schema(catalog_name: str, table: CatalogTable, schema: pa.Schema | None = None) -> pa.Schema:
    """``schema`` (by default ``table``'s) with the ``ARROW:FLIGHT:SQL:*`` field metadata clients
    show as columns."""
    described = {name.lower(): column for name, column in table.columns.items()}
    fields = []
    for field in schema if schema is not None else table.schema:
        notes = {
            "CATALOG_NAME": catalog_name,
            "DB_SCHEMA_NAME": table.product,
            "TABLE_NAME": table.name,
            "TYPE_NAME": sql_type_name(field.type),
            "IS_AUTO_INCREMENT": "0",
            "IS_CASE_SENSITIVE": "1" if _is_text(field.type) else "0",
            "IS_READ_ONLY": "1",
            "IS_SEARCHABLE": "1",
        }
        if isinstance(field.type, pa.Decimal128Type | pa.Decimal256Type):
            notes["PRECISION"] = str(field.type.precision)
            notes["SCALE"] = str(field.type.scale)
        column = described.get(field.name.lower())
        if column is not None and column.description:
            notes["REMARKS"] = column.description
        metadata = {f"{_FLIGHT_SQL}{key}": value for key, value in notes.items()}
        fields.append(field.with_metadata(metadata))
    return pa.schema(fields)


def sql_type_name(type_: pa.DataType) -> str:
    """A SQL spelling of an Arrow type, for column listings (``ARROW:FLIGHT:SQL:TYPE_NAME``)."""
    if pa.types.is_dictionary(type_):
        return sql_type_name(type_.value_type)
    if isinstance(type_, pa.Decimal128Type | pa.Decimal256Type):
        return f"DECIMAL({type_.precision},{type_.scale})"
    if pa.types.is_timestamp(type_):
        return "TIMESTAMP WITH TIME ZONE" if type_.tz else "TIMESTAMP"
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_):
        return f"{sql_type_name(type_.value_type)}[]"
    for check, name in _TYPE_NAMES:
        if check(type_):
            return name
    return str(type_).upper()


_TYPE_NAMES = (
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_int8, "TINYINT"),
    (pa.types.is_int16, "SMALLINT"),
    (pa.types.is_int32, "INTEGER"),
    (pa.types.is_int64, "BIGINT"),
    (pa.types.is_uint8, "UTINYINT"),
    (pa.types.is_uint16, "USMALLINT"),
    (pa.types.is_uint32, "UINTEGER"),
    (pa.types.is_uint64, "UBIGINT"),
    (pa.types.is_float16, "REAL"),
    (pa.types.is_float32, "REAL"),
    (pa.types.is_float64, "DOUBLE"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t), "VARCHAR"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t), "BLOB"),
    (pa.types.is_fixed_size_binary, "BLOB"),
    (pa.types.is_date, "DATE"),
    (pa.types.is_time, "TIME"),
    (pa.types.is_duration, "INTERVAL"),
    (pa.types.is_interval, "INTERVAL"),
    (pa.types.is_struct, "STRUCT"),
    (pa.types.is_map, "MAP"),
    (pa.types.is_null, "NULL"),
)


def _is_text(type_: pa.DataType) -> bool:
    checks = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    return any(check(type_) for check in checks)


@lru_cache(maxsize=256)
def like_matcher(pattern: str) -> re.Pattern[str]:
    """A regex for a metadata LIKE pattern: ``%`` any run, ``_`` one character, ``\\`` escapes.

    Case-sensitive, as SQL LIKE is; clients pass back names exactly as listings spelled them.
    """
    parts: list[str] = []
    characters = iter(pattern)
    for character in characters:
        if character == "\\":
            parts.append(re.escape(next(characters, "\\")))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return re.compile("".join(parts), re.DOTALL)


def _optional_pattern(command: object, field: str) -> _Matcher:
    if not command.HasField(field):  # type: ignore[attr-defined]
        return _everything
    return _Matcher(like_matcher(getattr(command, field)))


class _Matcher:
    def __init__(self, regex: re.Pattern[str] | None) -> None:
        self._regex = regex

    def __call__(self, name: str) -> bool:
        return self._regex is None or self._regex.fullmatch(name) is not None


_everything = _Matcher(None)


def _catalog_matches(catalog: Catalog, command: sql.CommandGetDbSchemas | sql.CommandGetTables) -> bool:
    # Absent: any catalog. "" asks for objects without a catalog, and every product has one.
    # Compared without case, as SQL compares unquoted names.
    return not command.HasField("catalog") or command.catalog.lower() == catalog.name.lower()


def _batch(schema: pa.Schema, rows: Iterable[list[object]]) -> pa.RecordBatch:
    columns: list[list[object]] = [[] for _ in schema]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return pa.RecordBatch.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )
