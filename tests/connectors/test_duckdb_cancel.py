"""A DuckDB fragment cancelled while streaming ends with QueryCancelled, whatever exception
DuckDB's Arrow reader surfaces its interrupt as (it is sometimes a bare OSError)."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from flightmesh.connectors import FragmentQuery
from flightmesh.connectors.duckdb import DuckDBConnector
from flightmesh.mesh import CancelScope, QueryCancelled


def test_cancel_mid_stream_is_query_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "big.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS a FROM range(2000000)")
    connector = DuckDBConnector("p", path)
    cancel = CancelScope()
    # a cross product computed lazily: the first batch arrives long before the last
    reader = connector.execute(FragmentQuery('SELECT x.a + y.a AS s FROM "t" AS x, "t" AS y'), cancel)
    assert reader.read_next_batch().num_rows > 0
    cancel.cancel()
    with pytest.raises(QueryCancelled):
        for _ in reader:
            pass


def test_a_cancel_before_the_statement_starts_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "big.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS a FROM range(100000)")
    connector = DuckDBConnector("p", path)
    cancel = CancelScope()
    cancel.cancel()   # a console cancel that overtook its query: an interrupt now reaches nothing
    # a statement of hours: counted, so its first batch is its end
    slow = 'SELECT count(*) AS n FROM "t" AS x, "t" AS y, "t" AS z WHERE x.a * 7 + y.a = z.a + 1'
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            connector.execute(FragmentQuery(slow), cancel).read_all()
            outcome.append(None)
        except BaseException as error:  # the test inspects it
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "a statement cancelled before it started ran on"
    assert len(outcome) == 1 and isinstance(outcome[0], QueryCancelled)
    # the connector still serves
    assert connector.execute(FragmentQuery('SELECT count(*) AS n FROM "t"'), CancelScope()).read_all()["n"][0].as_py() \
        == 100000
