"""``flightmesh.query_history`` and query ids through a real server and ADBC.

Each outcome is produced the way a user would meet it (a good query, bad SQL, an unknown table, a
value PostgreSQL cannot convert, a query the client cancels) and looked up by the id the client's
error message names. Who sees which rows is checked per user; the history survives a restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_manager
import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.executor.query_history import HistoryEntry, QueryHistory
from flightmesh.executor.query_tracker import outcome_of
from flightmesh.mesh import EngineUnavailable, SqlSyntaxError, UnknownTable
from flightmesh.mesh.descriptor_privacy import StateSpec
from flightmesh.server.app import FlightMeshServer
from tests.connectors.conftest import postgres_database  # noqa: F401 - fixture
from tests.server.ops_mesh import OpsMesh, build_ops_mesh, connect, flight_client, serving

ORDERS = "SELECT item_id, sum(amount) AS total FROM sales.orders GROUP BY item_id ORDER BY item_id"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> OpsMesh:  # noqa: F811
    return build_ops_mesh(tmp_path_factory.mktemp("history"), postgres_database)


@pytest.fixture(scope="module")
def served(mesh: OpsMesh) -> Iterator[tuple[MeshRuntime, FlightMeshServer]]:
    with serving(mesh) as pair:
        yield pair


def _run(server: FlightMeshServer, user: str, sql: str) -> list[tuple[Any, ...]]:
    with connect(server.port, user) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


def _failure(server: FlightMeshServer, user: str, sql: str) -> tuple[Exception, str]:
    """The error the client gets, and the query id its message ends with."""
    with pytest.raises(adbc_driver_manager.Error) as caught:
        _run(server, user, sql)
    found = re.search(r"\(query id (\w+)\)", str(caught.value))
    assert found is not None, str(caught.value)
    return caught.value, found.group(1)


def _history(server: FlightMeshServer, user: str, where: str = "") -> list[dict[str, Any]]:
    sql = f"SELECT * FROM flightmesh.query_history {where} ORDER BY started_at, query_id"
    with connect(server.port, user) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        table: pa.Table = cursor.fetch_arrow_table()
    return table.to_pylist()


def _one(server: FlightMeshServer, user: str, query_id: str) -> dict[str, Any]:
    (row,) = _history(server, user, f"WHERE query_id = '{query_id}'")
    return row


def test_each_outcome_once_under_the_id_the_client_was_given(
        served: tuple[MeshRuntime, FlightMeshServer], mesh: OpsMesh) -> None:
    _, server = served
    before = len([row for row in _history(server, "bob") if "flightmesh.query_history" not in row["sql"]])
    assert _run(server, "bob", ORDERS) == mesh.oracle(ORDERS.replace("sales.orders", "orders"))
    syntax, syntax_id = _failure(server, "bob", "SELEC item_id FROM sales.orders")
    unknown, unknown_id = _failure(server, "bob", "SELECT * FROM sales.no_such_table")
    failed, failed_id = _failure(server, "bob", "SELECT CAST(label AS INTEGER) AS n FROM pgshop.items")
    rows = [row for row in _history(server, "bob") if "flightmesh.query_history" not in row["sql"]]
    assert len(rows) == before + 4   # one row per query: the four just run
    ok = rows[before]
    assert (ok["user_name"], ok["outcome"], ok["rows"], ok["products"], ok["error"]) == \
        ("bob", "ok", len(mesh.oracle(ORDERS.replace("sales.orders", "orders"))), "sales", None)
    assert ok["sql"] == ORDERS and ok["bytes"] > 0 and ok["ended_at"] >= ok["started_at"]
    assert _one(server, "bob", syntax_id)["outcome"] == "refused"
    assert "syntax error" in _one(server, "bob", syntax_id)["error"]
    assert _one(server, "bob", unknown_id)["outcome"] == "refused"
    assert "sales.no_such_table does not exist" in _one(server, "bob", unknown_id)["error"]
    # a value PostgreSQL cannot convert: the query ran and failed in its engine
    assert _one(server, "bob", failed_id)["outcome"] == "failed", _one(server, "bob", failed_id)
    assert _one(server, "bob", failed_id)["products"] == "pgshop"
    ids = [row["query_id"] for row in _history(server, "root")]
    assert len(ids) == len(set(ids)), "a query id recorded twice"
    assert {syntax_id, unknown_id, failed_id} <= set(ids)
    for error in (syntax, unknown, failed):
        assert "query id" in str(error)


def test_a_cancelled_stream_is_cancelled_with_the_rows_it_sent(served: tuple[MeshRuntime, FlightMeshServer]) -> None:
    runtime, server = served
    client, options = flight_client(server.port, "alice")
    try:
        import pyarrow.flight as flight

        from flightmesh.server.messages import pack, sql
        command = sql.CommandStatementQuery(query="SELECT id FROM pgshop.endless")
        info = client.get_flight_info(flight.FlightDescriptor.for_command(pack(command)), options)
        reader = client.do_get(info.endpoints[0].ticket, options)
        first = reader.read_chunk().data
        assert first is not None and first.num_rows > 0
        reader.cancel()
    finally:
        client.close()
    from tests.server.ops_mesh import eventually
    latest = eventually(lambda: [e for e in runtime.tracker.history.entries("alice") if "endless" in e.sql])
    assert latest[0].outcome == "cancelled" and (latest[0].rows or 0) > 0


def test_each_user_sees_their_own_rows_administrators_see_all(served: tuple[MeshRuntime, FlightMeshServer]) -> None:
    _, server = served
    _run(server, "alice", "SELECT count(*) FROM sales.orders")
    _run(server, "bob", "SELECT count(*) FROM pgshop.items")
    _failure(server, "carol", "SELECT count(*) FROM sales.orders")   # carol reads nothing: refused, and hers
    everyone = {row["user_name"] for row in _history(server, "root")}
    assert {"alice", "bob", "carol"} <= everyone
    for user in ("alice", "bob", "carol"):
        assert {row["user_name"] for row in _history(server, user)} == {user}
    # the running queries too: each sees their own look-up only
    look = "SELECT user_name, state FROM flightmesh.queries"
    assert _run(server, "carol", look) == [("carol", "running")]


def test_explain_analyze_names_the_query_id_its_history_row_has(served: tuple[MeshRuntime, FlightMeshServer]) -> None:
    _, server = served
    rows = _run(server, "alice", "EXPLAIN ANALYZE SELECT count(*) FROM pgshop.items WHERE v < 10")
    (named,) = [row for row in rows if row[1] == "query"]
    query_id = named[2]
    entry = _one(server, "alice", query_id)
    assert entry["outcome"] == "ok" and entry["sql"].startswith("EXPLAIN ANALYZE")


def test_the_history_survives_a_restart(mesh: OpsMesh, served: tuple[MeshRuntime, FlightMeshServer]) -> None:
    runtime, server = served
    _run(server, "alice", "SELECT count(*) AS survivor FROM sales.orders")
    (kept,) = [e for e in runtime.tracker.history.entries("alice") if "survivor" in e.sql]
    with MeshRuntime.open(mesh.descriptor) as reopened:
        assert kept.query_id in {e.query_id for e in reopened.tracker.history.entries("alice")}
    assert (mesh.descriptor.parent / "state" / "flightmesh.sqlite").exists()


def test_a_query_id_is_recorded_once(tmp_path: Path) -> None:
    import datetime as dt

    history = QueryHistory(StateSpec(kind="sqlite", path=tmp_path / "state.sqlite"))
    now = dt.datetime.now(dt.UTC)
    entry = HistoryEntry("q1", "alice", "SELECT 1", "ok", now, now, 0, 1, 8, (), None)
    assert history.record(entry) is True
    assert history.record(HistoryEntry("q1", "alice", "SELECT 1", "failed", now, now, 0, 0, 0, (), "x")) is False
    assert [(e.query_id, e.outcome) for e in history.entries()] == [("q1", "ok")]


def test_the_history_in_a_postgresql_state_store(postgres_database: str) -> None:  # noqa: F811
    import datetime as dt

    history = QueryHistory(StateSpec(kind="postgresql", uri=postgres_database))
    try:
        start = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
        for number, user in enumerate(("pg_a", "pg_b", "pg_a")):
            entry = HistoryEntry(f"pg{number}", user, f"SELECT {number}", "ok", start + dt.timedelta(seconds=number),
                                 start + dt.timedelta(seconds=number + 1), 1000, number, 8, ("sales",), None)
            assert history.record(entry) is True
        assert history.record(HistoryEntry("pg0", "pg_a", "again", "failed", start, start, 0, 0, 0, (), "x")) is False
        mine = history.entries("pg_a")
        assert [(e.query_id, e.outcome, e.started_at, e.products) for e in mine] == [
            ("pg2", "ok", start + dt.timedelta(seconds=2), ("sales",)), ("pg0", "ok", start, ("sales",))]
    finally:
        history.close()


@pytest.mark.parametrize(("error", "ran", "outcome"), [
    (SqlSyntaxError("bad", line=1, column=1), False, "refused"),
    (UnknownTable("x.y"), False, "refused"),
    (EngineUnavailable("crm", "down"), False, "failed"),   # the same engine failure is failed wherever it comes
    (EngineUnavailable("crm", "down"), True, "failed"),
    (ValueError("boom"), True, "failed"),
])
def test_outcomes_of_errors(error: BaseException, ran: bool, outcome: str) -> None:
    assert outcome_of(error, ran=ran) == outcome


def test_the_server_log_names_each_query_by_its_id(served: tuple[MeshRuntime, FlightMeshServer],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    _, server = served
    with caplog.at_level(logging.INFO, logger="flightmesh.queries"):
        _run(server, "alice", "SELECT count(*) AS logged FROM sales.orders")
        _, refused_id = _failure(server, "alice", "SELECT * FROM sales.not_logged")
    lines = [record.getMessage() for record in caplog.records if record.name == "flightmesh.queries"]
    (started,) = [line for line in lines if "started" in line and "logged" in line]
    query_id = started.split()[1]
    assert any(line.startswith(f"query {query_id} ok: user alice, 1 rows") for line in lines), lines
    assert any(line.startswith(f"query {refused_id} refused: user alice") for line in lines), lines
    assert {getattr(r, "query_id", None) for r in caplog.records} >= {query_id, refused_id}  # also as a field
