"""The merge engine: embedded DuckDBs that join fragment streams, locked down (DESIGN.md §6).

Each running query merges in an in-memory DuckDB instance of its own (``lease``), because
DuckDB's memory limit is per instance: one query's ``merge_memory_limit`` then bounds that query
alone, and a merge that outgrows it cannot starve the others. Past the limit DuckDB spills its
joins, aggregates and sorts to the instance's folder under the spill directory, up to
``merge_spill_limit``; past that the query fails with a clear error and the server keeps
serving. Instances are reused (opening one costs tens of milliseconds): a finished query gives
its instance back, and up to ``IDLE_INSTANCES`` wait for the next. Typing over empty tables
(``schema_of``) shares one more instance. Every instance reads no files, loads no extensions,
and its configuration is locked before any query.

An instance costs memory even when idle (about 6 MB for DuckDB's catalog and threads, more after
a merge): a burst of concurrent merges would leave ``IDLE_INSTANCES`` of them behind for good. So
an instance unused for ``merge_idle_seconds`` is closed by a reaper thread (started with the first
merge), and the freed memory is given back to the system (``allocator``): after the burst the
server returns to its idle size. Opening an instance costs ~11 ms, several times a small query's
whole time, so when the reaper has closed the last idle one it opens one fresh instance in its
place (the baseline 6 MB, none of what merges grew): the first query after a pause does not pay
the opening. A fresh instance is never reaped; once leased it ages like the others.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from flightmesh.connectors.duckdb import lock_down
from flightmesh.connectors.engine_errors import duckdb_failure, mesh_error
from flightmesh.mesh import DescriptorError, QueryError, Settings

from .allocator import give_back_freed_memory

__all__ = ["IDLE_INSTANCES", "MergeEngine", "register_input"]

IDLE_INSTANCES = 8


def _sized_stream_class() -> type | None:
    """DuckDB's private base class for Arrow sources subclassed to report a row count, or None.

    ``duckdb._sources`` and ``_register_arrow_source`` are underscored: a DuckDB release may move
    them. Without them a sized stream is registered plainly, so answers never depend on the hook;
    only the merge's join order does (tests/planner/test_merge_sizes.py fails if the hook is gone).
    """
    try:
        from duckdb._sources.pyarrow import PyArrowReaderSource
    except ImportError:
        return None
    if not hasattr(duckdb.DuckDBPyConnection, "_register_arrow_source"):
        return None

    class SizedStream(PyArrowReaderSource):
        """A fragment's stream that tells DuckDB the rows the planner expects of it (planner/merge_sizes.py)."""

        def __init__(self, reader: pa.RecordBatchReader, rows: int) -> None:
            super().__init__(reader)
            self._rows = rows

        def rows(self) -> int | None:
            return self._rows

    return SizedStream


_SizedStream: type | None = _sized_stream_class()


def register_input(cursor: duckdb.DuckDBPyConnection, name: str, data: pa.Table | pa.RecordBatchReader,
                   rows: int | None = None) -> None:
    """Register one fragment for the residual: a table as is (DuckDB counts its rows), a stream
    with ``rows`` when the plan sizes it, else as a stream DuckDB takes for one row.

    A sized stream goes through DuckDB's hook for Arrow sources (``_register_arrow_source``: a
    ``Source`` whose ``rows()`` feeds the optimizer's cardinality), the only way DuckDB 2.0's
    Python API offers to size a stream without reading it; ``register`` refuses a ``Source``.
    """
    if rows is None or isinstance(data, pa.Table) or _SizedStream is None:
        cursor.register(name, data)
    else:
        cursor._register_arrow_source(name, _SizedStream(data, rows))


