"""A privacy-mode result over Flight SQL says what it cost and what remains, and the ledger agrees.

The budget is reserved when DoGet starts, before the stream's schema leaves, so that schema
carries the remaining budget after this query (``flightmesh.privacy.remaining``, ``...resets_at``)
beside the cost (``flightmesh.privacy.epsilon``, the noise scale per column). GetFlightInfo spends
nothing, so its schema has the cost and no remaining figure. Every figure is checked against the
ledger as the principal reads it by hand: ``mesh.privacy_budget``.

ADBC's ``execute`` + ``fetch_arrow_table`` / ``fetch_record_batch`` build the result with the
FlightInfo schema (checked with adbc-driver-flightsql 1.13: neither the table, the reader nor its
batches carry the remaining figure), so those reads show the cost only. ADBC's partition API reads
the DoGet stream with the stream's own schema: ``adbc_execute_partitions`` (GetFlightInfo, spends
nothing) then ``adbc_read_partition`` (DoGet) gives a result whose schema carries the remaining
budget, like the raw pyarrow Flight client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql
from flightmesh.server.ticket_codec import KEY_VARIABLE
from tests.governance.privacy_mesh import build_privacy_mesh

QUERY = "SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales.orders GROUP BY region"
REMAINING, RESETS = b"flightmesh.privacy.remaining", b"flightmesh.privacy.resets_at"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FlightMeshServer]:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=0.2)   # four queries a day
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh, FlightMeshServer(mesh, "grpc://127.0.0.1:0") as served:
        yield served


def flight_client(server: FlightMeshServer) -> tuple[flight.FlightClient, flight.FlightCallOptions]:
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    name, value = client.authenticate_basic_token("rita", "r")
    return client, flight.FlightCallOptions(headers=[(name, value)])


def adbc(server: FlightMeshServer) -> Any:
    return dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": "rita", "password": "r"},
                         autocommit=True)


def ledger(server: FlightMeshServer) -> dict[str, Any]:
    """rita's row of mesh.privacy_budget, read through the server like any query."""
    with adbc(server) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT spent, remaining, resets_at FROM mesh.privacy_budget WHERE product = 'sales'")
        (row,) = cursor.fetch_arrow_table().to_pylist()
    return row


def info_of(client: flight.FlightClient, options: flight.FlightCallOptions, query: str) -> flight.FlightInfo:
    command = pack(sql.CommandStatementQuery(query=query))
    return client.get_flight_info(flight.FlightDescriptor.for_command(command), options)


