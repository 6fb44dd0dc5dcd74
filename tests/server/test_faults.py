"""Deadlines and cancellation end to end, with a real PostgreSQL that misbehaves.

* a fragment stalled in its engine times out (``fragment_timeout_seconds``) while other queries,
  on the same and other engines, finish with the right answers; its statement is gone from
  PostgreSQL afterwards;
* the server's own limit for a whole query (``query_timeout_seconds``) stops it the same way;
* a client whose deadline passes, and a client that disconnects in the middle of a stream, have
  their engines' statements cancelled;

and each ends in the history with its one outcome.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql
from tests.connectors.conftest import postgres_database  # noqa: F401 - fixture
from tests.server.ops_mesh import (
    Background,
    OpsMesh,
    build_ops_mesh,
    engine_queries,
    eventually,
    flight_client,
    serving,
)

OTHERS = {
    "SELECT v, count(*) AS n FROM pgshop.items GROUP BY v ORDER BY v": "items",
    "SELECT count(*), sum(amount) FROM sales.orders": "orders",
    "SELECT i.v, sum(o.amount) AS total FROM sales.orders AS o JOIN pgshop.items AS i ON i.id = o.item_id "
    "GROUP BY i.v ORDER BY i.v": "join",
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> OpsMesh:  # noqa: F811
    return build_ops_mesh(tmp_path_factory.mktemp("faults"), postgres_database,
                          settings={"fragment_timeout_seconds": 3.0})


@pytest.fixture(scope="module")
def served(mesh: OpsMesh) -> Iterator[tuple[MeshRuntime, FlightMeshServer]]:
    with serving(mesh) as pair:
        yield pair


def _oracle(mesh: OpsMesh, query: str) -> list[tuple[object, ...]]:
    return mesh.oracle(query.replace("sales.orders", "orders").replace("pgshop.items", "items"))


def _outcome(runtime: MeshRuntime, user: str, marker: str) -> str:
    entries = eventually(lambda: [e for e in runtime.tracker.history.entries(user) if marker in e.sql])
    assert len(entries) == 1, entries
    return entries[0].outcome


def _do_get(server: FlightMeshServer, user: str, query: str,
            timeout: float | None = None) -> tuple[flight.FlightClient, flight.FlightStreamReader]:
    client, options = flight_client(server.port, user)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(query=query))),
                                  options)
    call = flight.FlightCallOptions(headers=options.headers, timeout=timeout) if timeout else options
    return client, client.do_get(info.endpoints[0].ticket, call)


def test_a_stalled_fragment_times_out_others_finish_its_engine_query_is_gone(
        served: tuple[MeshRuntime, FlightMeshServer], mesh: OpsMesh) -> None:
    runtime, server = served
    stalled = Background(server.port, "alice", "SELECT count(*) AS stalled FROM pgshop.stall")
    eventually(lambda: engine_queries(mesh.pg_uri, "stall"))
    others = {query: Background(server.port, "bob", query) for query in OTHERS}
    for query, background in others.items():
        background.join()
        assert background.error is None, background.error
        assert background.rows == _oracle(mesh, query), query
    stalled.join()
    assert stalled.error is not None and ("TIMED_OUT" in str(stalled.error) or "TimedOut" in str(stalled.error))
    assert "time limit" in str(stalled.error) and "(query id " in str(stalled.error)
    eventually(lambda: not engine_queries(mesh.pg_uri, "stall"))
    assert _outcome(runtime, "alice", "stalled") == "timeout"
    assert sorted({_outcome(runtime, "bob", query) for query in OTHERS}) == ["ok"]


def test_the_servers_query_timeout_stops_the_engine(tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    mesh = build_ops_mesh(tmp_path / "mesh", postgres_database,
                          settings={"query_timeout_seconds": 2.0, "fragment_timeout_seconds": 600.0})
    with serving(mesh) as (runtime, server):
        stalled = Background(server.port, "alice", "SELECT count(*) AS whole FROM pgshop.stall").join()
        assert "time limit" in str(stalled.error)
        eventually(lambda: not engine_queries(mesh.pg_uri, "stall"))
        assert _outcome(runtime, "alice", "whole") == "timeout"


def test_a_client_deadline_cancels_the_engines_query(served: tuple[MeshRuntime, FlightMeshServer],
                                                     mesh: OpsMesh) -> None:
    runtime, server = served
    client, reader = _do_get(server, "alice", "SELECT id AS deadline FROM pgshop.stall", timeout=1.0)
    try:
        with pytest.raises(flight.FlightTimedOutError):
            reader.read_all()
    finally:
        client.close()
    eventually(lambda: not engine_queries(mesh.pg_uri, "stall"))
    assert _outcome(runtime, "alice", "deadline") == "cancelled"   # the client went away at its deadline


def test_a_client_that_disconnects_mid_stream_has_its_engine_query_cancelled(
        tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    # the default time limits: only the client's leaving may stop this stream
    mesh = build_ops_mesh(tmp_path / "mesh", postgres_database)
    with serving(mesh) as (runtime, server):
        client, reader = _do_get(server, "bob", "SELECT id AS leaving FROM pgshop.endless")
        chunk = reader.read_chunk().data
        assert chunk is not None and chunk.num_rows > 0
        assert engine_queries(mesh.pg_uri, "endless")    # PostgreSQL is still producing rows
        (running,) = runtime.tracker.registry.snapshot()  # and flightmesh.queries shows how far it got
        assert running.rows > 0 and re.fullmatch(r"f\w*: [1-9]\d* rows, running", running.fragments() or ""), \
            running.fragments()
        client.close()                                   # no cancel: the connection just goes,
        del reader                                       # and the client's objects with it
        eventually(lambda: not engine_queries(mesh.pg_uri, "endless"))
        assert _outcome(runtime, "bob", "leaving") == "cancelled"
        assert all("leaving" not in q.sql for q in runtime.tracker.registry.snapshot())
