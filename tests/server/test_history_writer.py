"""The query history's writer thread: a query's end never waits for the state store, and nothing
submitted is lost to a reader, a full queue or a clean shutdown (executor/query_history.py).

The store here is the real SQLite one, gated: its transactions wait until the test opens the gate,
as a slow disk or a busy PostgreSQL would make them.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flightmesh.executor.query_history import HistoryEntry, QueryHistory
from flightmesh.executor.query_tracker import QueryTracker
from flightmesh.executor.state_store import SqliteStateStore, StateUnavailable
from flightmesh.mesh import CancelScope, Settings
from flightmesh.mesh.descriptor_privacy import StateSpec

WAIT = 10.0   # seconds a step may take before the test calls it stuck


class _Gated(SqliteStateStore):
    """Each history write (a transaction with ``durable=False``) waits for ``gate``; ``entered`` is
    set once one is waiting. Reads pass."""

    def __init__(self, path: Path, *, failures: int = 0) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.failures = failures
        self.writes = 0

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Any]:
        if not durable:
            self.entered.set()
            assert self.gate.wait(WAIT), "the gate was never opened"
        self.writes += not durable
        if self.failures and not durable:
            self.failures -= 1
            raise StateUnavailable("the store is down")
        with super().transaction(durable=durable) as tx:
            yield tx


def _history(path: Path, **options: Any) -> tuple[QueryHistory, _Gated]:
    history = QueryHistory(StateSpec(kind="sqlite", path=path), **options)
    history.store.close()   # its tables made, as the server opens it; then gated
    history._store = store = _Gated(path)
    return history, store


def _entry(query_id: str, outcome: str = "ok") -> HistoryEntry:
    now = dt.datetime.now(dt.UTC)
    return HistoryEntry(query_id=query_id, user="ana", sql=f"SELECT '{query_id}'", outcome=outcome, started_at=now,
                        ended_at=now, elapsed_ms=1, rows=1, bytes=8, products=("sales",), error=None)


def _in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_query_ends_without_waiting_for_its_history_row(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    tracker = QueryTracker(Settings, StateSpec(kind="sqlite", path=path), lambda: ())
    tracker.history.store.close()   # its tables made; then gated
    tracker.history._store = store = _Gated(path)
    scope = CancelScope()
    query_id = tracker.issue(scope, "SELECT 1", ("flightmesh",))
    tracked = tracker.start("ana", scope)
    finished = threading.Event()
    _in_thread(lambda: (tracker.finish(tracked, None, completed=True), finished.set()))
    assert finished.wait(WAIT), "finish waited for the store"   # the store is still shut
    assert store.entered.wait(WAIT)                              # the writer is at the store meanwhile
    store.gate.set()
    assert [(e.query_id, e.outcome) for e in tracker.history.entries()] == [(query_id, "ok")]
    tracker.close()


def test_a_reader_sees_every_row_submitted_before_it(tmp_path: Path) -> None:
    history, store = _history(tmp_path / "state.sqlite")
    for number in range(5):
        history.submit(_entry(f"q{number}"))
    assert store.entered.wait(WAIT)
    found: list[list[str]] = []
    reader = _in_thread(lambda: found.append([e.query_id for e in history.entries()]))
    reader.join(0.3)
    assert reader.is_alive(), "the reader did not wait for the queued rows"
    store.gate.set()
    reader.join(WAIT)
    assert sorted(found[0]) == [f"q{number}" for number in range(5)]
    history.close()


def test_a_full_queue_makes_the_query_wait_and_loses_nothing(tmp_path: Path) -> None:
    history, store = _history(tmp_path / "state.sqlite", max_queued=2)
    history.submit(_entry("first"))
    assert store.entered.wait(WAIT)          # the writer holds "first", blocked at the store
    history.submit(_entry("second"))
    history.submit(_entry("third"))          # the queue is full now
    blocked = _in_thread(lambda: history.submit(_entry("fourth")))
    blocked.join(0.3)
    assert blocked.is_alive(), "a submit into a full queue did not wait"
    store.gate.set()
    blocked.join(WAIT)
    assert not blocked.is_alive()
    assert sorted(e.query_id for e in history.entries()) == ["first", "fourth", "second", "third"]
    history.close()


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    history, store = _history(path)
    for number in range(20):
        history.submit(_entry(f"q{number}"))
    assert store.entered.wait(WAIT)
    threading.Timer(0.2, store.gate.set).start()
    history.close()
    reopened = QueryHistory(StateSpec(kind="sqlite", path=path))
    assert len(reopened.entries()) == 20
    history.submit(_entry("after"))          # after close: written at once, by the caller
    assert "after" in {e.query_id for e in reopened.entries()}


def test_the_first_row_of_a_query_id_wins_in_a_batch(tmp_path: Path) -> None:
    history, store = _history(tmp_path / "state.sqlite")
    history.submit(_entry("held"))
    assert store.entered.wait(WAIT)
    history.submit(_entry("twice", "ok"))
    history.submit(_entry("twice", "failed"))   # same batch: the first one submitted is kept
    store.gate.set()
    assert {e.query_id: e.outcome for e in history.entries()} == {"held": "ok", "twice": "ok"}
    history.close()


def test_a_store_failure_is_logged_and_the_writer_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    history, store = _history(tmp_path / "state.sqlite")
    store.failures = 1
    store.gate.set()
    found: list[list[str]] = []

    def lose_one_keep_one() -> None:
        history.submit(_entry("lost"))
        history.flush()
        history.submit(_entry("kept"))
        found.append([e.query_id for e in history.entries()])

    _in_thread(lose_one_keep_one).join(WAIT)
    assert found == [["kept"]], "the writer did not outlive the failure"
    assert any("lost" in record.getMessage() and "could not be written" in record.getMessage()
               for record in caplog.records)
    history.close()


def test_the_rows_of_a_stream_of_queries_share_one_commit(tmp_path: Path) -> None:
    history, store = _history(tmp_path / "state.sqlite", linger_seconds=30)
    store.gate.set()
    history.submit(_entry("q0"))
    time.sleep(0.3)   # a writer that did not linger would have committed q0 alone by now
    for number in range(1, 5):
        history.submit(_entry(f"q{number}"))
    history.flush()   # a reader cuts the linger short
    assert store.writes == 1
    assert len(history.entries()) == 5
    history.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")   # the death is the point
def test_a_writer_that_died_is_replaced(tmp_path: Path) -> None:
    history, store = _history(tmp_path / "state.sqlite")
    store.gate.set()
    real = store.transaction
    calls = {"n": 0}

    @contextmanager
    def dies_once(*, durable: bool = True) -> Iterator[Any]:
        calls["n"] += 1
        if calls["n"] == 1 and not durable:
            raise SystemExit("the writer thread ends here")   # not an Exception: the writer does not catch it
        with real(durable=durable) as tx:
            yield tx

    store.transaction = dies_once  # type: ignore[method-assign]
    history.submit(_entry("lost"))
    found: list[list[str]] = []

    def keep_one() -> None:
        history.flush()
        history.submit(_entry("kept"))
        found.append([e.query_id for e in history.entries()])

    _in_thread(keep_one).join(WAIT)
    assert found == [["kept"]], "a submit or reader waited on a dead writer"
    history.close()
