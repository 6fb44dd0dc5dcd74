"""Connectors: one module per engine kind, all speaking the ``Connector`` protocol of ``base``.

``open_connector(product, settings)`` builds the connector a product's ``engine:`` block asks
for, always through its class's ``from_spec(product, settings)`` (``base.ConnectorKind``), so
every engine kind reads its descriptor options in one place. Modules are imported on first use,
so a mesh of files never loads the server engines' drivers.
"""

from __future__ import annotations

import importlib
from typing import cast

from flightmesh.mesh import ProductSpec, Settings

from .base import (
    Capabilities,
    Connector,
    ConnectorKind,
    Difference,
    FragmentQuery,
    HasDistinctEstimates,
    HasStatementSlots,
    KeyDelivery,
    Pushdown,
    RefreshableStatistics,
    cast_batches,
)

__all__ = [
    "Capabilities",
    "Connector",
    "ConnectorKind",
    "Difference",
    "FragmentQuery",
    "HasDistinctEstimates",
    "HasStatementSlots",
    "KeyDelivery",
    "Pushdown",
    "RefreshableStatistics",
    "cast_batches",
    "connector_class",
    "open_connector",
]

# engine kind -> (module, class). Each class has ``from_spec(product, settings)``.
_KINDS = {
    "duckdb": ("duckdb", "DuckDBConnector"),
    "sqlite": ("sqlite", "SQLiteConnector"),
    "parquet": ("parquet", "ParquetConnector"),
    "postgresql": ("postgresql", "PostgreSQLConnector"),
    "mysql": ("mysql", "MySQLConnector"),
    "flightsql": ("flightsql", "FlightSQLConnector"),
    "spark": ("spark", "SparkConnector"),
}


def connector_class(kind: str) -> ConnectorKind:
    """The connector class of an engine kind (its module imported now)."""
    module_name, class_name = _KINDS[kind]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return cast(ConnectorKind, getattr(module, class_name))


def open_connector(product: ProductSpec, settings: Settings) -> Connector:
    """The connector for ``product``. Opening is lazy: an unreachable engine fails on first use."""
    return connector_class(product.engine.kind).from_spec(product, settings)
