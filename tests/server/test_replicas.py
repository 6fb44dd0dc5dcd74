"""Two replicas (two MeshRuntime + FlightMeshServer over one descriptor, one FLIGHTMESH_TICKET_KEY):
a ticket or prepared-statement handle made by one is served by the other, for the same user only;
tampered, foreign-key, expired, other-user and pre-reload tickets are refused; privacy-mode
tickets pay their epsilon on every replica that runs them.

Answers are checked against DuckDB over the same data (``Mesh.oracle``), policies against the
policy written by hand.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import Principal, load_descriptor
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.mesh_fingerprint import mesh_fingerprint
from flightmesh.server.messages import pack, sql, unpack_command
from flightmesh.server.ticket_codec import KEY_VARIABLE, TicketCodec
from tests.governance.privacy_mesh import build_privacy_mesh
from tests.oracle import assert_same_result
from tests.server.conftest import flight_client
from tests.server.round_robin import RoundRobinProxy
from tests.server.support import PASSWORDS, Mesh, build_mesh

KEY = "replica-test-key-0123456789abcdef-0123456789"
JOIN = ("SELECT o.order_id, c.country FROM sales.orders o JOIN crm.customers c ON c.customer_id = o.customer_id "
        "WHERE o.amount > 50")
ORACLE_JOIN = ("SELECT o.order_id, c.country FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
               "WHERE o.amount > 50")


@pytest.fixture(scope="module")
def replica_mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    return build_mesh(tmp_path_factory.mktemp("replicas"), event_rows=10)


@pytest.fixture(scope="module")
def replicas(replica_mesh: Mesh) -> Iterator[tuple[FlightMeshServer, FlightMeshServer]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_VARIABLE, KEY)
        with MeshRuntime.open(replica_mesh.descriptor) as first, MeshRuntime.open(replica_mesh.descriptor) as second, \
                FlightMeshServer(first) as one, FlightMeshServer(second) as two:
            yield one, two


def _info(client: flight.FlightClient, options: flight.FlightCallOptions, command: object) -> flight.FlightInfo:
    return client.get_flight_info(flight.FlightDescriptor.for_command(pack(command)), options)


def _ticket(info: flight.FlightInfo) -> flight.Ticket:
    (endpoint,) = info.endpoints
    return endpoint.ticket


def _with_handle(ticket: flight.Ticket, handle: bytes) -> flight.Ticket:
    return flight.Ticket(pack(sql.TicketStatementQuery(statement_handle=handle)))


def _handle(ticket: flight.Ticket) -> bytes:
    command = unpack_command(ticket.ticket)
    assert isinstance(command, sql.TicketStatementQuery)
    return bytes(command.statement_handle)


def test_a_ticket_from_one_replica_is_served_by_the_other(replicas: tuple[FlightMeshServer, FlightMeshServer],
                                                          replica_mesh: Mesh) -> None:
    one, two = replicas
    a, a_options = flight_client(one, "alice")
    b, b_options = flight_client(two, "alice")
    info = _info(a, a_options, sql.CommandStatementQuery(query=JOIN))
    served = b.do_get(_ticket(info), b_options).read_all()
    assert served.schema.equals(info.schema)
    assert_same_result(served, replica_mesh.oracle(ORACLE_JOIN), ordered=False)
    # Single use on the replica that served it.
    with pytest.raises(pa.ArrowKeyError, match="ticket not found"):
        b.do_get(_ticket(info), b_options).read_all()


def test_plans_that_cannot_travel_are_planned_again_for_the_same_user(
        replicas: tuple[FlightMeshServer, FlightMeshServer]) -> None:
    """mesh.* rows are computed per principal (not serializable): the other replica plans the SQL again."""
    one, two = replicas
    a, a_options = flight_client(one, "bob")
    b, b_options = flight_client(two, "bob")
    query = "SELECT product FROM mesh.products WHERE product IN ('sales', 'crm') ORDER BY product"
    info = _info(a, a_options, sql.CommandStatementQuery(query=query))
    served = b.do_get(_ticket(info), b_options).read_all()
    assert served.column("product").to_pylist() == ["sales"]  # bob's role reads sales only (the descriptor)


def test_a_prepared_statement_moves_between_replicas_with_its_parameters(
        replicas: tuple[FlightMeshServer, FlightMeshServer], replica_mesh: Mesh) -> None:
    one, two = replicas
    a, a_options = flight_client(one, "alice")
    b, b_options = flight_client(two, "alice")
    request = sql.ActionCreatePreparedStatementRequest(
        query="SELECT order_id, amount FROM sales.orders WHERE customer_id = ? AND quantity >= ?")
    (result,) = a.do_action(flight.Action("CreatePreparedStatement", pack(request)), a_options)
    any_message = unpack_command(result.body.to_pybytes())
    assert isinstance(any_message, sql.ActionCreatePreparedStatementResult)
    handle = any_message.prepared_statement_handle
    # Parameters bound on A; A answers a new handle (ADBC and JDBC replace theirs with it).
    command = sql.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    batch = pa.record_batch([pa.array([15]), pa.array([2])], names=["0", "1"])
    writer, metadata = a.do_put(flight.FlightDescriptor.for_command(pack(command)), batch.schema, a_options)
    writer.write_batch(batch)
    writer.done_writing()
    rebound = sql.DoPutPreparedStatementResult.FromString(metadata.read().to_pybytes()).prepared_statement_handle
    writer.close()
    # Described on B (which never saw the statement), streamed on A.
    info = _info(b, b_options, sql.CommandPreparedStatementQuery(prepared_statement_handle=rebound))
    served = a.do_get(_ticket(info), a_options).read_all()
    expected = replica_mesh.oracle("SELECT order_id, amount FROM orders WHERE customer_id = 15 AND quantity >= 2")
    assert expected.num_rows > 0
    assert_same_result(served, expected, ordered=False)
    # A replica that never saw the DoPut, given the handle from before it, has no rows: it says so.
    with MeshRuntime.open(one.runtime.descriptor) as third, FlightMeshServer(third) as other:
        c, c_options = flight_client(other, "alice")
        with pytest.raises(pa.ArrowInvalid, match="parameter"):
            _info(c, c_options, sql.CommandPreparedStatementQuery(prepared_statement_handle=handle))
    # Another user's handle is not found on either replica.
    bob, bob_options = flight_client(two, "bob")
    with pytest.raises(pa.ArrowKeyError, match="prepared statement not found"):
        _info(bob, bob_options, sql.CommandPreparedStatementQuery(prepared_statement_handle=rebound))


def test_another_users_ticket_is_refused_and_stays_valid(replicas: tuple[FlightMeshServer, FlightMeshServer]) -> None:
    one, two = replicas
    alice, alice_options = flight_client(one, "alice")
    bob, bob_options = flight_client(two, "bob")
    info = _info(alice, alice_options, sql.CommandStatementQuery(query="SELECT count(*) AS n FROM crm.customers"))
    with pytest.raises(pa.ArrowKeyError, match="ticket not found"):
        bob.do_get(_ticket(info), bob_options).read_all()
    alice_on_two, alice_two_options = flight_client(two, "alice")
    assert alice_on_two.do_get(_ticket(info), alice_two_options).read_all().column("n").to_pylist() == [50]


def test_tampered_and_foreign_key_tickets_are_unauthenticated(
        replicas: tuple[FlightMeshServer, FlightMeshServer]) -> None:
    one, two = replicas
    a, a_options = flight_client(one, "alice")
    b, b_options = flight_client(two, "alice")
    info = _info(a, a_options, sql.CommandStatementQuery(query="SELECT count(*) AS n FROM crm.customers"))
    token = _handle(_ticket(info))
    for position in (10, len(token) // 2, len(token) - 1):  # payload and signature
        altered = bytearray(token)
        altered[position] ^= 0x01
        for client, options in ((a, a_options), (b, b_options)):
            with pytest.raises(flight.FlightUnauthenticatedError, match="signature"):
                client.do_get(_with_handle(_ticket(info), bytes(altered)), options).read_all()
    # A server under another key (a misconfigured replica) refuses it the same way.
    with MeshRuntime.open(one.runtime.descriptor) as third, FlightMeshServer(third) as other:
        other.queries.replicas.codec = TicketCodec(b"another-key-0123456789abcdef-0123456789")
        c, c_options = flight_client(other, "alice")
        with pytest.raises(flight.FlightUnauthenticatedError, match=KEY_VARIABLE):
            c.do_get(_ticket(info), c_options).read_all()
    # Not a flightmesh ticket at all: INVALID_ARGUMENT.
    with pytest.raises(pa.ArrowInvalid, match="not a ticket"):
        b.do_get(_with_handle(_ticket(info), b"a-ticket-from-somewhere-else"), b_options).read_all()
    assert b.do_get(_ticket(info), b_options).read_all().column("n").to_pylist() == [50]  # the real one works


def test_a_ticket_is_refused_when_its_users_roles_changed(replicas: tuple[FlightMeshServer, FlightMeshServer],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An identity provider may change a user's roles without a reload: the plans' roles must still match."""
    one, two = replicas
    a, a_options = flight_client(one, "alice")
    info = _info(a, a_options, sql.CommandStatementQuery(query="SELECT count(*) AS n FROM crm.customers"))
    b, b_options = flight_client(two, "alice")
    demoted = Principal(name="alice", roles=frozenset({"sales"}))   # analyst taken away
    monkeypatch.setattr(two.runtime, "principal_for", lambda name: demoted if name == "alice" else None)
    with pytest.raises(pa.ArrowInvalid, match="other roles"):
        b.do_get(_ticket(info), b_options).read_all()


