"""A DuckDB fragment cancelled while streaming ends with QueryCancelled, whatever exception
DuckDB's Arrow reader surfaces its interrupt as (it is sometimes a bare OSError)."""

from __future__ import annotations

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
