"""Cancelled streams, CancelFlightInfo, session options and CloseSession."""

from __future__ import annotations

import time

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, session, sql
from tests.server.conftest import adbc_connect, flight_client
from tests.server.doubles import CatalogRuntime
from tests.server.support import EVENT_ROWS, Mesh

EVENTS = "SELECT event_id, value FROM telemetry.events"


def _descriptor(message) -> flight.FlightDescriptor:  # type: ignore[no-untyped-def]
    return flight.FlightDescriptor.for_command(pack(message))


def _eventually(condition, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _action(
    client: flight.FlightClient, options: flight.FlightCallOptions, kind: str, body: bytes
) -> list[bytes]:
    return [result.body.to_pybytes() for result in client.do_action(flight.Action(kind, body), options)]


def _slow_stream_started(mesh: Mesh, serve):  # type: ignore[no-untyped-def]
    """A server whose engine takes 30 s per batch after the first, with that first batch read."""
    canned = pa.table({"n": pa.array(range(100), pa.int64())})
    runtime = CatalogRuntime(mesh.descriptor, canned=canned, batch_delay_seconds=30)
    server = serve(runtime)
    client, options = flight_client(server)
    info = client.get_flight_info(_descriptor(sql.CommandStatementQuery(query="SELECT n")), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    assert reader.read_chunk().data.num_rows == 10
    return runtime, server, client, options, info, reader


def test_a_client_that_cancels_mid_stream_stops_the_query(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    info = client.get_flight_info(_descriptor(sql.CommandStatementQuery(query=EVENTS)), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    first = reader.read_chunk().data
    assert 0 < first.num_rows < EVENT_ROWS
    assert _eventually(lambda: len(server.tickets.running()) == 1)
    (running,) = server.tickets.running()
    reader.cancel()
    assert _eventually(lambda: running.scope.cancelled), "the query's CancelScope was not cancelled"
    assert _eventually(lambda: not server.tickets.running())
    client, options = flight_client(server)  # and the server keeps serving
    again = client.get_flight_info(_descriptor(sql.CommandStatementQuery(query="SELECT 1 AS one")), options)
    assert client.do_get(again.endpoints[0].ticket, options).read_all().num_rows == 1


def test_adbc_reading_part_of_a_result_then_closing_stops_the_query(server: FlightMeshServer) -> None:
    with adbc_connect(server) as connection:
        cursor = connection.cursor()
        cursor.execute(EVENTS)
        batches = cursor.fetch_record_batch()
        assert batches.read_next_batch().num_rows > 0
        assert _eventually(lambda: len(server.tickets.running()) == 1)
        (running,) = server.tickets.running()
        cursor.adbc_cancel()
        cursor.close()
    assert _eventually(lambda: running.scope.cancelled)
    assert _eventually(lambda: not server.tickets.running())


def test_a_query_blocked_in_its_engine_is_cancelled_when_the_client_leaves(  # type: ignore[no-untyped-def]
    mesh: Mesh, serve
) -> None:
    """The stream waits inside the engine for its next batch; the watcher notices the client left."""
    runtime, server, _, _, _, reader = _slow_stream_started(mesh, serve)
    started = time.monotonic()
    reader.cancel()
    (scope,) = runtime.cancelled_scopes
    assert _eventually(lambda: scope.cancelled, seconds=5)
    assert time.monotonic() - started < 5
    assert _eventually(lambda: not server.tickets.running())


def test_cancel_flight_info(server: FlightMeshServer) -> None:
    alice, alice_options = flight_client(server, "alice")
    bob, bob_options = flight_client(server, "bob")
    one = _descriptor(sql.CommandStatementQuery(query="SELECT 1 AS one"))
    info = alice.get_flight_info(one, alice_options)
    request = session.CancelFlightInfoRequest(info=info.serialize()).SerializeToString()
    with pytest.raises(pa.ArrowKeyError):  # not bob's to cancel
        _action(bob, bob_options, "CancelFlightInfo", request)
    (answer,) = _action(alice, alice_options, "CancelFlightInfo", request)
    assert session.CancelFlightInfoResult.FromString(answer).status == session.CANCEL_STATUS_CANCELLED
    with pytest.raises(pa.ArrowKeyError, match="ticket not found"):
        alice.do_get(info.endpoints[0].ticket, alice_options).read_all()
    catalogs = alice.get_flight_info(_descriptor(sql.CommandGetCatalogs()), alice_options)
    request = session.CancelFlightInfoRequest(info=catalogs.serialize()).SerializeToString()
    (answer,) = _action(alice, alice_options, "CancelFlightInfo", request)
    assert session.CancelFlightInfoResult.FromString(answer).status == session.CANCEL_STATUS_NOT_CANCELLABLE


def test_cancel_flight_info_of_a_running_stream(mesh: Mesh, serve) -> None:  # type: ignore[no-untyped-def]
    _, _, client, options, info, reader = _slow_stream_started(mesh, serve)
    request = session.CancelFlightInfoRequest(info=info.serialize()).SerializeToString()
    (answer,) = _action(client, options, "CancelFlightInfo", request)
    assert session.CancelFlightInfoResult.FromString(answer).status == session.CANCEL_STATUS_CANCELLED
    # read_chunk, not read_all: pyarrow's read_all turns a CANCELLED status into KeyboardInterrupt.
    with pytest.raises(flight.FlightCancelledError, match="cancelled"):
        while True:
            reader.read_chunk()


def test_adbc_session_schema_and_catalog(server: FlightMeshServer) -> None:
    with adbc_connect(server) as connection:
        assert connection.adbc_current_catalog == "acme"
        connection.adbc_connection.set_options(**{"adbc.connection.db_schema": "sales"})
        assert connection.adbc_current_db_schema == "sales"
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders")  # resolved in the session's schema
            assert cursor.fetchall() == [(500,)]
        with pytest.raises(adbc_driver_manager.Error):
            connection.adbc_connection.set_options(**{"adbc.connection.db_schema": "no_such_product"})
        assert connection.adbc_current_db_schema == "sales"
    with adbc_connect(server, "bob") as connection, pytest.raises(adbc_driver_manager.Error):
        connection.adbc_connection.set_options(**{"adbc.connection.db_schema": "crm"})  # not bob's


def test_session_options_over_raw_flight(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    request = session.SetSessionOptionsRequest()
    request.session_options["schema"].string_value = "crm"
    request.session_options["catalog"].string_value = "elsewhere"
    request.session_options["colour"].string_value = "blue"
    request.session_options["catalog"].string_value = "elsewhere"
    (answer,) = _action(client, options, "SetSessionOptions", request.SerializeToString())
    refused = session.SetSessionOptionsResult.FromString(answer).errors
    errors = {name: error.value for name, error in refused.items()}
    assert errors == {"catalog": session.SetSessionOptionsResult.INVALID_VALUE,
                      "colour": session.SetSessionOptionsResult.INVALID_NAME}
    get = session.GetSessionOptionsRequest().SerializeToString()
    (current,) = _action(client, options, "GetSessionOptions", get)
    values = {name: value.string_value
              for name, value in session.GetSessionOptionsResult.FromString(current).session_options.items()}
    assert values == {"catalog": "acme", "schema": "crm", "sql_dialect": "duckdb"}  # the mesh's default
    unset = session.SetSessionOptionsRequest()
    unset.session_options["schema"].SetInParent()  # a valueless option unsets it
    _action(client, options, "SetSessionOptions", unset.SerializeToString())
    (current,) = _action(client, options, "GetSessionOptions", b"")
    assert set(session.GetSessionOptionsResult.FromString(current).session_options) == {"catalog", "sql_dialect"}


def test_close_session_forgets_statements_tickets_and_options(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    prepared = _action(client, options, "CreatePreparedStatement",
                       pack(sql.ActionCreatePreparedStatementRequest(query="SELECT 1 AS one")))
    assert len(prepared) == 1
    info = client.get_flight_info(_descriptor(sql.CommandStatementQuery(query="SELECT 2 AS two")), options)
    schema_option = session.SetSessionOptionsRequest()
    schema_option.session_options["schema"].string_value = "sales"
    _action(client, options, "SetSessionOptions", schema_option.SerializeToString())
    before = len(server.statements)
    (closed,) = _action(client, options, "CloseSession", session.CloseSessionRequest().SerializeToString())
    assert session.CloseSessionResult.FromString(closed).status == session.CloseSessionResult.CLOSED
    assert len(server.statements) == before - 1
    # CloseSession revokes the session's token (issue 8): the same user logs in again.
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(_descriptor(sql.CommandStatementQuery(query="SELECT 3 AS three")), options)
    client, options = flight_client(server)
    with pytest.raises(pa.ArrowKeyError):
        client.do_get(info.endpoints[0].ticket, options).read_all()
    (current,) = _action(client, options, "GetSessionOptions", b"")
    assert "schema" not in session.GetSessionOptionsResult.FromString(current).session_options
    again = client.get_flight_info(_descriptor(sql.CommandStatementQuery(query="SELECT 3 AS three")), options)
    assert client.do_get(again.endpoints[0].ticket, options).read_all().num_rows == 1


def test_adbc_close_sends_close_session(server: FlightMeshServer) -> None:
    connection = adbc_connect(server)
    cursor = connection.cursor()
    cursor.adbc_prepare("SELECT 1 AS one")
    assert len(server.statements) >= 1
    connection.close()  # closes the cursor's statement, then CloseSession
    assert _eventually(lambda: len(server.statements) == 0)


def test_unknown_actions_and_commands_are_unimplemented(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    for kind in ("BeginTransaction", "CancelQuery", "CreatePreparedSubstraitPlan", "Frobnicate"):
        with pytest.raises(pa.ArrowNotImplementedError):
            _action(client, options, kind, b"")
    with pytest.raises(pa.ArrowNotImplementedError):
        client.get_flight_info(_descriptor(sql.CommandStatementSubstraitPlan()), options)
    with pytest.raises(pa.ArrowNotImplementedError):
        list(client.list_flights(options=options))
    with pytest.raises(pa.ArrowInvalid, match="not a Flight SQL command"):
        client.get_flight_info(flight.FlightDescriptor.for_command(b"\x0a\x03abc"), options)
    with pytest.raises(pa.ArrowInvalid, match="path descriptors"):
        client.get_flight_info(flight.FlightDescriptor.for_path("sales", "orders"), options)
    actions = {action.type for action in client.list_actions(options)}
    assert {"CreatePreparedStatement", "ClosePreparedStatement", "CloseSession"} <= actions
