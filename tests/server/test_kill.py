"""Kill by id: the Flight action ``kill`` and ``flightmesh kill``, against a query stalled in PostgreSQL.

A kill must reach the engine: the statement is gone from ``pg_stat_activity`` afterwards, the
client is told who killed its query, the history says cancelled. Only the query's own user and
the administrators may kill it; to anyone else it does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.cli import PASSWORD_VARIABLE, main
from tests.connectors.conftest import postgres_database  # noqa: F401 - fixture
from tests.server.ops_mesh import (
    PASSWORDS,
    Background,
    OpsMesh,
    build_ops_mesh,
    connect,
    engine_queries,
    eventually,
    kill,
    serving,
)

STALL = "SELECT * FROM pgshop.stall"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> OpsMesh:  # noqa: F811
    return build_ops_mesh(tmp_path_factory.mktemp("kill"), postgres_database)


@pytest.fixture(scope="module")
def served(mesh: OpsMesh) -> Iterator[tuple[MeshRuntime, FlightMeshServer]]:
    with serving(mesh) as pair:
        yield pair


def _running(server: FlightMeshServer, user: str) -> list[dict[str, object]]:
    """``user``'s view of flightmesh.queries, without the look-up itself."""
    with connect(server.port, user) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM flightmesh.queries ORDER BY started_at")
        table: pa.Table = cursor.fetch_arrow_table()
    return [row for row in table.to_pylist() if "flightmesh.queries" not in str(row["sql"])]


def _stalled(mesh: OpsMesh, server: FlightMeshServer, user: str) -> tuple[Background, str]:
    """``user``'s query, stuck in PostgreSQL: the client's thread and the query's id."""
    before = {row["query_id"] for row in _running(server, "root")}
    background = Background(server.port, user, STALL)
    fresh = eventually(lambda: [row for row in _running(server, "root")
                                if row["query_id"] not in before and row["state"] == "running"])
    eventually(lambda: engine_queries(mesh.pg_uri, "stall"))
    return background, str(fresh[0]["query_id"])


def test_the_owner_kills_a_query_in_its_engine(served: tuple[MeshRuntime, FlightMeshServer], mesh: OpsMesh) -> None:
    runtime, server = served
    background, query_id = _stalled(mesh, server, "alice")
    (mine,) = _running(server, "alice")
    assert (mine["query_id"], mine["user_name"], mine["sql"], mine["state"], mine["products"]) == \
        (query_id, "alice", STALL, "running", "pgshop")
    assert re.fullmatch(r"f\w*: 0 rows, running", str(mine["fragments"])), mine["fragments"]
    assert _running(server, "bob") == []                 # not bob's to see
    with pytest.raises(pa.ArrowKeyError, match="no running query"):
        kill(server.port, "bob", query_id)               # nor to kill: as if it did not exist
    with pytest.raises(pa.ArrowKeyError, match="no running query"):
        kill(server.port, "bob", "20990101_000000_deadbeef")
    assert engine_queries(mesh.pg_uri, "stall")          # bob's attempts changed nothing
    assert kill(server.port, "alice", query_id) == {"query_id": query_id, "user": "alice", "killed": True}
    background.join()
    assert background.error is not None
    assert "CANCELLED" in str(background.error) and "killed by alice" in str(background.error)
    assert f"(query id {query_id})" in str(background.error)
    eventually(lambda: not engine_queries(mesh.pg_uri, "stall"))   # gone from PostgreSQL
    entry = eventually(lambda: [e for e in runtime.tracker.history.entries("alice") if e.query_id == query_id])[0]
    assert (entry.outcome, entry.error) == ("cancelled", "killed by alice")
    assert runtime.tracker.admission.running == 0


def test_an_administrator_kills_anyones_query_from_the_cli(served: tuple[MeshRuntime, FlightMeshServer],
                                                           mesh: OpsMesh, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    runtime, server = served
    background, query_id = _stalled(mesh, server, "bob")
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORDS["root"])
    assert main(["kill", query_id, "--uri", f"grpc://127.0.0.1:{server.port}", "-u", "root"]) == 0
    assert f"query {query_id} of bob killed" in capsys.readouterr().out
    background.join()
    assert "killed by root" in str(background.error)
    eventually(lambda: not engine_queries(mesh.pg_uri, "stall"))
    entry = eventually(lambda: [e for e in runtime.tracker.history.entries("bob") if e.query_id == query_id])[0]
    assert (entry.outcome, entry.error) == ("cancelled", "killed by root")
    # a query that has ended cannot be killed again: the CLI says so and fails
    assert main(["kill", query_id, "--uri", f"grpc://127.0.0.1:{server.port}", "-u", "root"]) != 0
    assert "no running query" in capsys.readouterr().err
