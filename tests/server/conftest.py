"""Fixtures of the server tests: a test mesh on disk, real servers on free ports, real clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server.support import PASSWORDS, Mesh, build_mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    return build_mesh(tmp_path_factory.mktemp("mesh"))


@pytest.fixture(scope="session")
def runtime(mesh: Mesh) -> Iterator[MeshRuntime]:
    with MeshRuntime.open(mesh.descriptor) as opened:
        yield opened


@pytest.fixture(scope="module")
def server(runtime: MeshRuntime) -> Iterator[FlightMeshServer]:
    """One server per test module over the shared test mesh."""
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0") as running:
        yield running


def uri_of(server: FlightMeshServer) -> str:
    return f"grpc://127.0.0.1:{server.port}"


def adbc_connect(server: FlightMeshServer, user: str = "alice", password: str | None = None) -> Any:
    """An ADBC DB-API connection. autocommit=True: the server has no transactions, and asking
    for manual commit would only produce ADBC's "Cannot disable autocommit" warning."""
    return dbapi.connect(
        uri_of(server),
        db_kwargs={"username": user, "password": PASSWORDS.get(user, "") if password is None else password},
        autocommit=True,
    )


def flight_client(
    server: FlightMeshServer, user: str = "alice"
) -> tuple[flight.FlightClient, flight.FlightCallOptions]:
    """A raw pyarrow Flight client, authenticated, and the call options carrying its token."""
    client = flight.connect(uri_of(server))
    name, value = client.authenticate_basic_token(user, PASSWORDS[user])
    return client, flight.FlightCallOptions(headers=[(name, value)])


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(runtime)`` starts a server on a free port; every server is shut down afterwards."""
    servers: list[FlightMeshServer] = []

    def start(runtime: Any, **options: Any) -> FlightMeshServer:
        server = FlightMeshServer(runtime, "grpc://127.0.0.1:0", **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
