"""Failed-login throttling: the rules on a fake clock, then through a real server and real clients."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argon2
import duckdb
import jwt
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.governance import identity
from flightmesh.governance.throttle import MAX_BACKOFF, LoginThrottle, LoginThrottled
from flightmesh.mesh import AuthenticationError
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.auth import client_address
from flightmesh.server.messages import pack, sql


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: LoginThrottle, user: str | None, address: str | None, times: int = 1) -> None:
    for _ in range(times):
        throttle.admit(user, address).failed()


def _refusal(throttle: LoginThrottle, user: str | None, address: str | None) -> LoginThrottled:
    with pytest.raises(LoginThrottled) as refused:
        throttle.admit(user, address)
    return refused.value


# -- the rules, on a fake clock ----------------------------------------------------------------------


def test_a_user_is_locked_after_max_failures_then_let_in_after_the_lockout() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, window_seconds=60, lockout_seconds=10, clock=clock)
    _fail(throttle, "bob", "10.0.0.1", times=2)
    throttle.admit("bob", "10.0.0.2").abandon()  # below the limit: admitted
    _fail(throttle, "bob", "10.0.0.3")
    refusal = _refusal(throttle, "bob", "10.0.0.4")  # from anywhere: the user is locked
    assert str(refusal) == "too many failed logins; try again in 10 s" and refusal.retry_after_seconds == 10
    assert isinstance(refusal, AuthenticationError)
    clock.now += 9.5
    assert str(_refusal(throttle, "bob", "10.0.0.4")) == "too many failed logins; try again in 1 s"
    clock.now += 0.5
    throttle.admit("bob", "10.0.0.4").succeeded()


def test_unknown_and_known_names_are_throttled_alike() -> None:
    throttle = LoginThrottle(2, window_seconds=60, lockout_seconds=5, clock=Clock())
    messages = []
    for name in ("bob", "no-such-user"):  # the throttle knows no users: a name is a name
        _fail(throttle, name, None, times=2)
        messages.append(str(_refusal(throttle, name, None)))
    assert messages[0] == messages[1]


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, window_seconds=60, lockout_seconds=10, clock=clock)
    _fail(throttle, "bob", None, times=2)
    clock.now += 61
    _fail(throttle, "bob", None, times=2)
    throttle.admit("bob", None).abandon()


def test_an_address_spraying_many_users_is_locked_but_the_users_are_not() -> None:
    throttle = LoginThrottle(3, window_seconds=60, lockout_seconds=10, clock=Clock())
    for user in ("ann", "bob", "cid"):
        _fail(throttle, user, "203.0.113.9")
    assert "too many failed logins" in str(_refusal(throttle, "dan", "203.0.113.9"))
    throttle.admit("bob", "198.51.100.1").succeeded()  # bob elsewhere: one failure, not locked


def test_locks_double_up_to_the_cap_and_are_forgotten_after_a_quiet_spell() -> None:
    clock = Clock()
    throttle = LoginThrottle(2, window_seconds=60, lockout_seconds=10, clock=clock)
    waits = []
    for _ in range(7):
        _fail(throttle, "bob", None, times=2)
        waits.append(_refusal(throttle, "bob", None).retry_after_seconds)
        clock.now += waits[-1]
    assert waits == [10, 20, 40, 80, 160, 160, 160] and MAX_BACKOFF == 16
    throttle.admit("bob", None).succeeded()  # a success clears failures, not the history of locks
    _fail(throttle, "bob", None, times=2)
    assert _refusal(throttle, "bob", None).retry_after_seconds == 160
    clock.now += 160 + 10 * MAX_BACKOFF  # quiet for the longest lock after the last one ended
    _fail(throttle, "bob", None, times=2)
    assert _refusal(throttle, "bob", None).retry_after_seconds == 10
    clock.now += 10 + 10 * MAX_BACKOFF
    throttle.admit("bob", None).succeeded()
    assert len(throttle) == 0  # nothing left to remember


def test_a_success_clears_only_that_users_failures_from_that_address() -> None:
    throttle = LoginThrottle(3, window_seconds=60, lockout_seconds=10, clock=Clock())
    _fail(throttle, "bob", "10.0.0.1", times=2)
    throttle.admit("bob", "10.0.0.1").succeeded()  # bob mistyped twice, then got it right
    _fail(throttle, "bob", "10.0.0.1", times=2)
    throttle.admit("bob", "10.0.0.1").abandon()  # not locked: the earlier two were forgiven
    # An attacker spraying from one address cannot reset its count by logging into its own account.
    _fail(throttle, "ann", "203.0.113.9")
    _fail(throttle, "cid", "203.0.113.9")
    throttle.admit("mallory", "203.0.113.9").succeeded()
    _fail(throttle, "dan", "203.0.113.9")
    assert "too many failed logins" in str(_refusal(throttle, "eve", "203.0.113.9"))


def test_attempts_in_progress_hold_their_place() -> None:
    """A burst of parallel guesses gets max_failures checks, not one per thread."""
    throttle = LoginThrottle(3, window_seconds=60, lockout_seconds=10, clock=Clock())
    running = [throttle.admit("bob", None) for _ in range(3)]
    assert str(_refusal(throttle, "bob", None)) == "too many login attempts at once; try again in 1 s"
    for attempt in running:
        attempt.failed()
        attempt.failed()  # reported twice: counted once
    assert _refusal(throttle, "bob", None).retry_after_seconds == 10


def test_concurrent_guesses_from_many_threads_get_at_most_max_failures_checks() -> None:
    throttle = LoginThrottle(5, window_seconds=60, lockout_seconds=60)
    checked, refused = [], []
    start = threading.Barrier(32)

    def guess() -> None:
        start.wait()
        for _ in range(20):
            try:
                attempt = throttle.admit("bob", "10.0.0.1")
            except LoginThrottled:
                refused.append(1)
                continue
            checked.append(1)
            time.sleep(0.001)  # the password check
            attempt.failed()

    threads = [threading.Thread(target=guess) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == 5 and len(refused) == 32 * 20 - 5


def test_memory_is_bounded_and_locked_keys_are_evicted_last() -> None:
    clock = Clock()
    throttle = LoginThrottle(2, window_seconds=600, lockout_seconds=60, max_keys=100, clock=clock)
    _fail(throttle, "bob", None, times=2)  # locked; the oldest key
    for number in range(1000):
        clock.now += 0.01
        _fail(throttle, f"guess-{number}" * 500, None)  # long names cost a digest each
    assert len(throttle) <= 100
    assert _refusal(throttle, "bob", None).retry_after_seconds > 0


def test_ipv6_addresses_count_per_64_prefix_and_mapped_ipv4_as_ipv4() -> None:
    throttle = LoginThrottle(2, window_seconds=60, lockout_seconds=10, clock=Clock())
    _fail(throttle, "ann", "2001:db8:1:2::1")
    _fail(throttle, "bob", "2001:db8:1:2:ffff::2")  # same /64: the same subscriber
    _refusal(throttle, "cid", "2001:db8:1:2::3")
    throttle.admit("cid", "2001:db8:1:3::1").abandon()  # another /64
    _fail(throttle, "ann", "::ffff:192.0.2.7")
    _fail(throttle, "bob", "192.0.2.7")
    _refusal(throttle, "cid", "192.0.2.7")


def test_zero_turns_it_off() -> None:
    throttle = LoginThrottle(0, window_seconds=60, lockout_seconds=10)
    _fail(throttle, "bob", "10.0.0.1", times=100)
    throttle.admit("bob", "10.0.0.1").succeeded()
    assert len(throttle) == 0


def test_client_address_of_grpc_peers() -> None:
    assert client_address("ipv4:127.0.0.1:54321") == "127.0.0.1"
    assert client_address("ipv6:%5B::1%5D:59440") == "::1"
    assert client_address("ipv6:[2001:db8::7]:1") == "2001:db8::7"
    assert client_address("unix:/tmp/flight.sock") == "unix:/tmp/flight.sock"
    assert client_address("") is None


# -- through a real server ----------------------------------------------------------------------------

WINDOW = 60
LOCKOUT = 1  # short, so the test waits it out
JWT_SECRET = "j" * 40


def _mesh(directory: Path, *, jwt_auth: bool = False) -> Path:
    with duckdb.connect(str(directory / "p.duckdb")) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS a FROM range(3)")
    # Cheap argon2 parameters (the hash carries them): the checks are real, the test stays quick.
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    hashes = {user: hasher.hash(f"{user}-pw") for user in ("bob", "carol")}
    auth = "auth:\n  allow_plaintext_passwords: true\n"  # the server listens on [::] (two addresses)
    if jwt_auth:
        auth += f"  jwt: {{issuer: idp, audience: fm, secret: '{JWT_SECRET}', roles_claim: groups}}\n"
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: m}\n"
        "products:\n  p: {engine: {kind: duckdb, path: p.duckdb}, tables: {t: {}}, access: {read: [r]}}\n"
        "users:\n"
        + "".join(f"  {user}: {{password_hash: '{hashed}', roles: [r]}}\n" for user, hashed in hashes.items())
        + f"settings: {{login_max_failures: 3, login_failure_window_seconds: {WINDOW}, "
          f"login_lockout_seconds: {LOCKOUT}}}\n"
        + auth
    )
    return descriptor


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    opened: list[tuple[MeshRuntime, FlightMeshServer]] = []

    def start(**options: Any) -> FlightMeshServer:
        runtime = MeshRuntime.open(_mesh(tmp_path, **options))
        server = FlightMeshServer(runtime, "grpc://[::]:0")
        opened.append((runtime, server))
        return server

    yield start
    for runtime, server in opened:
        server.shutdown()
        runtime.close()


@pytest.fixture
def argon2_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A spy on the real argon2 verification: it still runs, and each call is counted."""
    calls: list[str] = []
    real = identity._verify_hash

    def spy(encoded: str, password: str) -> bool:
        calls.append(password)
        return real(encoded, password)

    monkeypatch.setattr(identity, "_verify_hash", spy)
    return calls


