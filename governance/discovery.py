"""The discovery schemas ``mesh`` and ``information_schema``: the catalog as SQL tables, per principal.

Both are answered by flightmesh itself (DESIGN.md §10), never by a product's engine, and every
principal may query them (``AccessSpec.public``) — but each principal's rows are computed from the
catalog for that principal alone, through the same visibility and policies as a query:

* a product the principal may not read has no row anywhere (not in ``mesh.products``, not in
  ``information_schema.schemata``);
* a denied column is absent from ``mesh.columns`` and ``information_schema.columns``, and
  ``mesh.my_access`` never names it; ordinal positions count only the visible columns;
* a masked column is listed, flagged ``masked`` in ``mesh.columns`` and named in ``my_access``;
* a table whose policies cannot be applied (its engine's schema changed under them) is served to
  nobody, so it is not listed either.

Row counts are the catalog's cached estimates: no engine is asked at query time.

``system_products()`` gives the two schemas as products (engine kind ``virtual``) with their
tables and column descriptions; ``discovery_tables(schema, catalog, principal)`` gives, per table,
a function producing the principal's rows (``executor.system_schemas`` binds them per plan).
Lists (tags) are flat strings joined by ", ", like ``flightmesh.audit``, so every client shows them.

``information_schema`` lives in ``information_schema.py``; this module holds ``mesh``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pyarrow as pa

from flightmesh.mesh import AccessSpec, Catalog, ColumnSpec, EngineSpec, Principal, ProductSpec, TableSpec
from flightmesh.mesh.descriptor_discovery import DISCOVERY_SCHEMAS
from flightmesh.mesh.sqltypes import type_name

from .contract_tables import CONTRACT_TABLES, ContractReport, contract_rows
from .information_schema import INFORMATION_SCHEMA_TABLES, information_schema_rows
from .privacy import reads_in_privacy_mode
from .privacy_tables import PRIVACY_BUDGET_TABLE, BudgetLookup, privacy_budget_rows, privacy_summary
from .system_tables import Readable, Rows, SystemTable, column_description, joined, readable_tables

__all__ = ["DISCOVERY_SCHEMAS", "MESH_TABLES", "discovery_tables", "system_products"]


_S, _I, _B = pa.string(), pa.int64(), pa.bool_()

MESH_TABLES = (
    SystemTable("products", "One row per data product you may read", (
        ("product", _S, "the product's name: its SQL schema"),
        ("domain", _S, "the owning domain"),
        ("owner", _S, "who to ask about it"),
        ("description", _S, "what it holds"),
        ("engine", _S, "the kind of engine that serves it"),
        ("tags", _S, "the product's tags, joined by ', '"),
        ("freshness", _S, "declared maximum age of its data, as written (24h)"),
        ("freshness_seconds", _I, "the declared maximum age in seconds"),
        ("freshness_note", _S, "the owner's note on freshness"),
        ("available", _B, "false while its engine cannot be reached"),
    )),
    SystemTable("tables", "One row per table you may read", (
        ("product", _S, "the table's product"),
        ("table_name", _S, "the table's name"),
        ("description", _S, "what one row is"),
        ("tags", _S, "the table's tags, joined by ', '"),
        ("row_estimate", _I, "estimated rows, from the catalog's cached statistics"),
        ("column_count", _I, "columns you may see"),
    )),
    SystemTable("columns", "One row per column you may see", (
        ("product", _S, "the column's product"),
        ("table_name", _S, "the column's table"),
        ("column_name", _S, "the column's name"),
        ("ordinal_position", _I, "position among the columns you may see, from 1"),
        ("data_type", _S, "its SQL type"),
        ("description", _S, "what it holds"),
        ("tags", _S, "the column's tags, joined by ', '"),
        ("masked", _B, "true when a mask changes its values for you"),
    )),
    SystemTable("my_access", "For you, per product you may read: what applies, in words", (
        ("product", _S, "the product"),
        ("access", _S, "full read, or read with policies"),
        ("row_filters", _S, "the row filters that apply to you, by name (NULL: none)"),
        ("masked_columns", _S, "the columns masked for you (NULL: none)"),
        ("summary", _S, "everything above as one sentence"),
    )),
    *CONTRACT_TABLES,   # mesh.contracts, mesh.quality: governance.contract_tables
    PRIVACY_BUDGET_TABLE,  # mesh.privacy_budget: governance.privacy_tables
)

FULL_READ = "full read"
GOVERNED_READ = "read with policies"
PRIVACY_MODE = "privacy mode"


def system_products() -> list[ProductSpec]:
    """``mesh`` and ``information_schema`` as products every principal may name."""
    described = (
        ("mesh", "Discovery: the data products, tables and columns you may read, and what applies to you",
         MESH_TABLES),
        ("information_schema", "The SQL standard's catalog views over what you may read",
         INFORMATION_SCHEMA_TABLES),
    )
    return [
        ProductSpec(
            name=name, engine=EngineSpec(kind="virtual", origin="governance.discovery"),
            tables={t.name: TableSpec(name=t.name, source=t.name, description=t.description) for t in tables},
            columns={t.name: {column: ColumnSpec(description=text) for column, _, text in t.columns}
                     for t in tables},
            description=description, owner="flightmesh", access=AccessSpec(public=True),
            origin="governance.discovery",
        )
        for name, description, tables in described
    ]


def discovery_tables(schema: str, catalog: Catalog, principal: Principal,
                     contracts: Callable[[], list[ContractReport]] = list,
                     budgets: BudgetLookup | None = None) -> dict[str, Callable[[], pa.Table]]:
    """Per table of ``schema``: a function producing ``principal``'s rows from ``catalog`` (and, for
    mesh.contracts and mesh.quality, from the data contracts' last ``contracts()`` reports; for
    mesh.privacy_budget, from the privacy ledger through ``budgets``)."""
    if schema == "mesh":
        producers: dict[str, Rows] = {"products": _products, "tables": _tables, "columns": _columns,
                                      "my_access": _my_access}
        for table in CONTRACT_TABLES:
            producers[table.name] = functools.partial(contract_rows, table.name, reports=contracts)
        producers[PRIVACY_BUDGET_TABLE.name] = functools.partial(
            privacy_budget_rows, lookup=budgets or (lambda name, product: (0.0, "", None)))
        return {t.name: _producer(t, producers[t.name], catalog, principal) for t in MESH_TABLES}
    if schema == "information_schema":
        return {t.name: _producer(t, information_schema_rows[t.name], catalog, principal)
                for t in INFORMATION_SCHEMA_TABLES}
    raise KeyError(schema)


def _producer(table: SystemTable, rows: Rows, catalog: Catalog, principal: Principal) -> Callable[[], pa.Table]:
    return lambda: pa.Table.from_pylist(list(rows(catalog, principal)), schema=table.schema)


def _products(catalog: Catalog, principal: Principal) -> Iterator[dict[str, object]]:
    for product in catalog.products_for(principal):
        freshness = product.freshness
        yield {
            "product": product.name, "domain": product.domain or None, "owner": product.owner or None,
            "description": product.description or None, "engine": product.engine.kind,
            "tags": joined(product.tags) or None,
            "freshness": freshness.max_age if freshness else None,
            "freshness_seconds": freshness.max_age_seconds if freshness else None,
            "freshness_note": (freshness.note or None) if freshness else None,
            "available": product.name not in catalog.unavailable,
        }


def _tables(catalog: Catalog, principal: Principal) -> Iterator[dict[str, object]]:
    for readable in readable_tables(catalog, principal):
        table = readable.table
        yield {
            "product": table.product, "table_name": table.name, "description": table.spec.description or None,
            "tags": joined(table.spec.tags) or None,
            # a privacy-mode reader learns counts only through noise, not from the statistics
            "row_estimate": None if reads_in_privacy_mode(catalog.spec.products[table.product], principal)
            else table.row_estimate,
            "column_count": len(readable.columns),
        }


def _columns(catalog: Catalog, principal: Principal) -> Iterator[dict[str, object]]:
    for readable in readable_tables(catalog, principal):
        table = readable.table
        for position, (field, masked) in enumerate(readable.columns, start=1):
            yield {
                "product": table.product, "table_name": table.name, "column_name": field.name,
                "ordinal_position": position, "data_type": type_name(field.type),
                "description": column_description(table, field.name), "tags": joined(table.tags_of(field.name)) or None,
                "masked": masked,
            }


def _my_access(catalog: Catalog, principal: Principal) -> Iterator[dict[str, object]]:
    by_product: dict[str, list[Readable]] = {}
    for readable in readable_tables(catalog, principal):
        by_product.setdefault(readable.table.product, []).append(readable)
    for product in catalog.products_for(principal):
        tables = by_product.get(product.name, [])
        filters: list[str] = []
        masked: list[str] = []
        withheld = False
        for readable in tables:
            for label, display in zip(readable.policy.applied, readable.policy.display, strict=True):
                name = display.removeprefix("row filter ")
                if label.startswith("row_filter ") and name not in filters:
                    filters.append(name)
                # A deny is never described: not even its column's name may reach the principal.
                withheld = withheld or label.startswith("deny ")
            masked += [f"{readable.table.qualified_name}.{field.name}" for field, is_masked in readable.columns
                       if is_masked]
        governed = bool(filters or masked or withheld)
        parts = [f"row filter {item}" for item in filters]
        if masked:
            parts.append(f"masked: {joined(masked)}")
        if withheld:
            parts.append("some columns are withheld")
        count = f"{len(tables)} table" + ("" if len(tables) == 1 else "s")
        if reads_in_privacy_mode(product, principal):  # noisy aggregates only, whatever the policies
            yield {"product": product.name, "access": PRIVACY_MODE, "row_filters": joined(filters) or None,
                   "masked_columns": joined(masked) or None, "summary": privacy_summary(product, len(tables))}
            continue
        summary = f"{GOVERNED_READ} of {count}: " + "; ".join(parts) if governed else \
            f"{FULL_READ} of {count}: every row and every column"
        yield {
            "product": product.name, "access": GOVERNED_READ if governed else FULL_READ,
            "row_filters": joined(filters) or None, "masked_columns": joined(masked) or None, "summary": summary,
        }
