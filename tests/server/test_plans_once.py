"""One GetFlightInfo plans its statement once, also with the plan cache off.

Preparing a statement plans it (with NULLs for its parameters; with none, that is the real plan),
and binding used to plan it again when the cache did not keep the first: every cold query and
every ``EXPLAIN`` under ``plan_cache_size: 0`` paid the planner twice. ``plan_statement`` is
wrapped by a counter that calls through to the real planner, in front of a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

import flightmesh.executor.runtime as runtime_module
from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server.conftest import adbc_connect
from tests.server.support import Mesh

CROSS = ("SELECT c.country, count(*) AS n, round(sum(o.amount), 6) AS total FROM sales.orders o "
         "JOIN crm.customers c ON o.customer_id = c.customer_id GROUP BY c.country ORDER BY c.country")
ONE_FILE = ("SELECT c.country, count(*) AS n, round(sum(o.amount), 6) AS total FROM orders o "
            "JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.country ORDER BY c.country")


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def wrap(self, real: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)
        return counted


@pytest.fixture(scope="module")
def uncached(mesh: Mesh) -> Iterator[FlightMeshServer]:
    descriptor = mesh.descriptor.with_name("plans-once.yaml")  # beside the data: the same relative paths
    descriptor.write_text(mesh.descriptor.read_text() + "settings:\n  plan_cache_size: 0\n")
    with MeshRuntime.open(descriptor) as runtime, FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        yield server


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Counter:
    counting = Counter()
    monkeypatch.setattr(runtime_module, "plan_statement", counting.wrap(runtime_module.plan_statement))
    return counting


def _run(server: FlightMeshServer, sql: str, user: str = "alice") -> Any:
    with adbc_connect(server, user) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def test_a_cold_query_is_planned_once_per_get_flight_info(uncached: FlightMeshServer, mesh: Mesh,
                                                          counter: Counter) -> None:
    answer = _run(uncached, CROSS)
    assert counter.calls == 1
    assert answer.to_pylist() == mesh.oracle(ONE_FILE).to_pylist()
    _run(uncached, CROSS)  # the cache is off: planned again, and again once
    assert counter.calls == 2


def test_explain_is_planned_once(uncached: FlightMeshServer, counter: Counter) -> None:
    rows = _run(uncached, f"EXPLAIN {CROSS}")
    assert rows.num_rows > 0
    assert counter.calls == 1


def test_the_reused_plan_is_still_the_callers_own(uncached: FlightMeshServer, counter: Counter) -> None:
    # bob may read sales but not crm: the one planning is his, and refuses him as before.
    with pytest.raises(Exception, match="crm"):
        _run(uncached, CROSS, user="bob")
    assert counter.calls == 1
    assert _run(uncached, "SELECT count(*) AS n FROM sales.orders", user="bob").num_rows == 1
    assert counter.calls == 2


def test_a_statement_with_parameters_still_needs_them(uncached: FlightMeshServer, counter: Counter) -> None:
    # Prepared with NULLs, that plan is not the statement's: binding no values is refused as before.
    with pytest.raises(Exception, match=r"(?i)parameter"):
        _run(uncached, "SELECT count(*) AS n FROM sales.orders WHERE amount > ?")


def test_a_reload_between_prepare_and_bind_plans_again(mesh: Mesh, counter: Counter) -> None:
    # The reused plan is keyed like a cached one: a new catalog version is a new plan.
    descriptor = mesh.descriptor.with_name("plans-once.yaml")
    with MeshRuntime.open(descriptor) as runtime:
        alice = runtime.principal_for("alice")
        assert alice is not None
        prepared = runtime.prepare(CROSS, alice)
        first = runtime.bind(prepared, alice)
        assert counter.calls == 1
        assert runtime.reload().applied
        assert runtime.bind(prepared, alice) is not first
        assert counter.calls == 2


def test_a_principal_whose_roles_changed_gets_its_own_plan(mesh: Mesh, counter: Counter) -> None:
    # alice loses her analyst role between prepare and bind: the prepared plan is not hers any more.
    descriptor = mesh.descriptor.with_name("plans-once.yaml")
    with MeshRuntime.open(descriptor) as runtime:
        alice = runtime.principal_for("alice")
        assert alice is not None
        prepared = runtime.prepare("SELECT count(*) AS n FROM sales.orders", alice)
        assert runtime.bind(prepared, alice).principal == alice
        assert counter.calls == 1
        demoted = replace(alice, roles=frozenset({"sales"}))
        bound = runtime.bind(prepared, demoted)
        assert counter.calls == 2
        assert bound.principal == demoted
        with pytest.raises(Exception, match="crm"):
            runtime.bind(runtime.prepare(CROSS, alice), demoted)
