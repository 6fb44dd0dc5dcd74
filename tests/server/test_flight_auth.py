"""Handshake, bearer tokens and the check on every call, through ADBC and raw pyarrow Flight."""

from __future__ import annotations

import base64

import adbc_driver_flightsql.dbapi as dbapi
import adbc_driver_manager
import pyarrow.flight as flight
import pytest

from flightmesh.server.app import FlightMeshServer
from flightmesh.server.auth import MemoryTokenStore
from flightmesh.server.messages import pack, sql
from tests.server.conftest import adbc_connect, flight_client, uri_of
from tests.server.doubles import CatalogRuntime
from tests.server.support import PASSWORDS, Mesh

CATALOGS = flight.FlightDescriptor.for_command(pack(sql.CommandGetCatalogs()))


class _NoopClientAuth(flight.ClientAuthHandler):
    """Lets pyarrow send a Handshake whose only credential is a header from the call options."""

    def authenticate(self, outgoing: flight.ClientAuthSender, incoming: flight.ClientAuthReader) -> None:
        pass

    def get_token(self) -> bytes:
        return b""


def _catalog_names(client: flight.FlightClient, options: flight.FlightCallOptions) -> list[str]:
    info = client.get_flight_info(CATALOGS, options)
    return client.do_get(info.endpoints[0].ticket, options).read_all().column(0).to_pylist()


@pytest.mark.parametrize("user", ["alice", "bob"])  # bob's credentials need base64 padding
def test_adbc_handshake_then_bearer_on_every_call(server: FlightMeshServer, user: str) -> None:
    with adbc_connect(server, user) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchall() == [(1,)]
        assert connection.adbc_get_info()["vendor_name"] == "flightmesh"


def test_handshake_answers_a_bearer_token_in_the_authorization_header(server: FlightMeshServer) -> None:
    client = flight.connect(uri_of(server))
    name, value = client.authenticate_basic_token("alice", PASSWORDS["alice"])
    assert name.lower() == b"authorization"
    scheme, _, token = value.decode().partition(" ")
    assert scheme == "Bearer" and len(token) >= 40
    assert _catalog_names(client, flight.FlightCallOptions(headers=[(name, value)])) == ["acme"]


BAD_CREDENTIALS = [("alice", "wrong"), ("nobody", "alice-secret"), ("alice", "")]


@pytest.mark.parametrize(("user", "password"), BAD_CREDENTIALS)
def test_bad_credentials_are_unauthenticated_through_adbc(
    server: FlightMeshServer, user: str, password: str
) -> None:
    with pytest.raises(adbc_driver_manager.Error) as failure:
        adbc_connect(server, user, password)
    assert failure.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHENTICATED
    assert "invalid username or password" in str(failure.value)


def test_bad_credentials_are_unauthenticated_through_pyarrow(server: FlightMeshServer) -> None:
    client = flight.connect(uri_of(server))
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid username or password"):
        client.authenticate_basic_token("alice", "wrong")


def test_a_call_without_credentials_is_unauthenticated(server: FlightMeshServer) -> None:
    client = flight.connect(uri_of(server))
    with pytest.raises(flight.FlightUnauthenticatedError, match="authentication required"):
        client.get_flight_info(CATALOGS)
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(flight.Ticket(pack(sql.CommandGetCatalogs()))).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.do_action(flight.Action("CloseSession", b"")))


@pytest.mark.parametrize("header", [b"Bearer not-a-token", b"Bearer ", b"Token abc", b"Basic !!!"])
def test_a_bogus_token_is_unauthenticated(server: FlightMeshServer, header: bytes) -> None:
    client = flight.connect(uri_of(server))
    options = flight.FlightCallOptions(headers=[(b"authorization", header)])
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(CATALOGS, options)


def test_the_server_keeps_serving_after_authentication_failures(server: FlightMeshServer) -> None:
    client = flight.connect(uri_of(server))
    for _ in range(3):
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.authenticate_basic_token("alice", "wrong")
    good, options = flight_client(server)
    assert _catalog_names(good, options) == ["acme"]


def test_handshake_accepts_a_bearer_token(server: FlightMeshServer) -> None:
    """JDBC's token= URL property sends the token on Handshake."""
    _, options = flight_client(server)
    client = flight.connect(uri_of(server))
    client.authenticate(_NoopClientAuth(), options=options)
    bogus = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer forged")])
    with pytest.raises(flight.FlightUnauthenticatedError):
        flight.connect(uri_of(server)).authenticate(_NoopClientAuth(), options=bogus)


def test_adbc_with_a_pre_issued_token_skips_the_handshake(server: FlightMeshServer) -> None:
    """sqlalchemy-adbc sends `authorization: Bearer <password>` without any Handshake."""
    _, options = flight_client(server)
    token = dict(options.headers)[b"authorization"].decode()
    with dbapi.connect(uri_of(server), db_kwargs={"adbc.flight.sql.authorization_header": token},
                       autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 2 AS two")
        assert cursor.fetchall() == [(2,)]


def test_basic_credentials_are_accepted_on_any_call(server: FlightMeshServer) -> None:
    basic = base64.b64encode(f"bob:{PASSWORDS['bob']}".encode())
    options = flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + basic)])
    assert _catalog_names(flight.connect(uri_of(server)), options) == ["acme"]


def test_tokens_expire(mesh: Mesh, serve) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    tokens = MemoryTokenStore(ttl_seconds=60, clock=lambda: now[0])
    server = serve(CatalogRuntime(mesh.descriptor), tokens=tokens)
    client, options = flight_client(server)
    now[0] += 59
    assert _catalog_names(client, options) == ["acme"]
    now[0] += 2
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid or expired token"):
        client.get_flight_info(CATALOGS, options)
    assert len(tokens) == 0


def test_a_token_stops_working_when_its_user_is_removed(mesh: Mesh, serve) -> None:  # type: ignore[no-untyped-def]
    runtime = CatalogRuntime(mesh.descriptor)
    server = serve(runtime)
    client, options = flight_client(server, "bob")
    assert _catalog_names(client, options) == ["acme"]
    del runtime.spec.users["bob"]  # type: ignore[attr-defined]
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(CATALOGS, options)


def test_memory_token_store_is_bounded() -> None:
    now = [0.0]
    store = MemoryTokenStore(ttl_seconds=10, clock=lambda: now[0], max_tokens=3)
    tokens = [store.issue(f"user{i}") for i in range(5)]
    assert len(store) == 3
    assert [store.resolve(token) for token in tokens] == [None, None, "user2", "user3", "user4"]
    now[0] = 11
    store.issue("late")
    assert len(store) == 1


def test_memory_token_store_binds_tokens_to_users_and_revokes() -> None:
    store = MemoryTokenStore(ttl_seconds=10, clock=lambda: 0.0)
    alice, bob = store.issue("alice"), store.issue("bob")
    assert alice != bob
    assert (store.resolve(alice), store.resolve(bob), store.resolve("unknown")) == ("alice", "bob", None)
    store.revoke(alice)
    assert store.resolve(alice) is None and store.resolve(bob) == "bob"
