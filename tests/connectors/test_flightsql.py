"""Flight SQL specifics: a flightmesh node as the remote; outage, recovery and credentials."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.flightsql import FlightSQLConnector
from flightmesh.mesh import CancelScope, EngineUnavailable

from .harness import REMOTE_PASSWORD, build_flightsql
from .proxy import Proxy


def test_remote_outage_then_recovery(tmp_path: Path) -> None:
    harness, stop = build_flightsql(tmp_path)
    remote_port = int(harness.connector.uri.rsplit(":", 1)[1])
    proxy = Proxy(remote_port)
    connector = FlightSQLConnector("remote_sales", f"grpc://127.0.0.1:{proxy.port}", username="federator",
                                   password=REMOTE_PASSWORD, pool_size=2)
    query = FragmentQuery('SELECT count(*) AS n FROM "conf"."customers"',
                          expected_schema=pa.schema([("n", pa.int64())]))
    try:
        with pytest.raises(EngineUnavailable) as caught:      # lazy: nothing was opened before this
            connector.execute(query, CancelScope())
        assert caught.value.product == "remote_sales"
        proxy.start()
        assert connector.execute(query, CancelScope()).read_all().to_pylist() == [{"n": 20}]
        proxy.stop()
        with pytest.raises(EngineUnavailable):
            connector.execute(query, CancelScope()).read_all()
        proxy.start()
        assert connector.execute(query, CancelScope()).read_all().to_pylist() == [{"n": 20}]
    finally:
        connector.close()
        proxy.stop()
        stop()


def test_wrong_password_is_unavailable_naming_the_product(tmp_path: Path) -> None:
    harness, stop = build_flightsql(tmp_path)
    connector = FlightSQLConnector("remote_sales", harness.connector.uri, username="federator",
                                   password="wrong")
    try:
        with pytest.raises(EngineUnavailable, match="credentials") as caught:
            connector.table_names()
        assert caught.value.product == "remote_sales"
    finally:
        connector.close()
        stop()


def test_identity_names_the_remote_and_the_user_not_the_secret() -> None:
    by_user = FlightSQLConnector("a", "grpc://127.0.0.1:1", username="u", password="p")
    by_token = FlightSQLConnector("b", "grpc://127.0.0.1:1", token="t0ken")
    assert by_user.identity() == "flightsql://u@127.0.0.1:1"
    assert "t0ken" not in by_token.identity() and by_token.identity() != by_user.identity()
