"""A query's merge (the embedded DuckDB joining products) under its own memory limit: it spills
to disk past it, fails with a clear error when even the spill bound is passed, and the server keeps
serving. Through a real server and ADBC; the answer checked against DuckDB over the same files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_manager
import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server.conftest import adbc_connect
from tests.server.support import Mesh, build_mesh

EVENTS = 300_000
# Every (event, product) pair is distinct: a hash table of EVENTS * 20 keys, far above 64MB.
DISTINCT = ("SELECT count(DISTINCT e.event_id * 100 + p.product_id) AS n "
            "FROM telemetry.events e CROSS JOIN catalog.products p")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    return build_mesh(tmp_path_factory.mktemp("merge-memory"), event_rows=EVENTS)


def _mesh(data: Mesh, name: str, spill_limit: str) -> Path:
    descriptor = data.descriptor.with_name(f"{name}.yaml")  # beside the data: same relative paths
    spill = data.directory / f"spill-{name}"
    descriptor.write_text(data.descriptor.read_text() + "settings:\n  merge_memory_limit: 64MB\n"
                          f"  merge_spill_limit: {spill_limit}\n  merge_spill_directory: {spill}\n")
    return descriptor


@pytest.fixture
def served() -> Iterator[Any]:
    opened: list[Any] = []

    def start(descriptor: Path) -> FlightMeshServer:
        runtime = MeshRuntime.open(descriptor)
        server = FlightMeshServer(runtime, "grpc://127.0.0.1:0")
        opened.append((runtime, server))
        return server

    yield start
    for runtime, server in opened:
        server.shutdown()
        runtime.close()


def _oracle(data: Mesh) -> int:
    connection = duckdb.connect()
    try:
        events = data.directory / "data" / "telemetry" / "events.parquet"
        products = data.directory / "data" / "catalog" / "products.parquet"
        rows = connection.execute("SELECT count(DISTINCT e.event_id * 100 + p.product_id) "
                                  f"FROM read_parquet('{events}') e CROSS JOIN read_parquet('{products}') p").fetchall()
        return int(rows[0][0])
    finally:
        connection.close()


def _run(server: FlightMeshServer, sql: str) -> list[tuple[Any, ...]]:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def test_a_merge_past_its_memory_and_spill_limits_fails_clearly_and_the_server_serves_on(
        data: Mesh, served: Any) -> None:
    server = served(_mesh(data, "tight", "16MB"))
    with pytest.raises(adbc_driver_manager.Error) as failed:
        _run(server, DISTINCT)
    message = str(failed.value)
    assert "merge_memory_limit" in message and "merge_spill_limit" in message
    assert "narrow the query" in message
    assert "/" not in message.split("Detail:")[0].replace("[FlightSQL]", "")  # no server path in the message
    # The server keeps serving: the same join, small, on the same server.
    assert _run(server, "SELECT count(*) FROM telemetry.events e JOIN catalog.products p "
                        "ON e.value = p.product_id") == [(EVENTS // 1000 * 20,)]


def test_the_same_merge_spills_to_disk_and_answers_as_the_oracle(data: Mesh, served: Any) -> None:
    descriptor = _mesh(data, "roomy", "4GB")
    server = served(descriptor)
    assert _run(server, DISTINCT) == [(_oracle(data),)]
    spill = data.directory / "spill-roomy"
    assert list(spill.glob("merge-*")), "a merge of this size under 64MB can only have finished by spilling"


def test_the_spill_folders_are_removed_when_the_runtime_closes(data: Mesh) -> None:
    descriptor = _mesh(data, "cleanup", "4GB")
    with MeshRuntime.open(descriptor) as runtime:
        alice = runtime.authenticate("alice", "alice-secret")
        runtime.query(DISTINCT, alice).read_all()
        assert list((data.directory / "spill-cleanup").glob("merge-*"))
    assert not list((data.directory / "spill-cleanup").glob("merge-*"))
