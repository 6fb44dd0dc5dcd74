"""The query history commits without a flush to disk; the privacy ledger always with one.

Every query leaves a history row, committed in batches by the history's writer thread
(``QueryHistory.submit``), and a flushed SQLite commit costs ~20 ms median on this machine's disk
(up to 200 ms loaded): a ``SELECT count(*)`` of a small table went 39 ms -> 10 ms (median of 30)
through ``flightmesh serve`` with the state file on tmpfs. So history writes are not durable (WAL,
synchronous=NORMAL: lost only if the machine crashes); a spend of privacy budget must survive
that, so the ledger's are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flightmesh.executor.privacy_ledger import PrivacyLedger
from flightmesh.executor.query_history import HistoryEntry, QueryHistory
from flightmesh.executor.state_store import PostgresStateStore, SqliteStateStore
from flightmesh.mesh.descriptor_privacy import StateSpec
from tests.connectors.conftest import postgres_database  # noqa: F401 - the fixture

FULL, NORMAL = 2, 1   # PRAGMA synchronous


class _Watched(SqliteStateStore):
    """The real SQLite store, noting each transaction's ``synchronous`` as it commits."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.seen: list[int] = []

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Any]:
        with super().transaction(durable=durable) as tx:
            yield tx
            self.seen.append(tx.execute("PRAGMA synchronous")[0][0])


def _entry(query_id: str) -> HistoryEntry:
    now = dt.datetime.now(dt.UTC)
    return HistoryEntry(query_id=query_id, user="ana", sql="SELECT 1", outcome="ok", started_at=now, ended_at=now,
                        elapsed_ms=1, rows=1, bytes=8, products=("sales",), error=None)


def test_sqlite_transactions_flush_unless_told_not_to(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.sqlite")
    store.ensure(["CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)"])
    with store.transaction() as tx:
        assert tx.execute("PRAGMA synchronous") == [(FULL,)]
    with store.transaction(durable=False) as tx:
        assert tx.execute("PRAGMA synchronous") == [(NORMAL,)]
        tx.execute("INSERT INTO t VALUES ('written')")
    with store.transaction() as tx:  # committed all the same, and the next connection flushes again
        assert tx.execute("SELECT k FROM t") == [("written",)]
        assert tx.execute("PRAGMA synchronous") == [(FULL,)]


def test_history_rows_are_not_flushed_and_ledger_spends_are(tmp_path: Path) -> None:
    history = QueryHistory(StateSpec(kind="sqlite", path=tmp_path / "state.sqlite"))
    history.store.close()   # opened as the server opens it (its tables made), then watched
    history._store = store = _Watched(tmp_path / "state.sqlite")
    assert history.record(_entry("q1"))
    assert store.seen == [NORMAL]
    assert [entry.query_id for entry in history.entries()] == ["q1"]

    ledger_store = _Watched(tmp_path / "ledger.sqlite")
    ledger = PrivacyLedger(ledger_store)
    ledger_store.seen.clear()
    ledger.reserve("ana", "sales", 0.1, 1.0, "day")
    assert ledger_store.seen and set(ledger_store.seen) == {FULL}


@pytest.mark.postgresql
def test_postgresql_history_commits_do_not_wait_for_the_flush(postgres_database: str) -> None:  # noqa: F811
    store = PostgresStateStore(postgres_database)
    try:
        with store.transaction() as tx:
            assert tx.execute("SELECT current_setting('synchronous_commit')") == [("on",)]
        with store.transaction(durable=False) as tx:
            assert tx.execute("SELECT current_setting('synchronous_commit')") == [("off",)]
        with store.transaction() as tx:  # SET LOCAL: the pooled connection is back to the default
            assert tx.execute("SELECT current_setting('synchronous_commit')") == [("on",)]
    finally:
        store.close()
