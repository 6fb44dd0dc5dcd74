"""Spark Connect's ``Interrupt`` (connectors/spark_interrupt.py) against LakeSail started in this process.

The job stopping on Apache Spark's own server is shown through its REST API in
tests/connectors/test_spark_jvm.py; here the call must reach Sail and end a statement that would
otherwise run for minutes, and the connector must use it for its own sessions only.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.spark import SparkConnector
from flightmesh.connectors.spark_interrupt import interrupt_request, interrupt_session
from flightmesh.mesh import CancelScope, QueryCancelled

# 4e10 pairs: minutes of work on this machine.
SLOW = "SELECT count(*) AS n FROM range(200000) a CROSS JOIN range(200000) b WHERE a.id <> b.id"
# A few seconds of work: long enough for a late interrupt to arrive while it runs.
MEDIUM_SIDE = 50000
MEDIUM = f"SELECT count(*) AS n FROM range({MEDIUM_SIDE}) a CROSS JOIN range({MEDIUM_SIDE}) b WHERE a.id <> b.id"
MEDIUM_PAIRS = MEDIUM_SIDE * (MEDIUM_SIDE - 1)


def _cancel_slow_statement(connector: SparkConnector) -> None:
    """Run the minutes-long statement and cancel it after a second: it must end as cancelled."""
    scope = CancelScope()
    timer = threading.Timer(1.0, scope.cancel)
    timer.start()
    try:
        with pytest.raises(QueryCancelled):
            connector.execute(FragmentQuery(SLOW), scope).read_all()
    finally:
        timer.cancel()


def test_the_request_is_the_protobuf_message() -> None:
    """session_id = 1, user_context = 2 {user_id = 1}, client_type = 3, interrupt_type = 4 (ALL = 1)."""
    assert interrupt_request("s", "u") == b"\x0a\x01s" + b"\x12\x03\x0a\x01u" + b"\x1a\x0aflightmesh" + b"\x20\x01"
    long = "x" * 200   # a length past one byte is a two-byte varint
    assert interrupt_request(long, "")[:3] == b"\x0a\xc8\x01"


def test_interrupt_ends_a_running_statement(sail_endpoint: str) -> None:
    import adbc_driver_spark.dbapi as spark_dbapi

    session = str(uuid.uuid4())
    ended = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        with spark_dbapi.connect(sail_endpoint, db_kwargs={"adbc.spark.session_id": session}) as connection, \
                connection.cursor() as cursor:
            try:
                cursor.execute(SLOW)
                outcome.append(cursor.fetchall())
            except Exception as error:
                outcome.append(error)
        ended.set()

    threading.Thread(target=run, daemon=True).start()
    assert not ended.wait(2)   # still running
    interrupt_session(sail_endpoint.removeprefix("sc://"), session, "", tls=False, token=None)
    assert ended.wait(60)      # the statement alone would run for minutes
    # Sail answers an interrupted statement with no rows (no error): never a count of the pairs
    assert outcome and outcome[0] != [(200000 * 199999,)]


def test_cancel_interrupts_the_connectors_own_session(sail_endpoint: str) -> None:
    connector = SparkConnector("interrupted", sail_endpoint, pool_size=1, timeout_seconds=60)
    try:
        _cancel_slow_statement(connector)
        # the pool's one session serves at once: nothing of the cross join holds it
        table = connector.execute(FragmentQuery("SELECT 41 + 1 AS v", timeout_seconds=60), CancelScope()).read_all()
        assert table.column("v").to_pylist() == [42]
    finally:
        connector.close()


def test_a_late_interrupt_does_not_end_the_next_statement(sail_endpoint: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The Interrupt goes out from a thread of its own. Arriving while the pool's connection already
    serves the next statement, it would end that one too, and Sail answers an interrupted statement
    with no rows: a cancelled connection is therefore never reused."""
    from flightmesh.connectors import spark as spark_module

    real = spark_module.interrupt_session
    next_started = threading.Event()
    sent = threading.Event()

    def late(*args: Any, **kwargs: Any) -> None:
        next_started.wait(30)
        time.sleep(0.3)   # inside the next statement, which takes several seconds
        real(*args, **kwargs)
        sent.set()

    monkeypatch.setattr(spark_module, "interrupt_session", late)
    connector = SparkConnector("late", sail_endpoint, pool_size=1, timeout_seconds=120)
    try:
        _cancel_slow_statement(connector)
        next_started.set()
        table = connector.execute(FragmentQuery(MEDIUM, timeout_seconds=120), CancelScope()).read_all()
        assert sent.is_set()   # the interrupt really went out while the statement ran
        assert table.column("n").to_pylist() == [MEDIUM_PAIRS]
    finally:
        connector.close()


def test_a_statement_ended_by_the_interrupt_alone_is_cancelled_not_empty(sail_endpoint: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver cancel that lands before its call is under way does not end the call (seen under
    load); the Interrupt then does, and Sail answers with no rows and no error. The connector must
    raise, never hand on the empty answer as the count."""
    from flightmesh.connectors import spark as spark_module

    def interrupt_only(self: SparkConnector, connection: Any, cursor: Any) -> Any:
        session = self._sessions[id(connection)]
        return lambda: threading.Thread(
            target=spark_module.interrupt_session,
            args=(sail_endpoint.removeprefix("sc://"), session, ""), kwargs={"tls": False, "token": None},
            daemon=True).start()

    monkeypatch.setattr(SparkConnector, "_stopper", interrupt_only)
    connector = SparkConnector("interrupt-only", sail_endpoint, pool_size=1, timeout_seconds=120)
    try:
        _cancel_slow_statement(connector)
    finally:
        connector.close()