def _login(server: FlightMeshServer, user: str, password: str, host: str = "127.0.0.1") -> flight.FlightCallOptions:
    client = flight.connect(f"grpc://{host}:{server.port}")
    name, value = client.authenticate_basic_token(user, password)
    return flight.FlightCallOptions(headers=[(name, value)])


def _basic(user: str, password: str) -> flight.FlightCallOptions:
    encoded = base64.b64encode(f"{user}:{password}".encode())
    return flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + encoded)])


def _query(server: FlightMeshServer, options: flight.FlightCallOptions, host: str = "127.0.0.1") -> int:
    client = flight.connect(f"grpc://{host}:{server.port}")
    descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(query="SELECT a FROM p.t")))
    info = client.get_flight_info(descriptor, options)
    return int(client.do_get(info.endpoints[0].ticket, options).read_all().num_rows)


def _refused_login(server: FlightMeshServer, user: str, password: str) -> str:
    with pytest.raises(flight.FlightUnauthenticatedError) as refused:
        _login(server, user, password)
    return str(refused.value)


def test_after_max_wrong_passwords_even_the_right_one_waits_out_the_lockout(
        serve: Any, argon2_checks: list[str]) -> None:
    server = serve()
    for _ in range(3):
        assert "invalid username or password" in _refused_login(server, "bob", "wrong")
    assert len(argon2_checks) == 3
    started = time.perf_counter()
    assert "too many failed logins; try again in 1 s" in _refused_login(server, "bob", "bob-pw")
    refused_in = time.perf_counter() - started
    assert len(argon2_checks) == 3  # refused before any argon2 work
    # carol, another user, logs in meanwhile (the address rule is not tripped by three failures
    # through Handshake: pyarrow gives Handshake no client address, see server/auth.py).
    assert _query(server, _login(server, "carol", "carol-pw")) == 3
    assert refused_in < LOCKOUT
    time.sleep(LOCKOUT + 0.05)
    assert _query(server, _login(server, "bob", "bob-pw")) == 3
    refusals = [line["error"] for line in server.runtime.audit.records()
                if line["kind"] == "authentication" and line["user"] == "bob"]
    assert refusals == ["invalid username or password"] * 3 + ["too many failed logins; try again in 1 s"]


