"""MariaDB fragments stream from reader processes: bounded memory on both sides, other threads
keep running, cancel and timeout still stop the engine, and abandoned streams leave nothing behind.

Memory is measured with /proc (VmRSS; VmHWM reset through clear_refs where the kernel allows).
The large results come from MariaDB's SEQUENCE engine (``seq_1_to_N``), so nothing is loaded.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from .conftest import mysql_connect

pytestmark = pytest.mark.mysql

MiB = 1 << 20
# 30M rows of (bigint, bigint, ~16-char string): about 1 GiB if it were read whole
LARGE = ("SELECT seq AS n, seq * 7 AS m, concat('row-', seq, '-', seq % 97) AS label "
         "FROM seq_1_to_30000000")
LARGE_SCHEMA = pa.schema([("n", pa.uint64()), ("m", pa.uint64()), ("label", pa.string())])


@pytest.fixture
def connector(mysql_database: str) -> Iterator[Any]:
    from flightmesh.connectors.mysql import MySQLConnector

    connector = MySQLConnector("shop", mysql_database, pool_size=2)
    yield connector
    connector.close()


def _query(sql: str, schema: pa.Schema | None = None, timeout: float | None = None) -> Any:
    from flightmesh.connectors.base import FragmentQuery

    return FragmentQuery(sql, expected_schema=schema, timeout_seconds=timeout)


def _status(pid: int | str = "self") -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return {key: value.strip() for key, value in (line.split(":", 1) for line in status)}


def _mib(pid: int | str, key: str) -> float:
    return int(_status(pid)[key].split()[0]) / 1024


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # VmHWM := VmRSS (Linux >= 4.0)
    except OSError:
        pass  # then only the sampled VmRSS counts


def _ours_running(uri: str) -> list[str]:
    connection = mysql_connect(uri)
    try:
        with connection.cursor() as cursor:
            # this database only: other test runs share the engine (and its process list)
            cursor.execute("SELECT INFO FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
                           "AND INFO LIKE '%/* flightmesh:%' AND ID <> CONNECTION_ID()")
            return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


def _wait_until_nothing_runs(uri: str, seconds: float = 3.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while _ours_running(uri) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _ours_running(uri)


def _gone(pid: int) -> bool:
    try:
        return _status(pid)["State"].startswith("Z")
    except FileNotFoundError:
        return True


def test_a_large_result_grows_the_server_by_a_few_batches(connector: Any, mysql_database: str) -> None:
    from flightmesh.mesh import CancelScope

    connector.execute(_query("SELECT 1 AS x"), CancelScope()).read_all()  # the worker is started
    gc.collect()
    _reset_peak()
    before = _mib("self", "VmRSS")
    reader = connector.execute(_query(LARGE, LARGE_SCHEMA), CancelScope())
    sampled, rows = before, 0
    for index, batch in enumerate(reader):
        rows += batch.num_rows
        sampled = max(sampled, _mib("self", "VmRSS"))
        if index == 40:
            break
    peak = max(sampled, _mib("self", "VmHWM"))
    assert rows > 40 * 10_000 and batch.schema.equals(LARGE_SCHEMA)
    assert peak - before < 64, f"server RSS grew {peak - before:.0f} MiB while reading 41 batches"
    (worker,) = connector._workers.workers()
    del reader, batch
    gc.collect()
    # abandoned: the engine's statement is killed, and so is the worker (a hard stop)
    assert _wait_until_nothing_runs(mysql_database) == []
    assert _gone(worker)


def test_a_stalled_consumer_pauses_the_worker(connector: Any) -> None:
    from flightmesh.mesh import CancelScope

    connector._workers.pause_above = 32 * MiB
    reader = connector.execute(_query(LARGE, LARGE_SCHEMA), CancelScope())
    (worker,) = connector._workers.workers()
    baseline = next(iter(connector._workers._busy)).baseline / MiB
    first = reader.read_next_batch()
    time.sleep(2.0)  # the consumer stalls; unchecked, connectorx would read ahead ~100s of MiB
    grown = _mib(worker, "VmRSS") - baseline
    assert grown < 32 + 16, f"the worker grew {grown:.0f} MiB while its consumer stalled"
    assert _status(worker)["State"].startswith("T")  # paused
    rows = sum(reader.read_next_batch().num_rows for _ in range(20))  # and it resumes on demand
    assert rows == 20 * first.num_rows
    del reader
    gc.collect()


@pytest.mark.parametrize("sql", ["SELECT sleep(1) AS s", "SELECT seq, sleep(0.001) AS s FROM seq_1_to_1000"],
                         ids=["engine-busy", "rows-trickle"])
def test_other_threads_keep_running(connector: Any, sql: str) -> None:
    from flightmesh.mesh import CancelScope

    connector.execute(_query("SELECT 1 AS x"), CancelScope()).read_all()
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.05)
    started = time.monotonic()
    connector.execute(_query(sql), CancelScope()).read_all()
    ended = time.monotonic()
    stop.set()
    ticker.join()
    got = sum(1 for moment in ticks if started <= moment < ended)
    possible = (ended - started) / 0.01
    assert ended - started >= 0.9
    assert got >= 0.8 * possible, f"{got} ticks of {possible:.0f} while the fragment ran"


# rows come fast until 70 000, then one per 10 ms: the first batch is there, the second is not
_SLOW_TAIL = "SELECT seq, IF(seq > 70000, sleep(0.01), 0) AS s FROM seq_1_to_1000000"


def test_cancel_mid_stream_is_query_cancelled(connector: Any, mysql_database: str) -> None:
    from flightmesh.mesh import CancelScope, QueryCancelled

    scope = CancelScope()
    reader = connector.execute(_query(_SLOW_TAIL), scope)
    assert reader.read_next_batch().num_rows > 0
    threading.Timer(0.3, scope.cancel).start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        reader.read_all()
    assert time.monotonic() - started < 1.5
    del reader
    assert _wait_until_nothing_runs(mysql_database) == []


def test_timeout_mid_stream_is_query_timeout(connector: Any, mysql_database: str) -> None:
    from flightmesh.mesh import CancelScope, QueryTimeout

    started = time.monotonic()
    reader = connector.execute(_query(_SLOW_TAIL, timeout=0.8), CancelScope())
    assert reader.read_next_batch().num_rows > 0
    with pytest.raises(QueryTimeout):
        reader.read_all()
    assert time.monotonic() - started < 2.5
    del reader
    assert _wait_until_nothing_runs(mysql_database) == []


def test_cancel_before_the_first_batch(connector: Any, mysql_database: str) -> None:
    from flightmesh.mesh import CancelScope, QueryCancelled

    scope = CancelScope()
    threading.Timer(0.3, scope.cancel).start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        connector.execute(_query("SELECT sleep(30) AS s"), scope).read_all()
    assert time.monotonic() - started < 1.5
    assert _wait_until_nothing_runs(mysql_database) == []


def test_many_batches_arrive_whole_and_in_order(connector: Any) -> None:
    from flightmesh.mesh import CancelScope

    schema = pa.schema([("n", pa.int64())])
    reader = connector.execute(_query("SELECT seq AS n FROM seq_1_to_300000 ORDER BY seq", schema), CancelScope())
    assert reader.schema.equals(schema)
    table = reader.read_all()
    assert table.num_rows == 300_000 and len(table.column("n").chunks) > 1
    assert table.column("n").to_pylist() == list(range(1, 300_001))
    empty = connector.execute(_query("SELECT seq AS n FROM seq_1_to_10 WHERE seq > 10", schema), CancelScope())
    assert empty.read_all().num_rows == 0


def test_workers_are_reused_and_replaced(connector: Any) -> None:
    from flightmesh.mesh import CancelScope

    connector.execute(_query("SELECT 1 AS x"), CancelScope()).read_all()
    (first,) = connector._workers.workers()
    connector.execute(_query("SELECT 2 AS x"), CancelScope()).read_all()
    assert connector._workers.workers() == [first]        # a finished stream keeps its worker
    reader = connector.execute(_query(LARGE, LARGE_SCHEMA), CancelScope())
    reader.read_next_batch()
    del reader
    gc.collect()
    assert _gone(first)                                   # an abandoned one does not
    assert connector.execute(_query("SELECT 3 AS x"), CancelScope()).read_all().to_pylist() == [{"x": 3}]
    (second,) = connector._workers.workers()
    connector.close()
    assert _gone(second)                                  # close stops them all


def test_a_reader_dropped_unread_gives_everything_back(connector: Any, mysql_database: str) -> None:
    from flightmesh.mesh import CancelScope

    for _ in range(3):  # more than the pool's 2 connections: a leak would time out the third lease
        reader = connector.execute(_query(LARGE, LARGE_SCHEMA, timeout=5), CancelScope())
        (worker,) = connector._workers.workers()
        del reader
        gc.collect()
        assert _gone(worker)
    assert _wait_until_nothing_runs(mysql_database) == []


def test_a_worker_killed_mid_stream_is_an_engine_error(connector: Any, mysql_database: str) -> None:
    from flightmesh.mesh import CancelScope, EngineError

    reader = connector.execute(_query(LARGE, LARGE_SCHEMA), CancelScope())
    reader.read_next_batch()
    (worker,) = connector._workers.workers()
    os.kill(worker, signal.SIGKILL)  # as the OOM killer would
    with pytest.raises(EngineError) as caught:
        reader.read_all()
    assert caught.value.product == "shop" and "reader process" in caught.value.detail
    del reader
    assert _wait_until_nothing_runs(mysql_database) == []
    assert connector.execute(_query("SELECT 1 AS x"), CancelScope()).read_all().to_pylist() == [{"x": 1}]


def test_concurrent_streams_each_get_a_worker(connector: Any) -> None:
    from flightmesh.mesh import CancelScope

    schema = pa.schema([("n", pa.int64())])
    readers = {k: connector.execute(_query(f"SELECT seq * {k} AS n FROM seq_1_to_200000", schema), CancelScope())
               for k in (1, 2)}
    assert len(connector._workers.workers()) == 2
    totals = dict.fromkeys(readers, 0)
    while readers:  # interleaved, batch by batch
        for k, reader in list(readers.items()):
            try:
                totals[k] += sum(reader.read_next_batch().column("n").to_pylist())
            except StopIteration:
                del readers[k]
    assert totals == {1: 200_000 * 200_001 // 2, 2: 200_000 * 200_001}


_STALLED_SERVER = """
import sys, time
from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.mysql import MySQLConnector
from flightmesh.mesh import CancelScope
connector = MySQLConnector("shop", sys.argv[1])
connector._workers.pause_above = 16 << 20
reader = connector.execute(FragmentQuery(sys.argv[2]), CancelScope())
reader.read_next_batch()
print(connector._workers.workers()[0], flush=True)
time.sleep(60)
"""


def test_a_server_killed_while_its_worker_is_paused_leaves_nothing(mysql_database: str) -> None:
    import subprocess
    import sys

    with subprocess.Popen([sys.executable, "-c", _STALLED_SERVER, mysql_database, LARGE],
                          stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            worker = int(server.stdout.readline())
            deadline = time.monotonic() + 5
            while not _status(worker)["State"].startswith("T") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _status(worker)["State"].startswith("T")  # paused: only the kernel can end it now
        finally:
            server.kill()
    deadline = time.monotonic() + 3
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(worker)
    assert _wait_until_nothing_runs(mysql_database) == []
