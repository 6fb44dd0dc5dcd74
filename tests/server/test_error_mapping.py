"""Every mapping of ``flightmesh.server.errors``, observed from a real ADBC client.

Errors the real runtime produces on bad input are provoked with real queries. The rest (engine
failures, timeouts, budgets, bugs) are injected through ``CatalogRuntime``, whose ``prepare``
raises what it is told. Either way the server must keep serving afterwards, and the client must
never see an engine's internal message or a chained exception.
"""

from __future__ import annotations

import logging
import re
import shutil

import adbc_driver_manager
import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import (
    AccessDenied,
    EngineError,
    EngineUnavailable,
    ParameterError,
    PrivacyBudgetExhausted,
    QueryCancelled,
    QueryTimeout,
    ReadOnlyViolation,
)
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.errors import BadRequest, to_flight_error
from tests.server.conftest import adbc_connect
from tests.server.doubles import CatalogRuntime
from tests.server.support import Mesh, build_mesh

SECRET = "row value 4711-secret"  # what an engine might echo; must never reach the client


def _failure(server: FlightMeshServer, query: str, user: str = "alice") -> adbc_driver_manager.Error:
    with adbc_connect(server, user) as connection, connection.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error) as failure:
            cursor.execute(query)
            cursor.fetch_arrow_table()
        # The server keeps serving, on the same connection.
        cursor.execute("SELECT 42 AS answer")
        assert cursor.fetchall() == [(42,)]
    _assert_clean(str(failure.value))
    return failure.value


def _assert_clean(message: str) -> None:
    assert SECRET not in message
    assert "During handling of the above exception" not in message
    assert "direct cause" not in message
    assert message.count("Traceback") <= 1


@pytest.mark.parametrize(("query", "status", "text"), [
    ("SELEC order_id FROM sales.orders", AdbcStatusCode.INVALID_ARGUMENT, "line 1, column"),
    ("SELECT * FROM read_csv('/etc/passwd')", AdbcStatusCode.INVALID_ARGUMENT, "read_csv"),
    ("SELECT * FROM sales.nope", AdbcStatusCode.NOT_FOUND, "sales.nope does not exist"),
    ("SELECT nope FROM sales.orders", AdbcStatusCode.NOT_FOUND, "column nope does not exist"),
    ("DROP TABLE sales.orders", AdbcStatusCode.UNAUTHORIZED, "read-only"),
    ("INSERT INTO sales.orders VALUES (1, 1, 1, 1, 1.0, DATE '2024-01-01')", AdbcStatusCode.UNAUTHORIZED,
     "read-only"),
])
def test_bad_queries(server: FlightMeshServer, query: str, status: AdbcStatusCode, text: str) -> None:
    error = _failure(server, query)
    assert error.status_code == status
    assert text in str(error)


def test_an_ungranted_table_fails_exactly_like_a_missing_one(server: FlightMeshServer) -> None:
    ungranted = _failure(server, "SELECT * FROM crm.customers", user="bob")
    missing = _failure(server, "SELECT * FROM crm.nothing_here", user="bob")
    assert ungranted.status_code == missing.status_code == AdbcStatusCode.NOT_FOUND
    # Each failure names its own query id; apart from it and the table's name, not one character differs.
    assert str(ungranted).replace("customers", "X") == str(missing).replace("nothing_here", "X") \
        .replace(_query_id(missing), _query_id(ungranted))


def _query_id(error: Exception) -> str:
    found = re.search(r"\(query id (\w+)\)", str(error))
    assert found is not None, str(error)
    return found.group(1)


def test_a_product_whose_file_disappeared_is_unavailable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mesh = build_mesh(tmp_path, event_rows=10)
    with MeshRuntime.open(mesh.descriptor) as runtime, FlightMeshServer(runtime) as server:
        shutil.rmtree(mesh.directory / "data" / "catalog")
        error = _failure(server, "SELECT title FROM catalog.products")
        assert error.status_code == AdbcStatusCode.IO  # ADBC's name for gRPC UNAVAILABLE
        assert "catalog" in str(error)
        with adbc_connect(server) as connection, connection.cursor() as cursor:  # other products still serve
            cursor.execute("SELECT count(*) FROM sales.orders")
            assert cursor.fetchall() == [(500,)]


