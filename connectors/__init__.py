"""Connectors: one module per engine kind, all speaking the ``Connector`` protocol of ``base``.

``open_connector(product, settings)`` builds the connector a product's ``engine:`` block asks
for. Server engines (postgresql, mysql, flightsql) are imported on first use, so a mesh of
files never loads their drivers.
"""

from __future__ import annotations

import importlib
from typing import Any

from flightmesh.mesh import ProductSpec, Settings

from .base import Capabilities, Connector, FragmentQuery, KeyDelivery, Pushdown, cast_batches

__all__ = [
    "Capabilities",
    "Connector",
    "FragmentQuery",
    "KeyDelivery",
    "Pushdown",
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
}


def connector_class(kind: str) -> Any:
    module_name, class_name = _KINDS[kind]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)


def open_connector(product: ProductSpec, settings: Settings) -> Connector:
    """The connector for ``product``. Opening is lazy: an unreachable engine fails on first use."""
    engine = product.engine
    timeout = engine.options.get("timeout_seconds", settings.fragment_timeout_seconds)
    if engine.kind == "duckdb":
        from .duckdb import DuckDBConnector

        assert engine.path is not None
        return DuckDBConnector(product.name, engine.path, timeout_seconds=timeout)
    if engine.kind == "sqlite":
        from .sqlite import SQLiteConnector

        assert engine.path is not None
        return SQLiteConnector(product.name, engine.path, timeout_seconds=timeout)
    if engine.kind == "parquet":
        from .parquet import ParquetConnector

        assert engine.path is not None
        return ParquetConnector(product.name, engine.path, [t.source for t in product.tables.values()],
                                timeout_seconds=timeout)
    connector: Connector = connector_class(engine.kind).from_spec(product, settings)
    return connector
