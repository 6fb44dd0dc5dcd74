"""Idle merge instances are closed after merge_idle_seconds (their memory goes back to the system):
a burst of concurrent merges does not leave IDLE_INSTANCES DuckDBs behind for good. Real DuckDB."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa

from flightmesh.executor.merge import IDLE_INSTANCES, MergeEngine
from flightmesh.mesh import Settings


def _merge(cursor: duckdb.DuckDBPyConnection) -> int:
    cursor.register("left_side", pa.table({"k": list(range(1000))}))
    cursor.register("right_side", pa.table({"k": list(range(500, 1500))}))
    rows = cursor.execute("SELECT count(*) FROM left_side JOIN right_side USING (k)").fetchall()
    return int(rows[0][0])


def _closed(instance: duckdb.DuckDBPyConnection) -> bool:
    try:
        instance.execute("SELECT 1")
    except duckdb.ConnectionException:
        return True
    return False


def _wait_for(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_burst_of_merges_leaves_no_idle_instance_behind(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    engine = MergeEngine(Settings(merge_idle_seconds=0.3, merge_spill_directory=str(spill)))
    try:
        leases = [engine.lease() for _ in range(3)]  # three queries merging at once
        for cursor, _ in leases:
            assert _merge(cursor) == 500
        for _, give_back in leases:
            give_back()
        assert engine.idle_instances() == 3  # kept for the next query first
        for folder in engine._folders.values():  # as DuckDB leaves them after a merge that spilled
            folder.mkdir(parents=True, exist_ok=True)
        assert len(list(spill.glob("merge-*"))) == 4
        kept = [instance for instance, _ in engine._idle]
        # The three closed; one fresh instance (never used: the baseline memory) waits in their place.
        assert _wait_for(lambda: engine.idle_instances() == 0 and len(engine._idle) == 1
                         and engine._idle[0][0] not in kept)
        # Their spill folders forgotten and removed (a server running for months opens many instances);
        # only the typing instance's is left (the fresh one has written none). Probed once the reaper is
        # done: an instance is closed by one thread, and a probe racing the close would make the close fail.
        assert _wait_for(lambda: len(engine._folders) == 2)
        assert len(list(spill.glob("merge-*"))) == 1
        assert all(_closed(instance) for instance in kept)  # really closed, not only forgotten
        standby = engine._idle[0][0]
        time.sleep(0.6)  # past merge_idle_seconds twice: the fresh instance is not reaped
        assert [instance for instance, _ in engine._idle] == [standby]
        cursor, give_back = engine.lease()  # the next burst starts on it
        assert _merge(cursor) == 500
        give_back()
    finally:
        engine.close()


def test_the_first_merge_after_a_pause_does_not_open_an_instance() -> None:
    """Opening one costs ~11 ms: the reaper leaves a fresh one for the next query."""
    engine = MergeEngine(Settings(merge_idle_seconds=0.1))
    try:
        cursor, give_back = engine.lease()
        assert _merge(cursor) == 500
        give_back()
        used = engine._idle[0][0]
        assert _wait_for(lambda: len(engine._idle) == 1 and engine._idle[0][0] is not used)
        assert _closed(used)
        opened = engine._opened
        cursor, give_back = engine.lease()
        assert engine._opened == opened  # the fresh instance, not a new one
        assert _merge(cursor) == 500
        give_back()
    finally:
        engine.close()


def test_an_instance_in_use_is_never_reaped() -> None:
    engine = MergeEngine(Settings(merge_idle_seconds=0.1))
    try:
        cursor, give_back = engine.lease()
        _other, other_back = engine.lease()
        other_back()  # one given back starts the reaper; the other stays leased past its idle time
        given = engine._idle[0][0]
        assert _wait_for(lambda: all(instance is not given for instance, _ in engine._idle))
        time.sleep(0.3)  # past its idle time, and the reaper ran meanwhile
        assert _merge(cursor) == 500
        give_back()
    finally:
        engine.close()


def test_zero_idle_seconds_closes_each_instance_when_its_query_ends() -> None:
    engine = MergeEngine(Settings(merge_idle_seconds=0))
    try:
        cursor, give_back = engine.lease()
        assert _merge(cursor) == 500
        give_back()
        assert engine.idle_instances() == 0
    finally:
        engine.close()


def test_the_idle_pool_stays_bounded() -> None:
    engine = MergeEngine(Settings(merge_idle_seconds=600))
    try:
        leases = [engine.lease() for _ in range(IDLE_INSTANCES + 2)]
        for _, give_back in leases:
            give_back()
        assert engine.idle_instances() == IDLE_INSTANCES
    finally:
        engine.close()
