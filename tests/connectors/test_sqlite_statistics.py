"""SQLite's distinct-value estimates come from its own statistics (ANALYZE), checked against
counts computed directly with sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flightmesh.connectors.sqlite import SQLiteConnector


def test_distinct_estimates_from_sqlite_stat1(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, region INTEGER, code TEXT, note TEXT)")
        raw.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                        [(i, i % 7, f"c{i % 300}", "x") for i in range(1, 3001)])
        raw.execute("CREATE INDEX t_region ON t (region)")
        raw.execute("CREATE INDEX t_code ON t (code, region)")
        raw.execute("ANALYZE")
        truth = {column: raw.execute(f"SELECT count(DISTINCT {column}) FROM t").fetchone()[0]
                 for column in ("id", "region", "code")}
    connector = SQLiteConnector("p", path)
    assert connector.distinct_estimate("t", "region") == truth["region"] == 7
    assert connector.distinct_estimate("t", "code") == truth["code"] == 300
    assert connector.distinct_estimate("t", "ID") == truth["id"] == 3000   # the rowid: one per row
    assert connector.distinct_estimate("t", "note") is None                # no index: unknown
    connector.close()
