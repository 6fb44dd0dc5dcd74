"""Statement handles are remembered once verified; every use still checks their user and expiry."""

from __future__ import annotations

import pytest

from flightmesh.mesh import AuthenticationError, NotFound, Principal
from flightmesh.server.auth import Caller
from flightmesh.server.replica_tokens import HANDLE_SECONDS, ReplicaTokens, Restatement
from flightmesh.server.ticket_codec import TicketCodec


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _replicas(clock: _Clock) -> ReplicaTokens:
    replicas = ReplicaTokens(object(), TicketCodec(clock=clock))  # type: ignore[arg-type]  # no mesh needed
    replicas.fingerprint = lambda: "mesh"  # type: ignore[method-assign]
    return replicas


def test_a_remembered_handle_is_still_refused_to_another_user_and_once_expired() -> None:
    clock = _Clock()
    replicas = _replicas(clock)
    alice, bob = Caller(Principal("alice"), "a"), Caller(Principal("bob"), "b")
    key = b"k" * 16
    token = replicas.seal_statement(alice, key, Restatement("SELECT 1", "sales", None, [(1,)]))
    for _ in range(2):  # the second time from memory
        assert replicas.statement_key(token) == key
        again = replicas.open_statement(token, alice)
        assert (again.sql, again.default_schema, list(again.rows or [])) == ("SELECT 1", "sales", [(1,)])
        with pytest.raises(NotFound):
            replicas.open_statement(token, bob)
    clock.now += HANDLE_SECONDS + 1
    with pytest.raises(AuthenticationError, match="expired"):
        replicas.open_statement(token, alice)


def test_an_altered_handle_is_not_taken_for_a_remembered_one() -> None:
    replicas = _replicas(_Clock())
    alice = Caller(Principal("alice"), "a")
    token = replicas.seal_statement(alice, b"k" * 16, Restatement("SELECT 1", None, None))
    replicas.open_statement(token, alice)
    altered = token[:-1] + bytes([token[-1] ^ 1])
    assert replicas.statement_key(altered) == altered   # unverifiable: the bytes themselves
    with pytest.raises(AuthenticationError):
        replicas.open_statement(altered, alice)
