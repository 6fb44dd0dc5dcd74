"""Optional engine features are declared protocols (``connectors.base``), and every kind is built by from_spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightmesh.connectors import Connector, HasDistinctEstimates, RefreshableStatistics, connector_class
from flightmesh.connectors.base import EngineAccount, HasConstraints
from flightmesh.connectors.flightsql import FlightSQLConnector
from flightmesh.connectors.mysql import MySQLConnector
from flightmesh.connectors.postgresql import PostgreSQLConnector
from flightmesh.connectors.sqlite import SQLiteConnector

# Constructing a connector opens nothing, so none of these needs its engine.
_CONNECTORS = {
    "sqlite": lambda tmp: SQLiteConnector("p", tmp / "x.sqlite"),
    "postgresql": lambda tmp: PostgreSQLConnector("p", "postgresql://u@127.0.0.1:1/db"),
    "mysql": lambda tmp: MySQLConnector("p", "mysql://u@127.0.0.1:1/db"),
    "flightsql": lambda tmp: FlightSQLConnector("p", "grpc://127.0.0.1:1"),
}
_DECLARED = {
    "sqlite": {HasDistinctEstimates, HasConstraints},
    "postgresql": {RefreshableStatistics, EngineAccount, HasConstraints},
    "mysql": {HasDistinctEstimates, RefreshableStatistics, EngineAccount, HasConstraints},
    "flightsql": set(),
}


@pytest.mark.parametrize("kind", sorted(_CONNECTORS))
def test_optional_features_are_declared(kind: str, tmp_path: Path) -> None:
    connector = _CONNECTORS[kind](tmp_path)
    assert isinstance(connector, Connector)
    found = {feature for feature in (HasDistinctEstimates, RefreshableStatistics, EngineAccount, HasConstraints)
             if isinstance(connector, feature)}
    assert found == _DECLARED[kind]
    connector.close()


@pytest.mark.parametrize("kind", ["duckdb", "sqlite", "parquet", "postgresql", "mysql", "flightsql"])
def test_every_kind_has_from_spec(kind: str) -> None:
    assert callable(connector_class(kind).from_spec)