def test_an_expired_ticket_is_refused(replicas: tuple[FlightMeshServer, FlightMeshServer]) -> None:
    one, two = replicas
    a, a_options = flight_client(one, "alice")
    info = _info(a, a_options, sql.CommandStatementQuery(query="SELECT 1 AS one"))
    later = TicketCodec(KEY.encode(), clock=lambda: time.time() + two.runtime.settings.ticket_ttl_seconds + 60)
    saved = two.queries.replicas.codec
    two.queries.replicas.codec = later  # B's clock, past the ticket's expiry
    try:
        b, b_options = flight_client(two, "alice")
        with pytest.raises(flight.FlightUnauthenticatedError, match="expired"):
            b.do_get(_ticket(info), b_options).read_all()
    finally:
        two.queries.replicas.codec = saved
    b, b_options = flight_client(two, "alice")
    assert b.do_get(_ticket(info), b_options).read_all().column("one").to_pylist() == [1]


def test_a_ticket_from_before_a_policy_changing_reload_is_refused(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = build_mesh(tmp_path, event_rows=10)
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    query = "SELECT order_id FROM sales.orders"
    with MeshRuntime.open(mesh.descriptor) as first, MeshRuntime.open(mesh.descriptor) as second, \
            FlightMeshServer(first) as one, FlightMeshServer(second) as two:
        a, a_options = flight_client(one, "bob")
        b, b_options = flight_client(two, "bob")
        before_a = _info(a, a_options, sql.CommandStatementQuery(query=query))
        before_b = _info(b, b_options, sql.CommandStatementQuery(query=query))
        # The new policy: bob's role sees only the first ten orders.
        text = mesh.descriptor.read_text()
        policy = ("    policies:\n      row_filters:\n"
                  "        - {table: orders, where: \"order_id <= 10\", for: [sales]}\n")
        marker = "    access: {read: [analyst, sales]}\n"
        assert marker in text
        mesh.descriptor.write_text(text.replace(marker, marker + policy, 1))
        assert first.reload().applied and second.reload().applied
        # Each ticket refused on its own replica (plans kept in memory) and on the other (plans restored).
        for client, options, info in ((a, a_options, before_a), (b, b_options, before_b),
                                      (b, b_options, before_a), (a, a_options, before_b)):
            with pytest.raises(pa.ArrowInvalid, match="earlier version of the mesh"):
                client.do_get(_ticket(info), options).read_all()
        fresh = _info(a, a_options, sql.CommandStatementQuery(query=query))
        served = b.do_get(_ticket(fresh), b_options).read_all()
        assert sorted(served.column("order_id").to_pylist()) == list(range(1, 11))


def _privacy_client(server: FlightMeshServer, user: str, password: str) -> tuple[flight.FlightClient,
                                                                                 flight.FlightCallOptions]:
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    name, value = client.authenticate_basic_token(user, password)
    return client, flight.FlightCallOptions(headers=[(name, value)])


def test_a_privacy_ticket_pays_on_every_replica_that_runs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    descriptor = build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)  # one SQLite ledger beside it
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    query = "SELECT region, COUNT(*) AS n FROM sales.orders GROUP BY region"
    with MeshRuntime.open(descriptor) as first, MeshRuntime.open(descriptor) as second, \
            FlightMeshServer(first) as one, FlightMeshServer(second) as two:
        def remaining() -> float:
            return float(first.privacy.ledger.state("rita", "sales", 1.0, "day").remaining)

        a, a_options = _privacy_client(one, "rita", "r")
        b, b_options = _privacy_client(two, "rita", "r")
        info = _info(a, a_options, sql.CommandStatementQuery(query=query))
        assert remaining() == pytest.approx(1.0)   # a ticket releases nothing
        assert b.do_get(_ticket(info), b_options).read_all().num_rows == 4
        assert remaining() == pytest.approx(0.95)
        assert a.do_get(_ticket(info), a_options).read_all().num_rows == 4  # the issuer's own run pays too
        assert remaining() == pytest.approx(0.90)
        with pytest.raises(pa.ArrowKeyError, match="ticket not found"):
            b.do_get(_ticket(info), b_options).read_all()  # and B runs it once only
        assert remaining() == pytest.approx(0.90)


