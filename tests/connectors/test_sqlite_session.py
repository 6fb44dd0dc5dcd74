"""What every pooled SQLite connection is set up with, and the failure that rules out mmap.

Each connection caches the product's pages (``connectors/sqlite.py``: the default 2 MiB cache made
index-driven fragments re-read most pages with pread()), under one process-wide bound. Memory-
mapping the file would save the same reads, but a file truncated in place while mapped raises
SIGBUS, which kills the whole server: the second test truncates a product's file under a running
fragment, in a child process so that such a crash fails the test instead of ending the run.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from flightmesh.connectors.sqlite import SQLiteConnector

ROWS = 300_000  # ~10 MB of pages: most of them are read only after the first batch


def make_database(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", ((i, f"row {i:012d}") for i in range(ROWS)))
    connection.close()
    return path


def test_every_connection_caches_pages_under_one_bound(tmp_path: Path) -> None:
    connector = SQLiteConnector("numbers", make_database(tmp_path / "n.sqlite"))
    try:
        sessions = [connector._pool.acquire() for _ in range(2)]  # two distinct connections
        try:
            for session in sessions:
                cursor = session.connection.cursor()
                settings = {}
                for pragma in ("cache_size", "soft_heap_limit", "mmap_size"):
                    cursor.execute(f"PRAGMA {pragma}")
                    settings[pragma] = cursor.fetchall()[0][0]
                cursor.close()
                assert settings["cache_size"] <= -256 * 1024  # negative: KiB; SQLite's default is -2000
                assert settings["soft_heap_limit"] > 0
                assert settings["mmap_size"] == 0
        finally:
            for session in sessions:
                connector._pool.release(session)
    finally:
        connector.close()


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    import pyarrow as pa
    from flightmesh.connectors import FragmentQuery
    from flightmesh.connectors.sqlite import SQLiteConnector
    from flightmesh.mesh import CancelScope, FlightmeshError

    path = Path(sys.argv[1])
    connector = SQLiteConnector("numbers", path)
    schema = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.string())])
    reader = connector.execute(FragmentQuery('SELECT "a", "b" FROM "t"', expected_schema=schema), CancelScope())
    reader.read_next_batch()
    with open(path, "r+b") as file:  # what `cp other.sqlite product.sqlite` does first
        file.truncate(8192)
    try:
        rows = sum(batch.num_rows for batch in reader)
    except FlightmeshError as error:
        print("error:", type(error).__name__, error)
        sys.exit(0)
    print("read", rows, "rows")
    sys.exit(0)
""")


def test_a_file_truncated_under_a_running_fragment_fails_the_fragment_not_the_process(tmp_path: Path) -> None:
    path = make_database(tmp_path / "n.sqlite")
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the process died (signal {-done.returncode}): {done.stderr[-2000:]}"
    assert done.stdout.startswith("error:"), done.stdout
    assert str(tmp_path) not in done.stdout  # no file paths in errors