class MergeEngine:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        given = settings.merge_spill_directory
        self._own_spill = not given  # a folder made here is removed at close; a given one is left
        self._spill = Path(given) if given else Path(tempfile.mkdtemp(prefix="flightmesh-spill-"))
        try:
            self._spill.mkdir(parents=True, exist_ok=True)  # DuckDB creates only the last level
        except OSError as error:
            problem = f"settings.merge_spill_directory: cannot create {given}: {error.strerror}"
            raise DescriptorError([problem]) from None
        self._lock = threading.Lock()
        self._opened = 0
        # Idle instances with the time each was given back; the most recent is leased first, so
        # the others age and the reaper closes them once a burst is over.
        self._idle: list[tuple[duckdb.DuckDBPyConnection, float]] = []
        self._leased: set[duckdb.DuckDBPyConnection] = set()
        self._fresh: set[duckdb.DuckDBPyConnection] = set()   # opened by the reaper, never leased yet
        self._folders: dict[duckdb.DuckDBPyConnection, Path] = {}   # each instance's spill folder
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None
        self._connection = self._instance()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the typing instance (shared: typing runs over empty tables)."""
        with self._lock:  # cursor() on one connection from many threads: serialize the call
            return self._connection.cursor()

    def lease(self) -> tuple[duckdb.DuckDBPyConnection, Callable[[], None]]:
        """A cursor of an instance for one query's merge alone, and the function that gives it back."""
        with self._lock:
            instance = self._idle.pop()[0] if self._idle else None
        if instance is None:
            instance = self._instance()
        with self._lock:
            self._leased.add(instance)
            self._fresh.discard(instance)
        cursor = instance.cursor()
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            with self._lock:
                if given_back:
                    return
                given_back = True
                self._leased.discard(instance)
                keep = (len(self._idle) < IDLE_INSTANCES and self._settings.merge_idle_seconds > 0
                        and not self._closed.is_set())
                if keep:
                    self._idle.append((instance, time.monotonic()))
                    self._start_reaper()
            with contextlib.suppress(duckdb.Error):
                cursor.close()
            if not keep:
                self._close_instance(instance)

        return cursor, give_back

    def idle_instances(self) -> int:
        """Idle instances a merge has used (the fresh standby, like the typing instance, is not counted)."""
        with self._lock:
            return sum(1 for instance, _ in self._idle if instance not in self._fresh)

    def _start_reaper(self) -> None:
        """(Under the lock.) The thread that closes instances idle too long, once there is one."""
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="flightmesh-merge-reaper", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        idle_seconds = self._settings.merge_idle_seconds
        while not self._closed.wait(max(0.05, idle_seconds / 4)):
            cutoff = time.monotonic() - idle_seconds
            with self._lock:
                stale = [instance for instance, since in self._idle
                         if since <= cutoff and instance not in self._fresh]
                closing = {id(instance) for instance in stale}
                self._idle = [(instance, since) for instance, since in self._idle if id(instance) not in closing]
            for instance in stale:
                self._close_instance(instance)
            if stale:
                give_back_freed_memory()
                self._open_standby()

    def _open_standby(self) -> None:
        """(On the reaper.) A fresh instance for the next query, when none is idle any more."""
        with self._lock:
            if self._idle or self._closed.is_set():
                return
        standby = self._instance()
        with self._lock:
            if not self._closed.is_set() and not self._idle:
                self._idle.append((standby, time.monotonic()))
                self._fresh.add(standby)
                return
        self._close_instance(standby)   # closed meanwhile, or a query gave one back

    def _close_instance(self, instance: duckdb.DuckDBPyConnection) -> None:
        """Close an instance for good, and remove its spill folder (a long-running server opens many)."""
        with contextlib.suppress(duckdb.Error):
            instance.close()
        with self._lock:
            folder = self._folders.pop(instance, None)
            self._fresh.discard(instance)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _instance(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            self._opened += 1
            folder = self._spill / f"merge-{self._opened}"
        settings = self._settings
        # Set at open, before lock_down locks the configuration: the spill folder and its bound.
        connection = duckdb.connect(":memory:", config={
            "temp_directory": str(folder), "max_temp_directory_size": settings.merge_spill_limit})
        connection.execute("SET preserve_insertion_order = true")
        lock_down(connection, threads=settings.merge_threads, memory_limit=settings.merge_memory_limit)
        with self._lock:
            self._folders[connection] = folder
        return connection

    def schema_of(self, sql: str, inputs: dict[str, pa.Schema]) -> pa.Schema:
        """The schema ``sql`` produces over empty tables with the ``inputs`` schemas."""
        cursor = self.cursor()
        try:
            for name, schema in inputs.items():
                cursor.register(name, schema.empty_table())
            return cursor.sql(f"SELECT * FROM ({sql}) AS typed LIMIT 0").to_arrow_table().schema
        except (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException) as error:
            # Over empty tables only literals can fail: the client's or a policy's. The message
            # names the reason class; the executor quotes the value only if it is the client's.
            raise mesh_error(None, duckdb_failure(error), str(error), scope="the query does not type-check") from None
        except (duckdb.BinderException, duckdb.TypeMismatchException, duckdb.CatalogException,
                duckdb.ParserException) as error:
            # ParserException: sqlglot accepted a malformed call (EXISTS(-2)) and printed SQL that
            # DuckDB cannot read; still the client's statement, not an incident.
            # Typing runs over empty tables: its messages speak of types and of the client's own
            # literals, never of rows. Reported as the query's mistake, not an internal error.
            message = str(error).split("\n")[0].split(": ", 1)[-1]
            raise QueryError(f"the query does not type-check: {message}") from None
        finally:
            cursor.close()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            instances = [self._connection, *(instance for instance, _ in self._idle), *self._leased]
            self._idle, self._leased = [], set()
            reaper = self._reaper
        if reaper is not None and reaper is not threading.current_thread():
            reaper.join()
        for instance in instances:
            with contextlib.suppress(duckdb.Error):
                instance.close()
        if self._own_spill:
            shutil.rmtree(self._spill, ignore_errors=True)
        else:
            for folder in self._spill.glob("merge-*"):
                shutil.rmtree(folder, ignore_errors=True)
