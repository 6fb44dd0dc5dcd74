"""``information_schema``: the SQL standard's catalog views (schemata, tables, columns), per principal.

Column names are the standard's (as PostgreSQL and DuckDB spell them), lower case, so tools that
query ``information_schema`` find what they expect; the comment columns (``schema_comment``,
``table_comment``, ``column_comment``) are MySQL's and DuckDB's extension, carrying the
descriptor's descriptions. The catalog is the mesh, a schema a product, as in Flight SQL.

Listed: the data products the principal may read, and the two discovery schemas (``mesh``,
``information_schema``), whose tables are ``SYSTEM VIEW``s (MySQL's word) beside products'
``BASE TABLE``s. Rows come from the catalog through ``readable_tables``: what a principal may not
read is absent, never flagged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from flightmesh.mesh import Catalog, Principal
from flightmesh.mesh.sqltypes import type_name

from .system_tables import Rows, SystemTable, column_description, readable_tables

__all__ = ["INFORMATION_SCHEMA_TABLES", "information_schema_rows"]

_S, _I = pa.string(), pa.int64()

BASE_TABLE = "BASE TABLE"
SYSTEM_VIEW = "SYSTEM VIEW"

INFORMATION_SCHEMA_TABLES = (
    SystemTable("schemata", "One row per schema (product) you may read", (
        ("catalog_name", _S, "the mesh"),
        ("schema_name", _S, "the product (or discovery schema)"),
        ("schema_owner", _S, "the product's owner"),
        ("schema_comment", _S, "the product's description"),
    )),
    SystemTable("tables", "One row per table you may read", (
        ("table_catalog", _S, "the mesh"),
        ("table_schema", _S, "the table's product"),
        ("table_name", _S, "the table's name"),
        ("table_type", _S, "BASE TABLE for a product's tables, SYSTEM VIEW for discovery tables"),
        ("table_comment", _S, "the table's description"),
    )),
    SystemTable("columns", "One row per column you may see", (
        ("table_catalog", _S, "the mesh"),
        ("table_schema", _S, "the column's product"),
        ("table_name", _S, "the column's table"),
        ("column_name", _S, "the column's name"),
        ("ordinal_position", _I, "position among the columns you may see, from 1"),
        ("column_default", _S, "always NULL: flightmesh is read-only"),
        ("is_nullable", _S, "always YES: every result column is announced nullable"),
        ("data_type", _S, "its SQL type"),
        ("numeric_precision", _I, "digits of a DECIMAL"),
        ("numeric_scale", _I, "digits after the point of a DECIMAL"),
        ("column_comment", _S, "the column's description"),
    )),
)


def _schemata(catalog: Catalog, principal: Principal) -> Iterator[dict[str, object]]:
    public = [p for p in catalog.spec.products.values() if p.access.public]
    for product in catalog.products_for(principal) + public:
        yield {"catalog_name": catalog.name, "schema_name": product.name, "schema_owner": product.owner or None,
               "schema_comment": product.description or None}


def _tables(catalog: Catalog, principal: Principal) -> Iterator[dict[str, object]]:
    for readable in readable_tables(catalog, principal, system=True):
        table = readable.table
        public = catalog.spec.products[table.product].access.public
        yield {"table_catalog": catalog.name, "table_schema": table.product, "table_name": table.name,
               "table_type": SYSTEM_VIEW if public else BASE_TABLE, "table_comment": table.spec.description or None}


def _columns(catalog: Catalog, principal: Principal) -> Iterator[dict[str, object]]:
    for readable in readable_tables(catalog, principal, system=True):
        table = readable.table
        for position, (field, _) in enumerate(readable.columns, start=1):
            decimal = pa.types.is_decimal(field.type)
            yield {
                "table_catalog": catalog.name, "table_schema": table.product, "table_name": table.name,
                "column_name": field.name, "ordinal_position": position, "column_default": None,
                # Every result field is announced nullable (engines disagree on nullability, see
                # executor.execute._announced), so no column can promise NOT NULL to a client.
                "is_nullable": "YES", "data_type": type_name(field.type),
                "numeric_precision": field.type.precision if decimal else None,
                "numeric_scale": field.type.scale if decimal else None,
                "column_comment": column_description(table, field.name),
            }


information_schema_rows: dict[str, Rows] = {"schemata": _schemata, "tables": _tables, "columns": _columns}