INJECTED = [
    (AccessDenied("you may not"), AdbcStatusCode.UNAUTHORIZED, "you may not"),
    (ReadOnlyViolation("flightmesh is read-only"), AdbcStatusCode.UNAUTHORIZED, "read-only"),
    (PrivacyBudgetExhausted("privacy budget of sales is spent"), AdbcStatusCode.UNAUTHORIZED, "budget"),
    (ParameterError("expected 2 parameters"), AdbcStatusCode.INVALID_ARGUMENT, "expected 2 parameters"),
    (EngineUnavailable("crm", "connection refused", internal=SECRET), AdbcStatusCode.IO, "product crm"),
    (EngineError("sales", "the engine failed the fragment", internal=SECRET), AdbcStatusCode.INTERNAL,
     "product sales: the engine failed the fragment"),
    (QueryTimeout("the query ran past its time limit"), AdbcStatusCode.TIMEOUT, "time limit"),
    (QueryCancelled("the query was cancelled"), AdbcStatusCode.CANCELLED, "cancelled"),
    (RuntimeError(SECRET), AdbcStatusCode.INTERNAL, "internal error in flightmesh (incident"),
]


@pytest.mark.parametrize(("error", "status", "text"), INJECTED, ids=[type(e[0]).__name__ for e in INJECTED])
def test_injected_errors_at_prepare(mesh: Mesh, serve, error, status, text, caplog) -> None:  # type: ignore[no-untyped-def]
    runtime = CatalogRuntime(mesh.descriptor, prepare_error=error, canned=pa.table({"answer": [42]}))
    server = serve(runtime)
    with caplog.at_level(logging.WARNING, logger="flightmesh.server"):
        failure = _failure_injected(server)
    assert failure.status_code == status
    assert text in str(failure)
    if isinstance(error, EngineError) or type(error) is RuntimeError:
        assert SECRET in caplog.text  # the operator sees what the client must not


def _failure_injected(server: FlightMeshServer) -> adbc_driver_manager.Error:
    runtime = server.runtime
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error) as failure:
            cursor.execute("SELECT anything")
        runtime.prepare_error = None  # type: ignore[attr-defined]
        cursor.execute("SELECT anything")  # the server keeps serving
        assert cursor.fetchall() == [(42,)]
    _assert_clean(str(failure.value))
    return failure.value


@pytest.mark.parametrize(("error", "status"), [
    (EngineError("sales", "the engine failed mid-stream", internal=SECRET), AdbcStatusCode.INTERNAL),
    (EngineUnavailable("sales", "the file went away", internal=SECRET), AdbcStatusCode.IO),
    (QueryTimeout("the query ran past its time limit"), AdbcStatusCode.TIMEOUT),
])
def test_injected_errors_while_streaming(mesh: Mesh, serve, error, status) -> None:  # type: ignore[no-untyped-def]
    canned = pa.table({"n": pa.array(range(100), pa.int64())})
    server = serve(CatalogRuntime(mesh.descriptor, canned=canned, stream_error=error))
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT n")
        with pytest.raises(adbc_driver_manager.Error) as failure:
            cursor.fetch_arrow_table()
    assert failure.value.status_code == status
    assert str(error) in str(failure.value)
    _assert_clean(str(failure.value))


def test_the_mapping_table() -> None:
    """The Python exception pyarrow turns into each status (the gRPC code is checked above)."""
    import pyarrow.flight as flight

    expected = {
        BadRequest("x"): pa.ArrowInvalid,
        ParameterError("x"): pa.ArrowInvalid,
        AccessDenied("x"): flight.FlightUnauthorizedError,
        PrivacyBudgetExhausted("x"): flight.FlightUnauthorizedError,
        EngineUnavailable("p", "x"): flight.FlightUnavailableError,
        EngineError("p", "x"): flight.FlightInternalError,
        QueryTimeout("x"): flight.FlightTimedOutError,
        QueryCancelled("x"): flight.FlightCancelledError,
        NotImplementedError("x"): NotImplementedError,
        KeyError("x"): flight.FlightInternalError,  # a stray KeyError is a bug, not NOT_FOUND
    }
    for error, kind in expected.items():
        converted = to_flight_error(error)
        assert type(converted) is kind, (error, converted)
