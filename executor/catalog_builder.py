"""Building the catalog: ask each product's engine for its tables' schemas and sizes.

File engines that lack a declared table make the descriptor invalid (the server refuses to
start). A server engine that cannot be reached makes only its product unavailable: the mesh
serves the rest, and the product is retried later (``refresh_product``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flightmesh.connectors import Connector
from flightmesh.mesh import (
    Catalog,
    CatalogTable,
    DescriptorError,
    EngineError,
    EngineUnavailable,
    MeshSpec,
    ProductSpec,
    UnknownTable,
)

__all__ = ["build_catalog", "describe_product"]

log = logging.getLogger(__name__)

_FILE_ENGINES = ("duckdb", "sqlite", "parquet")


def describe_product(product: ProductSpec, connector: Connector) -> tuple[dict[str, CatalogTable], list[str]]:
    """The product's tables as the engine reports them, and the problems found (missing tables)."""
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
        tables[name] = CatalogTable(
            product=product.name, name=name, spec=spec, schema=schema, row_estimate=estimate,
            columns=dict(product.columns.get(name, {})),
        )
    return tables, problems


def build_catalog(spec: MeshSpec, connectors: Mapping[str, Connector]) -> Catalog:
    """Describe every product. Raises DescriptorError for problems a restart would not fix."""
    tables: dict[str, dict[str, CatalogTable]] = {}
    unavailable: dict[str, str] = {}
    problems: list[str] = []
    for name, product in spec.products.items():
        try:
            product_tables, product_problems = describe_product(product, connectors[name])
        except EngineUnavailable as error:
            if product.engine.kind in _FILE_ENGINES:
                problems.append(f"{product.engine.origin}: {error.detail}")
            else:
                log.warning("product %s is unavailable at start: %s", name, error.internal or error.detail)
                unavailable[name] = error.detail
            continue
        if product_problems and product.engine.kind not in _FILE_ENGINES:
            # A server engine may be mid-migration; serve what exists and say what does not.
            for problem in product_problems:
                log.warning("%s", problem)
        else:
            problems.extend(product_problems)
        tables[name] = product_tables
    if problems:
        raise DescriptorError(problems)
    return Catalog(spec, tables, unavailable)
