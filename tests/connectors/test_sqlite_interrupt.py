"""A running SQLite statement stops when its query is cancelled or times out, before its first row too.

The ADBC SQLite driver cannot cancel; flightmesh's own extension (connectors/sqlite_interrupt.c)
stops statements. Every statement here would run far longer than the bounds asserted (RUNAWAY
joins 800**3 = 5e8 rows: half a minute on the project's busy 2-core machine), bounded so that a
broken interrupt fails the test in a minute instead of hanging it for hours.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_manager
import pyarrow as pa
import pytest

from flightmesh.connectors import FragmentQuery, sqlite_interrupt
from flightmesh.connectors import sqlite as sqlite_connector
from flightmesh.connectors.sqlite import SQLiteConnector
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import CancelScope, QueryCancelled, QueryTimeout

ROWS = 800
RUNAWAY = 'SELECT count(*) AS n FROM "t" AS x, "t" AS y, "t" AS z WHERE x.a + y.a + z.a = -1'
COUNT = pa.schema([pa.field("n", pa.int64())])
# Fast rows first, then a long computation: the stream's first batch arrives, its second doesn't.
FAST_THEN_SLOW = ('WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 70000) '
                  f"SELECT i AS n FROM r UNION ALL {RUNAWAY}")
BOUND = 3.0  # seconds from the stop to the error: the promise is "within a second", with slack


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-interrupt") / "numbers.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)")
        connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(ROWS)])
    connection.close()
    return path


@pytest.fixture
def connector(database: Path) -> Iterator[SQLiteConnector]:
    assert sqlite_interrupt.LIBRARY.is_file(), "build it with `make install`"
    connector = SQLiteConnector("numbers", database)
    yield connector
    connector.close()


def cancel_later(cancel: CancelScope, seconds: float) -> list[float]:
    """Cancel after ``seconds``; the returned list gets the moment it happened."""
    when: list[float] = []

    def fire() -> None:
        when.append(time.monotonic())
        cancel.cancel()

    threading.Timer(seconds, fire).start()
    return when


def assert_usable(connector: SQLiteConnector) -> None:
    table = connector.execute(FragmentQuery('SELECT count(*) AS n FROM "t"', expected_schema=COUNT),
                              CancelScope()).read_all()
    assert table.column("n").to_pylist() == [ROWS]


def test_cancel_stops_a_statement_before_its_first_row(connector: SQLiteConnector) -> None:
    cancel = CancelScope()
    cancelled_at = cancel_later(cancel, 0.3)
    with pytest.raises(QueryCancelled):
        connector.execute(FragmentQuery(RUNAWAY, expected_schema=COUNT), cancel).read_all()
    assert time.monotonic() - cancelled_at[0] < BOUND
    assert_usable(connector)


def test_cancel_stops_a_statement_between_batches(connector: SQLiteConnector) -> None:
    cancel = CancelScope()
    reader = connector.execute(FragmentQuery(FAST_THEN_SLOW, expected_schema=COUNT), cancel)
    assert reader.read_next_batch().num_rows > 0
    cancelled_at = cancel_later(cancel, 0.3)
    with pytest.raises(QueryCancelled):
        reader.read_next_batch()
    assert time.monotonic() - cancelled_at[0] < BOUND
    assert_usable(connector)


def test_fragment_timeout_stops_the_statement(connector: SQLiteConnector) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        connector.execute(FragmentQuery(RUNAWAY, expected_schema=COUNT, timeout_seconds=0.5),
                          CancelScope()).read_all()
    assert time.monotonic() - started < 0.5 + BOUND
    assert_usable(connector)


def test_query_deadline_stops_the_statement(connector: SQLiteConnector) -> None:
    # The executor's watchdog cancels the scope with timed_out=True at the query's deadline.
    cancel = CancelScope(deadline=time.monotonic() + 0.3)
    threading.Timer(0.3, lambda: cancel.cancel(timed_out=True)).start()
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        connector.execute(FragmentQuery(RUNAWAY, expected_schema=COUNT), cancel).read_all()
    assert time.monotonic() - started < 0.3 + BOUND


def test_a_stop_sent_before_the_statement_starts_is_kept(connector: SQLiteConnector) -> None:
    # sqlite3_interrupt alone is forgotten when the next statement starts; the extension's flag
    # is not, so a cancel racing the start of a statement still stops it.
    session = connector._lease(None)
    try:
        statement = sqlite_interrupt.RunningStatement(session.watch, None)
        statement.stop()
        cursor = session.connection.cursor()
        started = time.monotonic()
        with pytest.raises(adbc_driver_manager.Error, match="interrupted"):
            cursor.execute(RUNAWAY)
        assert time.monotonic() - started < BOUND
        cursor.close()
        statement.finish()
    finally:
        connector._pool.release(session)
    assert_usable(connector)  # finish() cleared the flag: the next statement runs


def test_the_connection_loads_no_more_extensions_and_exposes_nothing(connector: SQLiteConnector) -> None:
    session = connector._lease(None)
    try:
        cursor = session.connection.cursor()
        with pytest.raises(adbc_driver_manager.Error, match="not authorized"):
            cursor.execute(f"SELECT load_extension('{sqlite_interrupt.LIBRARY}')")
        cursor.execute("SELECT count(*) FROM pragma_function_list WHERE name LIKE '%flightmesh%'")
        assert cursor.fetchall() == [(0,)]  # no SQL function: nothing a statement could call
        cursor.close()
        options = session.connection.adbc_connection
        options.set_options(**{"adbc.sqlite.load_extension.path": str(sqlite_interrupt.LIBRARY)})
        with pytest.raises(adbc_driver_manager.Error, match="not authorized"):  # the C interface too
            options.set_options(**{"adbc.sqlite.load_extension.entrypoint": "sqlite3_flightmesh_interrupt_init"})
    finally:
        connector._pool.release(session, broken=True)


def test_connections_are_reused_across_threads(connector: SQLiteConnector) -> None:
    # Fragments run on short-lived threads; each must not leave a connection behind.
    for _ in range(20):
        worker = threading.Thread(target=assert_usable, args=(connector,))
        worker.start()
        worker.join()
    assert len(connector._pool._idle) == 1


def test_streams_dropped_unread_give_their_connections_back(connector: SQLiteConnector) -> None:
    # More streams than the pool has connections: a connection kept by a dropped stream would
    # make a later lease wait, and time out.
    for _ in range(sqlite_connector._MAX_CONNECTIONS + 2):
        connector.execute(FragmentQuery('SELECT a AS n FROM "t"', expected_schema=COUNT, timeout_seconds=2),
                          CancelScope())
    assert_usable(connector)


def test_without_the_extension_it_works_and_stops_at_batch_boundaries(
        database: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sqlite_interrupt, "LIBRARY", database.parent / "not-built.so")
    monkeypatch.setattr(sqlite_interrupt, "_loaded", [])
    connector = SQLiteConnector("numbers", database)
    try:
        with caplog.at_level(logging.WARNING, logger=sqlite_interrupt.__name__):
            assert_usable(connector)
            session = connector._lease(None)  # a second connection: still one warning
            assert_usable(connector)
            connector._pool.release(session)
        assert [record.levelname for record in caplog.records] == ["WARNING"]
        assert "cannot be interrupted" in caplog.records[0].getMessage()
        cancel = CancelScope()
        reader = connector.execute(FragmentQuery('SELECT x.a AS n FROM "t" AS x, "t" AS y', expected_schema=COUNT),
                                   cancel)
        assert reader.read_next_batch().num_rows > 0
        cancel.cancel()
        with pytest.raises(QueryCancelled):
            reader.read_next_batch()
    finally:
        connector.close()


def test_runtime_query_timeout_stops_a_runaway_sqlite_query(database: Path, tmp_path: Path) -> None:
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(f"""\
mesh:
  name: interrupts
