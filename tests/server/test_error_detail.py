"""No Flight error carries a traceback or a server file path, in its message or its Detail.

pyarrow turns a Python exception raised by a handler into a status whose Detail is
``traceback.format_exception`` of it: frames with this project's file paths. Every error kind
is provoked here (real queries where the real runtime produces it, injected otherwise) and read
by two real clients: ADBC (the message it shows, and the gRPC trailers it keeps in ``details``)
and pyarrow's Flight client (``str`` and ``extra_info``). The server log keeps the full story.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from adbc_driver_manager import AdbcStatusCode

from flightmesh.connectors.engine_errors import Failure, Problem, mesh_error
from flightmesh.mesh import (
    AccessDenied,
    EngineError,
    EngineUnavailable,
    PrivacyBudgetExhausted,
    QueryCancelled,
    QueryTimeout,
)
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql
from tests.server.conftest import adbc_connect, flight_client, uri_of
from tests.server.doubles import CatalogRuntime
from tests.server.support import Mesh

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "engine text 4711-secret"
_DATA_ERROR = mesh_error("sales", Failure(Problem.CONVERSION, "INTEGER"), SECRET)


def _folders() -> list[str]:
    """Every folder a frame of this server could name: the project, the installed packages."""
    import flightmesh.server

    folders = {str(PROJECT), str(Path(flightmesh.server.__file__).resolve().parents[1]), str(Path(pa.__file__).parent)}
    return sorted(folders)


def _assert_clean(*texts: object) -> None:
    for text in texts:
        shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        assert "Traceback" not in shown, shown
        assert 'File "' not in shown and ".py\"" not in shown and ".pyx" not in shown, shown
        for folder in _folders():
            assert folder not in shown, (folder, shown)
        assert SECRET not in shown, shown


def _adbc_failure(server: FlightMeshServer, query: str, user: str = "alice", password: str | None = None,
                  ) -> adbc_driver_manager.Error:
    with pytest.raises(adbc_driver_manager.Error) as raised, adbc_connect(server, user, password) as connection, \
            connection.cursor() as cursor:
        cursor.execute(query)
        cursor.fetchall()
    error = raised.value
    _assert_clean(str(error), *(value for _, value in error.details or ()))
    return error


# -- real errors of the real runtime -------------------------------------------------------------


@pytest.mark.parametrize(("query", "status"), [
    ("SELEC 1", AdbcStatusCode.INVALID_ARGUMENT),
    ("SELECT order_id FROM sales.orders WHERE order_id = 'abc'", AdbcStatusCode.INVALID_ARGUMENT),
    ("SELECT order_id // 0 FROM sales.orders", AdbcStatusCode.INVALID_ARGUMENT),
    ("SELECT * FROM read_csv('/etc/passwd')", AdbcStatusCode.INVALID_ARGUMENT),
    ("SELECT * FROM sales.nope", AdbcStatusCode.NOT_FOUND),
    ("SELECT nope FROM sales.orders", AdbcStatusCode.NOT_FOUND),
    ("DROP TABLE sales.orders", AdbcStatusCode.UNAUTHORIZED),
], ids=["syntax", "conversion", "division", "forbidden", "unknown-table", "unknown-column", "read-only"])
def test_real_errors_through_adbc(server: FlightMeshServer, query: str, status: AdbcStatusCode) -> None:
    error = _adbc_failure(server, query)
    assert error.status_code == status, str(error)


def test_bad_credentials_through_adbc(server: FlightMeshServer) -> None:
    error = _adbc_failure(server, "SELECT 1", password="wrong")
    assert error.status_code == AdbcStatusCode.UNAUTHENTICATED, str(error)


def _raw(call: Callable[[flight.FlightClient, flight.FlightCallOptions], object],
         server: FlightMeshServer) -> flight.FlightError | pa.ArrowException:
    client, options = flight_client(server)
    try:
        with pytest.raises((flight.FlightError, pa.ArrowException, NotImplementedError)) as raised:
            call(client, options)
    finally:
        client.close()
    error = raised.value
    _assert_clean(str(error), getattr(error, "extra_info", b""))
    return error


def test_a_malformed_command_through_the_flight_client(server: FlightMeshServer) -> None:
    error = _raw(lambda client, options: client.get_flight_info(flight.FlightDescriptor.for_command(b"junk"),
                                                                options), server)
    assert isinstance(error, pa.ArrowInvalid)


def test_an_unknown_action_through_the_flight_client(server: FlightMeshServer) -> None:
    error = _raw(lambda client, options: list(client.do_action(flight.Action("no-such-action", b""), options)),
                 server)
    assert isinstance(error, (NotImplementedError, pa.ArrowNotImplementedError)), type(error)


def test_a_ticket_that_is_not_ours(server: FlightMeshServer) -> None:
    _raw(lambda client, options: client.do_get(flight.Ticket(b"forged"), options).read_all(), server)


def test_unauthenticated_flight_client(server: FlightMeshServer) -> None:
    client = flight.connect(uri_of(server))
    try:
        with pytest.raises(flight.FlightError) as raised:
            client.authenticate_basic_token("alice", "wrong")
    finally:
        client.close()
    _assert_clean(str(raised.value), raised.value.extra_info)


# -- every other kind, injected -------------------------------------------------------------------

INJECTED = [
    AccessDenied("you may not"),
    PrivacyBudgetExhausted("privacy budget of sales is spent"),
    EngineUnavailable("crm", "connection refused", internal=SECRET),
    EngineError("sales", "the engine failed the fragment", internal=SECRET),
    _DATA_ERROR,
    QueryTimeout("the query ran past its time limit"),
    QueryCancelled("the query was cancelled"),
    NotImplementedError("not yet"),
    RuntimeError(SECRET),
]


@pytest.mark.parametrize("error", INJECTED, ids=[type(e).__name__ for e in INJECTED])
def test_injected_errors_at_prepare(mesh: Mesh, serve, error: Exception, caplog) -> None:  # type: ignore[no-untyped-def]
    server = serve(CatalogRuntime(mesh.descriptor, prepare_error=error, canned=pa.table({"answer": [42]})))
    with caplog.at_level(logging.WARNING, logger="flightmesh.server"):
        _adbc_failure(server, "SELECT anything")
        _raw(lambda client, options: client.get_flight_info(
            flight.FlightDescriptor.for_command(_statement_query("SELECT anything")), options), server)
    if type(error) is RuntimeError:
        assert "Traceback" in caplog.text and SECRET in caplog.text  # the operator sees the whole story
    elif getattr(error, "internal", None):
        assert SECRET in caplog.text


@pytest.mark.parametrize("error", [_DATA_ERROR, EngineError("sales", "failed mid-stream", internal=SECRET),
                                   RuntimeError(SECRET)], ids=["DataError", "EngineError", "RuntimeError"])
def test_injected_errors_while_streaming(mesh: Mesh, serve, error: Exception) -> None:  # type: ignore[no-untyped-def]
    canned = pa.table({"n": pa.array(range(100), pa.int64())})
    server = serve(CatalogRuntime(mesh.descriptor, canned=canned, stream_error=error))
    _adbc_failure(server, "SELECT n")



def _statement_query(text: str) -> bytes:
    """A Flight SQL CommandStatementQuery, packed in an Any, as clients send it."""
    return pack(sql.CommandStatementQuery(query=text))