def test_unknown_users_are_refused_exactly_like_known_ones(serve: Any, argon2_checks: list[str]) -> None:
    server = serve()
    answers = {}
    for user in ("bob", "nobody"):
        answers[user] = [_refused_login(server, user, "wrong") for _ in range(3)]
        answers[user].append(_refused_login(server, user, f"{user}-pw"))
    assert answers["bob"] == answers["nobody"]
    assert "too many failed logins" in answers["nobody"][-1]
    assert len(argon2_checks) == 6  # unknown users cost a (dummy) argon2 check too, until throttled


def test_the_address_rule_throttles_another_user_from_that_address_only(
        serve: Any, argon2_checks: list[str]) -> None:
    """Basic credentials on a data call: the handler knows the client's address."""
    server = serve()
    for user in ("ann", "dan", "bob"):  # three users, one failure each: bob's own count is 1 of 3
        with pytest.raises(flight.FlightUnauthenticatedError, match="invalid username or password"):
            _query(server, _basic(user, "wrong"))
    checks = len(argon2_checks)
    with pytest.raises(flight.FlightUnauthenticatedError, match="too many failed logins; try again in 1 s"):
        _query(server, _basic("bob", "bob-pw"))  # from 127.0.0.1: the address is locked
    assert len(argon2_checks) == checks
    assert _query(server, _basic("bob", "bob-pw"), host="[::1]") == 3  # bob elsewhere is fine
    time.sleep(LOCKOUT + 0.05)
    assert _query(server, _basic("bob", "bob-pw")) == 3


