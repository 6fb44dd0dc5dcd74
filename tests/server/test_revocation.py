"""Token revocation: CloseSession revokes its token, administrators revoke a user's tokens
(Flight action and CLI) — through a real server and real clients — and the revocation record."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as dbapi
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.governance.identity import Revocations, TokenSigner, verify_token
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.auth import MemoryTokenStore
from flightmesh.server.cli import main
from flightmesh.server.messages import pack, session, sql

USERS = {"alice": ["r", "admin"], "bob": ["r"], "carol": ["r"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlightMeshServer]:
    directory = tmp_path_factory.mktemp("revocation")
    with duckdb.connect(str(directory / "p.duckdb")) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS a FROM range(3)")
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: m}\n"
        "products:\n  p: {engine: {kind: duckdb, path: p.duckdb}, tables: {t: {}}, access: {read: [r]}}\n"
        "users:\n" + "".join(f"  {user}: {{password: {user}-pw, roles: {roles}}}\n" for user, roles in USERS.items())
        + "auth: {admin_roles: [admin]}\n"
    )
    with MeshRuntime.open(descriptor) as runtime, FlightMeshServer(runtime, "grpc://127.0.0.1:0") as running:
        yield running


def _uri(server: FlightMeshServer) -> str:
    return f"grpc://127.0.0.1:{server.port}"


def _token(server: FlightMeshServer, user: str) -> flight.FlightCallOptions:
    client = flight.connect(_uri(server))
    return flight.FlightCallOptions(headers=[client.authenticate_basic_token(user, f"{user}-pw")])


def _works(server: FlightMeshServer, options: flight.FlightCallOptions) -> bool:
    client = flight.connect(_uri(server))
    descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(query="SELECT a FROM p.t")))
    try:
        info = client.get_flight_info(descriptor, options)
        return bool(client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 3)
    except flight.FlightUnauthenticatedError:
        return False


def _revoke(server: FlightMeshServer, options: flight.FlightCallOptions, body: bytes) -> dict[str, object]:
    client = flight.connect(_uri(server))
    (result,) = client.do_action(flight.Action("revoke_tokens", body), options)
    answer: dict[str, object] = json.loads(result.body.to_pybytes())
    return answer


class _TokenOnlyHandshake(flight.ClientAuthHandler):  # type: ignore[misc]
    """A Handshake whose only credential is the bearer header of the call options (JDBC's token=)."""

    def authenticate(self, outgoing: flight.ClientAuthSender, incoming: flight.ClientAuthReader) -> None:
        pass

    def get_token(self) -> bytes:
        return b""


def test_close_session_revokes_the_sessions_token(server: FlightMeshServer) -> None:
    options, other = _token(server, "bob"), _token(server, "bob")
    assert _works(server, options)
    client = flight.connect(_uri(server))
    (closed,) = client.do_action(flight.Action("CloseSession", session.CloseSessionRequest().SerializeToString()),
                                 options)
    assert session.CloseSessionResult.FromString(closed.body.to_pybytes()).status == session.CloseSessionResult.CLOSED
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid or expired token"):
        client.get_flight_info(flight.FlightDescriptor.for_command(pack(sql.CommandGetCatalogs())), options)
    with pytest.raises(flight.FlightUnauthenticatedError):  # nor does Handshake take it back
        flight.connect(_uri(server)).authenticate(_TokenOnlyHandshake(), options=options)
    assert _works(server, other)  # bob's other connection has its own token


def test_adbc_close_revokes_the_token_it_held(server: FlightMeshServer) -> None:
    """ADBC sends CloseSession on close: a copy of its header is useless afterwards."""
    options = _token(server, "carol")
    header = dict(options.headers)[b"authorization"].decode()
    connection = dbapi.connect(_uri(server), db_kwargs={"adbc.flight.sql.authorization_header": header},
                               autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchall() == [(1,)]
    connection.close()
    assert not _works(server, options)


def test_an_administrator_revokes_every_token_of_one_user(server: FlightMeshServer) -> None:
    bob_tokens = [_token(server, "bob") for _ in range(2)]
    alice, carol = _token(server, "alice"), _token(server, "carol")
    assert all(_works(server, token) for token in (*bob_tokens, alice, carol))
    assert _revoke(server, alice, json.dumps({"user": "bob"}).encode()) == {"user": "bob", "revoked": True}
    assert not any(_works(server, token) for token in bob_tokens)
    assert _works(server, alice) and _works(server, carol)
    fresh = _token(server, "bob")  # bob logs in again and gets a working token
    assert _works(server, fresh)
    with dbapi.connect(_uri(server), db_kwargs={"username": "bob", "password": "bob-pw"},
                       autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM p.t")
        assert cursor.fetchall() == [(3,)]


def test_only_administrators_may_revoke(server: FlightMeshServer) -> None:
    carol, alice = _token(server, "carol"), _token(server, "alice")
    with pytest.raises(flight.FlightUnauthorizedError, match="administrators"):
        _revoke(server, carol, json.dumps({"user": "alice"}).encode())
    assert _works(server, alice)
    for body in (b"not json", b"[]", b'{"user": ""}', b'{"user": 7}', b""):
        with pytest.raises(pa.ArrowInvalid, match="JSON body"):
            _revoke(server, alice, body)
    basic = base64.b64encode(b"carol:carol-pw")  # Basic on the call itself: same rule
    with pytest.raises(flight.FlightUnauthorizedError):
        _revoke(server, flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + basic)]), b'{"user": "x"}')
    assert "revoke_tokens" in {action.type for action in flight.connect(_uri(server)).list_actions(carol)}