def test_flight_info_carries_the_cost_and_the_stream_what_remains(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    info = info_of(client, options, QUERY)
    announced = info.schema.metadata
    assert announced[b"flightmesh.privacy.epsilon"] == b"0.05"
    assert announced[b"flightmesh.privacy.budget"] == b"0.2 per day"
    assert REMAINING not in announced and RESETS not in announced   # nothing is spent by describing
    assert ledger(server)["spent"] == 0.0

    reader = client.do_get(info.endpoints[0].ticket, options)
    streamed = reader.schema
    table = reader.read_all()
    after = ledger(server)
    assert after["spent"] == pytest.approx(0.05)
    assert float(streamed.metadata[REMAINING]) == pytest.approx(after["remaining"])       # 0.15
    assert datetime.fromisoformat(streamed.metadata[RESETS].decode()) == after["resets_at"]
    assert streamed.metadata[b"flightmesh.privacy.epsilon"] == b"0.05"
    # Only the budget's figures were added: the columns (names, types, noise scales) are FlightInfo's.
    assert list(streamed) == list(info.schema)
    assert streamed.field("n").metadata[b"flightmesh.privacy.noise_scale"] == b"400"        # 2 * 10 / 0.05
    assert table.num_rows == 4 and table.schema.metadata == streamed.metadata

    second = client.do_get(info_of(client, options, QUERY).endpoints[0].ticket, options)
    assert float(second.schema.metadata[REMAINING]) == pytest.approx(0.1) == pytest.approx(ledger(server)["remaining"])
    second.read_all()


def test_adbc_reads_the_cost_from_the_result_and_the_rest_from_the_ledger(server: FlightMeshServer) -> None:
    with adbc(server) as connection, connection.cursor() as cursor:
        cursor.execute(QUERY)
        table = cursor.fetch_arrow_table()
    assert table.schema.metadata[b"flightmesh.privacy.epsilon"] == b"0.05"
    assert table.schema.field("total").metadata[b"flightmesh.privacy.noise_scale"] == b"400000"  # 2*10*1000/0.05
    assert ledger(server)["remaining"] == pytest.approx(0.15)


def test_adbc_partitions_read_the_remaining_budget_from_the_result(server: FlightMeshServer) -> None:
    with adbc(server) as connection, connection.cursor() as cursor:
        cursor.execute(QUERY)
        cursor.fetch_arrow_table()
        partitions, _ = cursor.adbc_execute_partitions(QUERY)   # GetFlightInfo: one endpoint
        assert ledger(server)["spent"] == pytest.approx(0.05)    # describing the second query spent nothing
        cursor.adbc_read_partition(partitions[0])
        table = cursor.fetch_arrow_table()
    after = ledger(server)
    assert after["spent"] == pytest.approx(0.10)
    assert float(table.schema.metadata[REMAINING]) == pytest.approx(after["remaining"])       # 0.1
    assert datetime.fromisoformat(table.schema.metadata[RESETS].decode()) == after["resets_at"]
    assert table.schema.metadata[b"flightmesh.privacy.epsilon"] == b"0.05"
    assert table.schema.field("n").metadata[b"flightmesh.privacy.noise_scale"] == b"400"
    assert table.num_rows == 4


def test_a_stream_failing_before_its_release_gives_the_epsilon_back(server: FlightMeshServer, tmp_path: Path) -> None:
    client, options = flight_client(server)
    client.do_get(info_of(client, options, QUERY).endpoints[0].ticket, options).read_all()
    info = info_of(client, options, QUERY)
    (tmp_path / "sales.duckdb").rename(tmp_path / "sales.moved")   # the engine's file is gone after planning
    reader = client.do_get(info.endpoints[0].ticket, options)
    assert float(reader.schema.metadata[REMAINING]) == pytest.approx(0.1)   # reserved when the stream began
    with pytest.raises(flight.FlightUnavailableError, match="product sales"):
        reader.read_all()
    assert ledger(server)["spent"] == pytest.approx(0.05)   # given back: nothing was released


def test_a_stream_failing_after_its_release_stays_charged(server: FlightMeshServer) -> None:
    def fail_after_first(result: Any, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        try:
            yield next(batches)                   # the noisy values reach the client
            raise ConnectionResetError("the network failed after the first batch")
        finally:
            batches.close()   # type: ignore[attr-defined]  # as pyarrow closes a stream that failed

    client, options = flight_client(server)
    info = info_of(client, options, QUERY)
    kept, server.queries.observe = server.queries.observe, fail_after_first
    try:
        with pytest.raises(flight.FlightInternalError):
            client.do_get(info.endpoints[0].ticket, options).read_all()
    finally:
        server.queries.observe = kept
    assert ledger(server)["spent"] == pytest.approx(0.05)


def test_a_ticket_with_more_rows_than_the_budget_pays_for_is_refused_whole(server: FlightMeshServer) -> None:
    """One release per bound parameter row; all rows are reserved before the stream starts, so a
    budget that covers some rows only answers none of them."""
    statement = "SELECT COUNT(*) AS n FROM sales.orders WHERE year = ?"
    with adbc(server) as connection, connection.cursor() as cursor:
        cursor.execute(statement, parameters=pa.record_batch({"0": [2023, 2024, 2023]}))
        assert cursor.fetch_arrow_table().num_rows == 3
    assert ledger(server)["remaining"] == pytest.approx(0.05)
    with adbc(server) as connection, connection.cursor() as cursor, \
            pytest.raises(dbapi.ProgrammingError, match="privacy budget of product sales is spent"):
        cursor.execute(statement, parameters=pa.record_batch({"0": [2023, 2024]}))
        cursor.fetch_arrow_table()
    assert ledger(server)["remaining"] == pytest.approx(0.05)   # the first row's reservation was given back


def test_rows_that_never_ran_give_their_reservation_back(server: FlightMeshServer, tmp_path: Path) -> None:
    """The first row fails in its engine (given back by the gate); the second never runs (given back
    when the stream ends)."""
    statement = "SELECT COUNT(*) AS n FROM sales.orders WHERE year = ?"
    rows = pa.record_batch({"0": [2023, 2024]})
    with adbc(server) as connection, connection.cursor() as cursor:
        cursor.execute(statement, parameters=rows)   # both rows planned (cached): the next run only executes
        cursor.fetch_arrow_table()
        (tmp_path / "sales.duckdb").rename(tmp_path / "sales.moved")
        with pytest.raises(dbapi.OperationalError, match="product sales"):
            cursor.execute(statement, parameters=rows)
            cursor.fetch_arrow_table()
    assert ledger(server)["spent"] == pytest.approx(0.10)   # the first run's two releases only


def test_a_ticket_redeemed_on_another_replica_says_what_remains_there(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "privacy-transparency-key-0123456789abcdef")
    descriptor = build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=0.2)   # one ledger beside it
    with MeshRuntime.open(descriptor) as first, MeshRuntime.open(descriptor) as second, \
            FlightMeshServer(first, "grpc://127.0.0.1:0") as one, FlightMeshServer(second, "grpc://127.0.0.1:0") as two:
        a, a_options = flight_client(one)
        b, b_options = flight_client(two)
        info = info_of(a, a_options, QUERY)
        reader = b.do_get(info.endpoints[0].ticket, b_options)
        assert float(reader.schema.metadata[REMAINING]) == pytest.approx(0.15)
        reader.read_all()
        assert ledger(one)["remaining"] == pytest.approx(0.15) == pytest.approx(ledger(two)["remaining"])


def test_the_cli_prints_what_the_query_spent_and_what_remains(server: FlightMeshServer,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from flightmesh.server.cli import main

    status = main(["query", "--uri", f"grpc://127.0.0.1:{server.port}", "-u", "rita", "-p", "r", QUERY])
    out = capsys.readouterr().out
    after = ledger(server)
    assert status == 0 and after["spent"] == pytest.approx(0.05)
    footer = out.strip().splitlines()[-2:]
    assert footer[0] == (f"privacy mode: epsilon 0.05 spent of 0.2 per day; {after['remaining']:g} remains, "
                         f"resets {after['resets_at'].isoformat()}")
    assert footer[1] == "Laplace noise scale: n 400, total " + footer[1].rsplit(" ", 1)[-1]
    # Plain results print no such line
    main(["query", "--uri", f"grpc://127.0.0.1:{server.port}", "-u", "rita", "-p", "r", "SELECT 1 AS one"])
    assert "privacy" not in capsys.readouterr().out
