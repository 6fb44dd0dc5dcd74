"""The history writer waits for more rows as a daemon: a process exiting without close() still
writes what it queued, and does not wait for the writer's idle time to end."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from flightmesh.executor.query_history import QueryHistory
from flightmesh.mesh.descriptor_privacy import StateSpec

_SCRIPT = """
import datetime as dt, sys
from pathlib import Path
from flightmesh.executor.query_history import HistoryEntry, QueryHistory
from flightmesh.mesh.descriptor_privacy import StateSpec
history = QueryHistory(StateSpec(kind="sqlite", path=Path(sys.argv[1])), linger_seconds=5.0, idle_seconds=60.0)
now = dt.datetime.now(dt.UTC)
for n in range(3):
    history.submit(HistoryEntry(query_id=f"q{n}", user="alice", sql="SELECT 1", outcome="ok", started_at=now,
                                ended_at=now, elapsed_ms=1, rows=1, bytes=8, products=(), error=None))
# no close(): the interpreter exits with the rows queued and the writer lingering
"""


def test_rows_queued_at_exit_are_written_without_waiting_for_the_idle_writer(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _SCRIPT, str(path)], check=True, timeout=60)
    assert time.monotonic() - started < 30   # not the writer's 60 s idle wait
    history = QueryHistory(StateSpec(kind="sqlite", path=path))
    try:
        assert sorted(entry.query_id for entry in history.entries()) == ["q0", "q1", "q2"]
    finally:
        history.close()