def test_the_cli_revokes(server: FlightMeshServer, capsys: pytest.CaptureFixture[str]) -> None:
    bob = _token(server, "bob")
    assert main(["revoke", "--uri", _uri(server), "-u", "carol", "--password", "carol-pw", "bob"]) == 1
    assert "cannot revoke the tokens of bob: revoke_tokens is reserved to the mesh's administrators" \
        in capsys.readouterr().err
    assert _works(server, bob)
    assert main(["revoke", "--uri", _uri(server), "-u", "alice", "--password", "alice-pw", "bob"]) == 0
    assert "every token of bob" in capsys.readouterr().out
    assert not _works(server, bob)
    assert main(["revoke", "--uri", _uri(server), "-u", "alice", "--password", "nope", "bob"]) == 1
    assert "invalid username or password" in capsys.readouterr().err


# -- the revocation record ------------------------------------------------------------------------------


def test_signed_tokens_carry_an_id_and_an_issue_time() -> None:
    secret = b"s" * 32
    signer = TokenSigner(secret, ttl_seconds=60, clock=lambda: 1_000_000.25)
    first, second = signer.issue("bob"), signer.issue("bob")
    claims = verify_token(secret, first, now=1_000_000.5)
    assert claims.user == "bob" and claims.issued == 1_000_000.25 and claims.expires == 1_000_060
    assert len(claims.token_id) == 32 and claims.token_id != verify_token(secret, second, now=0).token_id


def test_a_user_revocation_refuses_tokens_issued_until_then_and_is_forgotten_after_a_ttl() -> None:
    now = [1_000_000.0]
    signer = TokenSigner(b"s" * 32, ttl_seconds=60, clock=lambda: now[0])
    old, other = signer.issue("bob"), signer.issue("ann")
    now[0] += 1
    signer.revoke_user("bob")
    same_instant = signer.issue("bob")  # issued at the very moment of the revocation: refused too
    now[0] += 0.001
    fresh = signer.issue("bob")
    assert (signer.resolve(old), signer.resolve(same_instant)) == (None, None)
    assert (signer.resolve(fresh), signer.resolve(other)) == ("bob", "ann")
    now[0] += 61
    signer.revoke(signer.issue("cid"))  # any later revocation sweeps what has outlived its purpose
    assert len(signer.revocations) == 1


def test_revoked_ids_are_bounded_and_overflow_only_revokes_more() -> None:
    now = [1000.0]
    signer = TokenSigner(b"s" * 32, ttl_seconds=3600, clock=lambda: now[0])
    signer.revocations = Revocations(ttl_seconds=3600, max_ids=3)
    tokens = []
    for issued in (1000.0, 2000.0, 3000.0, 4000.0, 4500.0):
        now[0] = issued
        tokens.append(signer.issue("bob"))
    for token in tokens[:4]:
        signer.revoke(token)
    # Three ids, and the one that gave way became "bob's tokens until 1000.0 are refused".
    assert len(signer.revocations) == 4
    assert [signer.resolve(token) for token in tokens] == [None, None, None, None, "bob"]


def test_memory_token_store_revokes_a_user() -> None:
    store = MemoryTokenStore(ttl_seconds=10, clock=lambda: 0.0)
    bob, bob2, ann = store.issue("bob"), store.issue("bob"), store.issue("ann")
    store.revoke_user("bob")
    assert (store.resolve(bob), store.resolve(bob2), store.resolve(ann)) == (None, None, "ann")


def test_tokens_from_before_issue_times_are_refused_by_a_user_revocation() -> None:
    import hashlib
    import hmac

    secret = b"s" * 32
    payload = base64.urlsafe_b64encode(json.dumps({"u": "bob", "exp": 10**10, "jti": "x" * 32}).encode())
    body = "fm1." + payload.rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    legacy = f"{body}.{signature.rstrip(b'=').decode()}"
    signer = TokenSigner(secret, ttl_seconds=60)
    assert signer.resolve(legacy) == "bob"
    signer.revoke_user("bob")
    assert signer.resolve(legacy) is None
