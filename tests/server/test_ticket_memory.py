"""A redeemed ticket is remembered (to refuse its replay) only until it would have expired anyway.

Without that bound the replay set grows with every query for the whole ticket lifetime: the
reason tickets live ``ticket_ttl_seconds`` (minutes), not a bearer token's hours.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from flightmesh.mesh import NotFound, Principal
from flightmesh.server.auth import Caller
from flightmesh.server.statements import Tickets


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_redeemed_ticket_is_refused_again_until_it_expires_then_forgotten() -> None:
    clock = _Clock()
    tickets = Tickets(idle_seconds=900.0, clock=clock)
    alice = Caller(Principal("alice"), "alice")
    first = tickets.issue(alice, [], pa.schema([]))
    tickets.take(first.handle, alice)
    tickets.finished(first.handle)
    with pytest.raises(NotFound):
        tickets.take(first.handle, alice)
    clock.now += 899.0
    assert tickets.known(first.handle)  # a replay inside its lifetime is still recognised
    clock.now += 2.0
    tickets.issue(alice, [], pa.schema([]))
    assert not tickets.known(first.handle)  # past its lifetime: forgotten, its memory given back
