"""Building the catalog: ask each product's engine for its tables' schemas, sizes and statistics.

An engine that lacks a declared table (or a column declared under ``columns:``) makes the
descriptor invalid: the server refuses to start, and ``flightmesh check`` fails. A server engine
that cannot be reached does too, unless the mesh is opened with ``allow_unavailable``
(``--allow-unavailable``): then only its product is unavailable, the mesh serves the rest, and the
product is retried later (``CatalogState.refresh``). A file engine that cannot be read is always
a problem (a restart would not fix it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from flightmesh.connectors import Connector
from flightmesh.connectors.base import HasConstraints
from flightmesh.connectors.privileges import README_SECTION, EngineAccount
from flightmesh.connectors.stats import HasTableStatistics
from flightmesh.mesh import (
    Catalog,
    CatalogTable,
    DescriptorError,
    EngineError,
    EngineUnavailable,
    MeshSpec,
    ProductSpec,
    TableSpec,
    UnknownTable,
)
from flightmesh.mesh.constraints import EngineConstraints, check_keys, resolve_keys
from flightmesh.mesh.statistics import TableStatistics

__all__ = ["AccountReview", "build_catalog", "describe_product", "review_engine_account", "unreachable_problem"]

log = logging.getLogger(__name__)

_FILE_ENGINES = ("duckdb", "sqlite", "parquet")


def describe_product(product: ProductSpec, connector: Connector) -> tuple[dict[str, CatalogTable], list[str]]:
    """The product's tables as the engine reports them, and the problems found (missing tables,
    columns declared under ``columns:`` that the engine's table lacks)."""
    tables: dict[str, CatalogTable] = {}
    problems: list[str] = []
    for name, spec in product.tables.items():
        try:
            schema = connector.describe(spec.source)
        except UnknownTable:
            problems.append(f"{spec.origin}: the {product.engine.kind} engine of product {product.name} "
                            f"has no table {spec.source!r}")
            continue
        try:
            estimate = connector.estimate_rows(spec.source)
        except EngineError:
            estimate = None
        statistics = _statistics(product, spec, connector, schema)
        names = {field.lower() for field in schema.names}
        # (a tagged column is reported by the policy check: its tags would protect nothing)
        problems.extend(f"{column.origin or spec.origin}: table {spec.source!r} of product {product.name} "
                        f"has no column {declared!r}"
                        for declared, column in product.columns.get(name, {}).items()
                        if declared.lower() not in names and not column.tags)
        tables[name] = CatalogTable(
            product=product.name, name=name, spec=spec, schema=schema, row_estimate=estimate,
            columns=dict(product.columns.get(name, {})),
            keys=resolve_keys(product, spec, _engine_keys(product, spec, connector)),
            statistics=statistics,
        )
    return tables, problems


def _statistics(product: ProductSpec, spec: TableSpec, connector: Connector,
                schema: pa.Schema) -> TableStatistics | None:
    """The engine's statistics of the table (``connectors/*_stats.py``), read here with the
    catalog, so planning only ever looks them up. Cached by the connector for the schema
    refreshes in between; the statistics schedule forgets them (``executor.statistics_refresh``)."""
    if not isinstance(connector, HasTableStatistics):
        return None
    try:
        return connector.table_statistics(spec.source, schema)
    except Exception as error:  # statistics only inform estimates: not knowing them blocks nothing
        log.warning("product %s: reading the statistics of %s failed: %s", product.name, spec.source, error)
        return None


def _engine_keys(product: ProductSpec, spec: TableSpec, connector: Connector) -> EngineConstraints | None:
    """The engine's own keys of the table when the descriptor leaves some undeclared; read here,
    once per catalog build, so metadata calls never reach the engine."""
    declared = spec.primary_key is not None and spec.foreign_keys is not None
    if declared or not isinstance(connector, HasConstraints):
        return None
    try:
        return connector.constraints(spec.source)
    except Exception as error:  # keys are documentation: not knowing them never blocks a product
        log.warning("product %s: reading the keys of %s failed: %s", product.name, spec.source, error)
        return None


def build_catalog(spec: MeshSpec, connectors: Mapping[str, Connector], *,
                  allow_unavailable: bool = False) -> Catalog:
    """Describe every product. Raises DescriptorError for every declared table or column an engine
    lacks, and for every engine that cannot be reached unless ``allow_unavailable`` (then a
    server engine's product is only marked unavailable)."""
    tables: dict[str, dict[str, CatalogTable]] = {}
    unavailable: dict[str, str] = {}
    problems: list[str] = []
    for name, product in spec.products.items():
        try:
            product_tables, product_problems = describe_product(product, connectors[name])
        except EngineUnavailable as error:
            if product.engine.kind in _FILE_ENGINES:
                problems.append(f"{product.engine.origin}: {error.detail}")
            elif allow_unavailable:
                log.warning("product %s is unavailable at start: %s", name, error.internal or error.detail)
                unavailable[name] = error.detail
            else:
                problems.append(unreachable_problem(product, error))
            continue
        problems.extend(product_problems)
        tables[name] = product_tables
    problems.extend(_key_problems(tables))
    if problems:
        raise DescriptorError(problems)
    return Catalog(spec, tables, unavailable)


def unreachable_problem(product: ProductSpec, error: EngineUnavailable) -> str:
    """The descriptor problem of a server engine that cannot be reached at open."""
    log.warning("product %s cannot be reached: %s", product.name, error.internal or error.detail)
    return (f"{product.engine.origin}: {error.detail}; to start with product {product.name} unavailable, "
            f"pass --allow-unavailable (MeshRuntime.open(..., allow_unavailable=True))")


def _key_problems(tables: Mapping[str, Mapping[str, CatalogTable]]) -> list[str]:
    """Declared keys naming columns the engines' tables do not have."""
    schemas = {(table.product.lower(), table.name.lower()): table.schema
               for by_name in tables.values() for table in by_name.values()}
    return check_keys(((table.spec, table.schema, table.keys) for by_name in tables.values()
                       for table in by_name.values()), schemas)


@dataclass(frozen=True)
class AccountReview:
    """A product whose engine account may do more than read its tables."""

    problem: str       # "mesh.yaml:12: products.crm.engine: the engine account ..."
    allowed: bool      # engine.allow_privileged: served anyway, with a warning


def review_engine_account(product: ProductSpec, connector: Connector) -> AccountReview | None:
    """Ask the engine what its account may do beyond reading (``connectors.privileges``).

    None when it may do nothing more, or when the engine has no account (files, flightsql).
    Raises EngineUnavailable when the engine cannot be asked.
    """
    if not isinstance(connector, EngineAccount):
        return None
    try:
        excess = connector.excess_privileges()
    except EngineUnavailable:
        raise
    except EngineError as error:
        # Not knowing is not a pass: an account whose grants cannot be read is refused like one
        # that holds too many.
        log.warning("product %s: reviewing the engine account failed: %s", product.name, error.internal or error)
        excess = [f"its privileges could not be reviewed ({error.detail})"]
    if not excess:
        return None
    account = connector.identity().split("://", 1)[-1]
    found = f"the engine account {account} can do more than read the declared tables: {'; '.join(excess)}"
    if product.engine.allow_privileged:
        return AccountReview(f"{product.engine.origin}: {found} (served anyway: allow_privileged is true)",
                             allowed=True)
    return AccountReview(f"{product.engine.origin}: {found}. Give the product an account that may only read "
                         f"its tables ({README_SECTION}), or set allow_privileged: true", allowed=False)
