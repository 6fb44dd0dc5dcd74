"""Bounded work per statement, through a real server (issue 8): each limit refuses with a clear
error, quickly, and the server keeps serving the same connection.

The planning-time and parameter-row limits use a runtime over the governed mesh with small
settings; the others the defaults. EXPLAIN's disclosure is checked here through ADBC too (its
rules are in test_explain_policies).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import adbc_driver_manager
import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import load_descriptor
from flightmesh.server.app import FlightMeshServer
from tests.governance.govmesh import GovMesh


def _server_with(gov_mesh: GovMesh, **settings: Any) -> Iterator[FlightMeshServer]:
    spec = load_descriptor(gov_mesh.descriptor)
    runtime = MeshRuntime.open(dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, **settings)))
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        yield server
    runtime.close()


@pytest.fixture(scope="module")
def few_parameter_rows(gov_mesh: GovMesh) -> Iterator[FlightMeshServer]:
    yield from _server_with(gov_mesh, max_parameter_rows=5)


@pytest.fixture(scope="module")
def no_planning_time(gov_mesh: GovMesh) -> Iterator[FlightMeshServer]:
    yield from _server_with(gov_mesh, planning_timeout_seconds=0.001)


@pytest.fixture(scope="module")
def server(gov_runtime: MeshRuntime) -> Iterator[FlightMeshServer]:
    with FlightMeshServer(gov_runtime, "grpc://127.0.0.1:0") as running:
        yield running


def _connect(server: FlightMeshServer, user: str = "ann") -> Any:
    return dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": user, "password": f"{user}-pw"},
                         autocommit=True)


def _refused(cursor: Any, sql: str, parameters: Any = None) -> str:
    started = time.perf_counter()
    with pytest.raises(adbc_driver_manager.Error) as raised:
        cursor.execute(sql, parameters)
        cursor.fetchall()
    assert time.perf_counter() - started < 5  # refused, not worked through (a generous bound)
    cursor.execute("SELECT count(*) FROM crm.customers")  # the connection keeps working
    assert cursor.fetchone()[0] > 0
    return str(raised.value).split(". Detail")[0]


def test_a_chain_of_800_unions_is_refused(server: FlightMeshServer) -> None:
    sql = " UNION ALL ".join(f"SELECT customer_id FROM crm.customers WHERE customer_id = {i}" for i in range(800))
    with _connect(server) as connection, connection.cursor() as cursor:
        message = _refused(cursor, sql)
    assert message.startswith("INVALID_ARGUMENT") and "nested too deeply" in message


def test_an_oversized_statement_is_refused_before_parsing(server: FlightMeshServer) -> None:
    sql = "SELECT " + " + ".join("1" for _ in range(150_000)) + " FROM crm.customers"
    with _connect(server) as connection, connection.cursor() as cursor:
        message = _refused(cursor, sql)
    assert message.startswith("INVALID_ARGUMENT") and "max_statement_chars" in message


def test_too_many_syntax_nodes_are_refused(server: FlightMeshServer) -> None:
    sql = "SELECT customer_id FROM crm.customers WHERE customer_id IN (" + ", ".join(map(str, range(25_000))) + ")"
    with _connect(server) as connection, connection.cursor() as cursor:
        message = _refused(cursor, sql)
    assert message.startswith("INVALID_ARGUMENT") and "max_statement_nodes" in message


def test_parameter_rows_are_bounded(few_parameter_rows: FlightMeshServer) -> None:
    rows = pa.record_batch([pa.array(range(6), pa.int64())], names=["0"])
    with _connect(few_parameter_rows) as connection, connection.cursor() as cursor:
        message = _refused(cursor, "SELECT count(*) FROM crm.customers WHERE customer_id = ?", rows)
    assert message.startswith("INVALID_ARGUMENT") and "max_parameter_rows" in message


def test_planning_counts_against_its_time_limit(no_planning_time: FlightMeshServer) -> None:
    sql = ("SELECT c.region, count(*) FROM crm.customers c JOIN sales.orders o ON o.customer_id = c.customer_id "
           "JOIN hr.employees e ON e.emp_id = c.customer_id GROUP BY 1")
    with _connect(no_planning_time) as connection, connection.cursor() as cursor, \
            pytest.raises(adbc_driver_manager.Error, match=r"TIMEOUT.*planning the query took longer"):
        cursor.execute(sql)


def test_merge_engine_errors_do_not_quote_values(server: FlightMeshServer, gov_mesh: GovMesh) -> None:
    """A conversion failing in the merge names its kind, never the value (a row the user may not see)."""
    sql = ("SELECT CAST(c.status || o.region AS INTEGER) FROM crm.customers c "
           "JOIN sales.orders o ON o.customer_id = c.customer_id")
    with _connect(server, "sam") as connection, connection.cursor() as cursor, \
            pytest.raises(adbc_driver_manager.Error) as raised:
        cursor.execute(sql)
        cursor.fetchall()
    message = str(raised.value)
    values = {str(v) for v in gov_mesh.raw["crm.customers"].column("status").to_pylist()}
    assert "could not be converted" in message
    assert not [value for value in values if f"'{value}" in message], message


def test_explain_through_adbc_names_policies_only(server: FlightMeshServer) -> None:
    with _connect(server, "sam") as connection, connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT * FROM crm.customers")
        text = " ".join(str(value) for row in cursor.fetchall() for value in row if value is not None)
    assert "governed crm.customers" in text and "row filter" in text
    assert "deleted" not in text and "EMEA" not in text and "ssn" not in text
