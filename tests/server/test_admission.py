"""Admission control through a real server: running slots, the queue, per-user limits, the queue's wait.

The slots are held by queries stalled in PostgreSQL (``pgshop.stall``), so which query runs, waits
or is refused does not depend on timing; they are killed at the end. The class ``Admission`` is
also tested alone (order of the queue, a cancel leaving it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from adbc_driver_manager import AdbcStatusCode

from flightmesh.executor.admission import Admission
from flightmesh.mesh import CancelScope, QueryCancelled, Settings
from flightmesh.mesh.errors import ServerBusy
from tests.connectors.conftest import postgres_database  # noqa: F401 - fixture
from tests.server.ops_mesh import Background, OpsMesh, build_ops_mesh, eventually, kill, serving

QUICK = "SELECT count(*), sum(amount) FROM sales.orders"
STALL = "SELECT * FROM pgshop.stall"


def _mesh(tmp_path: Path, pg: str, **settings: object) -> OpsMesh:
    return build_ops_mesh(tmp_path / "mesh", pg, settings=dict(settings))


def _states(runtime: object) -> list[str]:
    return sorted(q.state for q in runtime.tracker.registry.snapshot())  # type: ignore[attr-defined]


def _query_id(error: Exception) -> str:
    found = re.search(r"\(query id (\w+)\)", str(error))
    assert found is not None, str(error)
    return found.group(1)


def _refused(background: Background, limit: str) -> str:
    """The query id of a query refused by admission naming ``limit``, as the client saw it."""
    error = background.error
    assert error is not None, f"expected a refusal, got rows {background.rows}"
    assert getattr(error, "status_code", None) == AdbcStatusCode.IO, error   # ADBC's name for UNAVAILABLE
    assert "UNAVAILABLE" in str(error) or "Unavailable" in str(error), error
    assert limit in str(error), error
    return _query_id(error)


def test_a_burst_past_the_running_and_queued_limits_is_refused_and_nothing_else_fails(
        tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    mesh = _mesh(tmp_path, postgres_database, max_running_queries=2, max_queued_queries=2,
                 max_queue_wait_seconds=120.0)
    with serving(mesh) as (runtime, server):
        running = [Background(server.port, user, STALL) for user in ("alice", "bob")]
        eventually(lambda: _states(runtime) == ["running", "running"])
        queued = [Background(server.port, user, STALL) for user in ("root", "alice")]
        eventually(lambda: _states(runtime) == ["queued", "queued", "running", "running"])

        burst = [Background(server.port, ("alice", "bob", "root")[i % 3], QUICK) for i in range(9)]
        refused = [_refused(b.join(), "max_queued_queries (2)") for b in burst]

        # flightmesh's own tables take no slot: an operator can look at a full server
        look = Background(server.port, "root", "SELECT state, user_name FROM flightmesh.queries ORDER BY 1, 2")
        assert look.join().rows == [("queued", "alice"), ("queued", "root"), ("running", "alice"), ("running", "bob"),
                                    ("running", "root")]   # the last: this look itself

        # a slot that frees is taken by the queue, in order
        ids = {q.user + q.state: q.query_id for q in runtime.tracker.registry.snapshot()}
        kill(server.port, "root", ids["alicerunning"])
        kill(server.port, "root", ids["bobrunning"])
        eventually(lambda: _states(runtime) == ["running", "running"])
        for query in runtime.tracker.registry.snapshot():
            kill(server.port, "root", query.query_id)
        stalled = [b.join() for b in running + queued]

        # the only errors: the refusals, and the four kills
        assert all("killed by root" in str(b.error) for b in stalled), [str(b.error) for b in stalled]
        history = {e.query_id: e for e in runtime.tracker.history.entries()}
        assert [history[i].outcome for i in refused] == ["refused"] * 9
        assert all("max_queued_queries (2)" in (history[i].error or "") for i in refused)
        outcomes = [e.outcome for e in history.values()]
        assert sorted(outcomes) == ["cancelled"] * 4 + ["ok"] + ["refused"] * 9


def test_a_queue_absorbs_a_burst_every_query_answers_right(tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    mesh = _mesh(tmp_path, postgres_database, max_running_queries=2, max_queued_queries=64,
                 max_queue_wait_seconds=300.0)
    expected = mesh.oracle(QUICK.replace("sales.orders", "orders"))
    join = "SELECT count(*) FROM sales.orders AS o JOIN pgshop.items AS i ON i.id = o.item_id WHERE i.v < 50"
    expected_join = mesh.oracle(join.replace("sales.orders", "orders").replace("pgshop.items", "items"))
    with serving(mesh) as (runtime, server):
        burst = [Background(server.port, ("alice", "bob")[i % 2], (QUICK, join)[i % 2]) for i in range(16)]
        for index, background in enumerate(burst):
            background.join(120)
            assert background.error is None, background.error
            assert background.rows == (expected, expected_join)[index % 2]
        assert sorted({e.outcome for e in runtime.tracker.history.entries()}) == ["ok"]
        assert runtime.tracker.admission.running == 0 and runtime.tracker.admission.queued == 0


def test_one_user_past_max_queries_per_user_is_refused_others_run(tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    mesh = _mesh(tmp_path, postgres_database, max_running_queries=8, max_queries_per_user=1)
    expected = mesh.oracle(QUICK.replace("sales.orders", "orders"))
    with serving(mesh) as (runtime, server):
        stall = Background(server.port, "alice", STALL)
        eventually(lambda: _states(runtime) == ["running"])
        second = Background(server.port, "alice", QUICK).join()
        _refused(second, "max_queries_per_user (1)")
        assert "alice" in str(second.error)
        assert Background(server.port, "bob", QUICK).join().rows == expected
        (query,) = runtime.tracker.registry.snapshot()
        kill(server.port, "alice", query.query_id)
        stall.join()
        # alice's slot is hers again
        assert Background(server.port, "alice", QUICK).join().rows == expected


def test_a_query_waits_in_the_queue_at_most_max_queue_wait_seconds(tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    mesh = _mesh(tmp_path, postgres_database, max_running_queries=1, max_queued_queries=4,
                 max_queue_wait_seconds=0.5)
    with serving(mesh) as (runtime, server):
        stall = Background(server.port, "alice", STALL)
        eventually(lambda: _states(runtime) == ["running"])
        waited = Background(server.port, "bob", QUICK).join()
        query_id = _refused(waited, "max_queue_wait_seconds (0.5)")
        assert {e.query_id: e.outcome for e in runtime.tracker.history.entries()}[query_id] == "refused"
        assert _states(runtime) == ["running"]   # the refused one left the queue
        for query in runtime.tracker.registry.snapshot():
            kill(server.port, "alice", query.query_id)
        stall.join()


# -- Admission alone -----------------------------------------------------------------------------------


@pytest.fixture
def one_slot() -> Iterator[Admission]:
    yield Admission(lambda: Settings(max_running_queries=1, max_queued_queries=8, max_queue_wait_seconds=60.0))


def test_the_queue_admits_in_arrival_order(one_slot: Admission) -> None:
    first = one_slot.admit("u", CancelScope())
    order: list[str] = []

    def run(name: str) -> None:
        slot = one_slot.admit(name, CancelScope())
        order.append(name)   # only one slot: appended while holding it, so in the order admitted
        one_slot.release(slot)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b", "c")]
    for count, thread in enumerate(threads, start=1):
        thread.start()
        eventually(lambda count=count: one_slot.queued == count)  # type: ignore[misc]
    one_slot.release(first)
    for thread in threads:
        thread.join(30)
    assert order == ["a", "b", "c"]
    assert one_slot.running == 0 and one_slot.queued == 0


def test_a_cancelled_query_leaves_the_queue_and_frees_its_user(one_slot: Admission) -> None:
    held = one_slot.admit("u", CancelScope())
    scope = CancelScope()
    failures: list[BaseException] = []

    def wait() -> None:
        try:
            one_slot.admit("v", scope)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=wait)
    thread.start()
    eventually(lambda: one_slot.queued == 1)
    scope.cancel()
    thread.join(30)
    assert [type(f) for f in failures] == [QueryCancelled]
    assert one_slot.queued == 0
    one_slot.release(held)
    one_slot.release(held)   # idempotent: the count does not go below zero
    assert one_slot.running == 0


def test_no_queue_refuses_at_once_naming_the_setting() -> None:
    admission = Admission(lambda: Settings(max_running_queries=1, max_queued_queries=0))
    admission.admit("u", CancelScope())
    with pytest.raises(ServerBusy, match=r"max_running_queries \(1\).*max_queued_queries \(0\)"):
        admission.admit("v", CancelScope())