settings:
  query_timeout_seconds: 1.0
products:
  numbers:
    domain: test
    engine: {{kind: sqlite, path: {database}}}
    tables:
      t: {{}}
    access: {{read: [reader]}}
users:
  alice: {{password: "alice-secret", roles: [reader]}}
""")
    sql = ("SELECT count(*) AS n FROM numbers.t AS x, numbers.t AS y, numbers.t AS z "
           "WHERE x.a + y.a + z.a = -1")
    with MeshRuntime.open(descriptor) as runtime:
        alice = runtime.principal_for("alice")
        assert alice is not None
        plan = runtime.bind(runtime.prepare(sql, alice), alice)
        assert [fragment.engine for fragment in plan.fragments] == ["sqlite"] and plan.residual is None
        earlier = set(threading.enumerate())
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            runtime.query(sql, alice).read_all()
        assert time.monotonic() - started < 1.0 + 1.0
        # The engine stopped too, not only the answer: the fragment's thread has ended.
        while any(thread.name.startswith("fragment-") for thread in set(threading.enumerate()) - earlier):
            assert time.monotonic() - started < 1.0 + BOUND
            time.sleep(0.05)
        assert runtime.query("SELECT count(*) AS n FROM numbers.t", alice).read_all().column(0).to_pylist() == [ROWS]
