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
from flightmesh.mesh.like import like_regex
from flightmesh.mesh.sqltypes import type_name

from . import schemas
from .proto import FlightSql_pb2 as sql

__all__ = [
    "MetadataService",
    "like_matcher",
    "sql_type_name",
]

# sqlalchemy-adbc keeps only table_type == "table" (exactly, lower case) in get_table_names; the
# JDBC driver passes types through to GetTables, where they match either case, and JDBC tools
# take the type as free text. So lower case by default serves both (settings.table_type_case).
_TABLE = "TABLE"
_FLIGHT_SQL = "ARROW:FLIGHT:SQL:"


class MetadataService:
    """Answers the catalog commands against the runtime's current catalog."""

    def __init__(self, table_type_case: str = "lower") -> None:
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


# Unsigned integers are listed as the smallest standard type that holds every value: clients
# reflect TYPE_NAME through a fixed table of standard names (sqlalchemy-adbc turns DuckDB's
# UTINYINT/USMALLINT/UINTEGER/UBIGINT into NullType, which SQLAlchemy cannot bind or compare).
_UNSIGNED_NAMES = {pa.uint8(): "SMALLINT", pa.uint16(): "INTEGER", pa.uint32(): "BIGINT",
                   pa.uint64(): "DECIMAL(20,0)"}


def sql_type_name(type_: pa.DataType) -> str:
    """A SQL spelling of an Arrow type, for column listings (``ARROW:FLIGHT:SQL:TYPE_NAME``)."""
    return _UNSIGNED_NAMES.get(type_) or type_name(type_)


def _is_text(type_: pa.DataType) -> bool:
    checks = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    return any(check(type_) for check in checks)


@lru_cache(maxsize=256)
def like_matcher(pattern: str) -> re.Pattern[str]:
    """A regex for a metadata LIKE pattern: ``%`` any run, ``_`` one character, ``\\`` escapes.

    Case-sensitive, as SQL LIKE is; clients pass back names exactly as listings spelled them.
    """
    return re.compile(like_regex(pattern), re.DOTALL)


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