def test_the_fingerprint_ignores_where_the_mesh_lives_but_not_its_policies(replica_mesh: Mesh, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(replica_mesh.directory, elsewhere)
    here = mesh_fingerprint(load_descriptor(replica_mesh.descriptor))
    assert mesh_fingerprint(load_descriptor(elsewhere / replica_mesh.descriptor.name)) == here
    descriptor = elsewhere / replica_mesh.descriptor.name
    text = descriptor.read_text()
    grant = "    access: {read: [analyst]}\n"
    assert grant in text
    descriptor.write_text(text.replace(grant, "    access: {read: [analyst, sales]}\n", 1))  # crm granted to bob
    assert mesh_fingerprint(load_descriptor(descriptor)) != here


def test_a_ticket_key_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match=f"{KEY_VARIABLE} must be at least 32 bytes"):
        TicketCodec.from_environment({KEY_VARIABLE: "short"})


def test_adbc_through_a_round_robin_balancer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ADBC behind a per-call round-robin proxy (as Envoy balances gRPC): prepare, bind, describe and
    stream land on alternating replicas, and the answers are the oracle's."""
    mesh = build_mesh(tmp_path, event_rows=10)
    # One bearer-token secret for both (README): a token from one replica's handshake is good on the other.
    with mesh.descriptor.open("a") as descriptor:
        descriptor.write("auth:\n  token_secret: replica-token-secret-0123456789abcdef\n")
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    with MeshRuntime.open(mesh.descriptor) as first, MeshRuntime.open(mesh.descriptor) as second, \
            FlightMeshServer(first) as one, FlightMeshServer(second) as two, \
            RoundRobinProxy([f"127.0.0.1:{one.port}", f"127.0.0.1:{two.port}"]) as proxy:
        connection = dbapi.connect(f"grpc://127.0.0.1:{proxy.port}", autocommit=True,
                                   db_kwargs={"username": "alice", "password": PASSWORDS["alice"]})
        try:
            with connection.cursor() as cursor:
                for customer, quantity in ((15, 2), (8, 1), (22, 3)):
                    cursor.execute("SELECT order_id, amount FROM sales.orders WHERE customer_id = ? AND quantity >= ?",
                                   (customer, quantity))
                    expected = mesh.oracle("SELECT order_id, amount FROM orders "
                                           f"WHERE customer_id = {customer} AND quantity >= {quantity}")
                    assert_same_result(cursor.fetch_arrow_table(), expected, ordered=False)
                cursor.execute(JOIN)
                assert_same_result(cursor.fetch_arrow_table(), mesh.oracle(ORACLE_JOIN), ordered=False)
        finally:
            connection.close()
        assert min(proxy.served.values()) >= 5, proxy.served  # both replicas did real work