def test_a_deferred_check_still_refuses_before_the_handler_does_anything(serve: Any) -> None:
    server = serve()
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    for call in (lambda options: list(client.list_actions(options)),
                 lambda options: list(client.do_action(flight.Action("GetSessionOptions", b""), options))):
        with pytest.raises(flight.FlightUnauthenticatedError, match="invalid username or password"):
            call(_basic("bob", "wrong"))
    assert "revoke_tokens" in {action.type for action in client.list_actions(_basic("bob", "bob-pw"))}


def test_forged_identity_provider_tokens_count_against_the_address(serve: Any) -> None:
    server = serve(jwt_auth=True)
    claims = {"sub": "sam", "iss": "idp", "aud": "fm", "groups": ["r"]}

    def bearer(token: str) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])

    good = jwt.encode({**claims, "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 120}, JWT_SECRET, algorithm="HS256")
    forged = jwt.encode({**claims, "exp": int(time.time()) + 60}, "guessed-secret-" * 3, algorithm="HS256")
    for _ in range(5):  # well signed but stale: a client with an old token is not an attacker
        with pytest.raises(flight.FlightUnauthenticatedError, match="invalid or expired token"):
            _query(server, bearer(expired))
    assert _query(server, bearer(good)) == 3
    for _ in range(3):
        with pytest.raises(flight.FlightUnauthenticatedError, match="invalid or expired token"):
            _query(server, bearer(forged))
    with pytest.raises(flight.FlightUnauthenticatedError, match="too many failed logins"):
        _query(server, bearer(good))
    assert _query(server, bearer(good), host="[::1]") == 3
