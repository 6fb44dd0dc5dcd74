"""Query deadlines (executor/deadlines.py): one watcher thread, not a thread per query; a due
action runs, a cancelled one never does. (That a query still times out: tests/executor/test_runtime.py
test_query_timeout, tests/server/test_faults.py.)"""

from __future__ import annotations

import threading
import time

from flightmesh.executor.deadlines import Deadlines
from flightmesh.mesh import CancelScope
from flightmesh.server.app import FlightMeshServer


def test_due_actions_run_and_cancelled_ones_never() -> None:
    deadlines = Deadlines()
    fired: list[str] = []
    done = threading.Event()
    later = deadlines.after(0.2, lambda: fired.append("cancelled"))
    deadlines.after(0.3, lambda: (fired.append("due"), done.set()))
    later.cancel()
    assert done.wait(10)
    assert fired == ["due"]


def test_a_sooner_deadline_wakes_the_watcher() -> None:
    deadlines = Deadlines()
    far = deadlines.after(30, lambda: None)
    time.sleep(0.3)   # the watcher is asleep for 30 s by now
    soon = threading.Event()
    deadlines.after(0.05, soon.set)
    assert soon.wait(15), "the watcher slept through a sooner deadline"
    far.cancel()


def test_many_pending_deadlines_take_one_thread() -> None:
    deadlines = Deadlines()
    before = threading.active_count()
    pending = [deadlines.after(300, lambda: None) for _ in range(2000)]
    assert threading.active_count() <= before + 1
    for deadline in pending:
        deadline.cancel()
    deadlines.after(300, lambda: None)
    assert len(deadlines) == 1


def test_a_running_query_starts_no_timer_thread(server: FlightMeshServer) -> None:
    runtime = server.runtime
    principal = runtime.principal_for("alice")
    assert principal is not None
    prepared = runtime.prepare("SELECT count(*) AS n FROM sales.orders", principal)
    plan = runtime.bind(prepared, principal, ())
    counts = []
    for _ in range(3):
        reader = runtime.execute(plan, cancel=CancelScope())
        assert not [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]
        counts.append(threading.active_count())
        reader.read_all()
        reader.close()
    assert counts[1] == counts[2] <= counts[0]   # the first query may have started the one watcher
