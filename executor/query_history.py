"""Persistent query history in the mesh's state store (``flightmesh.query_history``).

One row per query, written once when its outcome is known; the primary key on the query id makes
a second write of the same query a no-op, so an outcome is classified exactly once however many
paths see the query end. Outcomes (``OUTCOMES``):

* ``ok``        the result was streamed to the end;
* ``refused``   rejected before running: syntax, names, policy, admission;
* ``failed``    an engine or internal error;
* ``cancelled`` a client cancel, a client that went away, or a kill;
* ``timeout``   the query's time limit passed.

The store is the one the privacy ledger uses (the descriptor's ``state:``), so replicas sharing a
PostgreSQL store share the history, and it survives a restart. It is opened on first use. A store
that cannot be written never fails the query: the loss is logged.

Queries hand their rows to ``submit``: a writer thread commits them in batches (what arrives within
``linger_seconds``), so no query's stream waits for the store (a SQLite commit, connection and WAL
checkpoint included, cost ~10 ms of a 13 ms ``SELECT 1`` through the server), and a stream of
queries pays one commit per batch, not per query. The queue is bounded (``max_queued``: a query waits for
room rather than a row being dropped) and kept in order (the first row of a query id wins, as when
written at once). Reading (``entries``) and ``close`` first wait for every row submitted before
them, so a reader in this process sees what a synchronous write would have shown, and a clean
shutdown loses nothing; a killed process may lose the rows still queued (a linger's worth); another
replica or process sees a row up to a linger later.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import tempfile
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from flightmesh.mesh.descriptor_privacy import StateSpec

from .state_store import StateStore, StateUnavailable, open_state_store

__all__ = ["OUTCOMES", "HistoryEntry", "QueryHistory"]

log = logging.getLogger(__name__)

OUTCOMES = ("ok", "refused", "failed", "cancelled", "timeout")

_DDL = (
    "CREATE TABLE IF NOT EXISTS flightmesh_query_history ("
    " query_id TEXT PRIMARY KEY, user_name TEXT NOT NULL, sql_text TEXT NOT NULL, outcome TEXT NOT NULL,"
    " started_at TEXT NOT NULL, ended_at TEXT NOT NULL, elapsed_ms BIGINT NOT NULL, row_count BIGINT,"
    " byte_count BIGINT, products TEXT NOT NULL, error TEXT)",
    "CREATE INDEX IF NOT EXISTS flightmesh_query_history_user ON flightmesh_query_history (user_name, started_at)",
)
_COLUMNS = ("query_id, user_name, sql_text, outcome, started_at, ended_at, elapsed_ms, row_count, byte_count,"
            " products, error")
_INSERT = (f"INSERT INTO flightmesh_query_history ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
           " ON CONFLICT (query_id) DO NOTHING")


@dataclass(frozen=True)
class HistoryEntry:
    query_id: str
    user: str
    sql: str
    outcome: str
    started_at: dt.datetime          # UTC
    ended_at: dt.datetime            # UTC
    elapsed_ms: int
    rows: int | None
    bytes: int | None
    products: tuple[str, ...]
    error: str | None

    def __post_init__(self) -> None:
        assert self.outcome in OUTCOMES, self.outcome


class QueryHistory:
    def __init__(self, state: StateSpec | None, *, max_sql_chars: int = 4096, max_queued: int = 10_000,
                 linger_seconds: float = 0.1, idle_seconds: float = 30.0) -> None:
        self.spec = state
        self.max_sql_chars = max_sql_chars
        self.max_queued = max_queued
        # How long the writer waits for more rows before a commit, unless a reader or close waits.
        self.linger_seconds = linger_seconds
        self.idle_seconds = idle_seconds   # the writer thread ends after this long with nothing to write
        self._store: StateStore | None = None
        self._lock = threading.Lock()
        # The writer's queue; ``_writing``: rows taken from it and not yet committed (or given up).
        self._queued: deque[HistoryEntry] = deque()
        self._writing = 0
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._flushing = 0   # callers waiting in flush(): the writer does not linger for them
        _LIVE.add(self)

    @property
    def store(self) -> StateStore:
        with self._lock:
            if self._store is None:
                spec = self.spec
                if spec is None or (spec.kind == "sqlite" and spec.path is None):
                    # A mesh built in code has no descriptor to sit beside: a private file, and said so.
                    path = Path(tempfile.mkdtemp(prefix="flightmesh-state-")) / "flightmesh.sqlite"
                    log.warning("no state path for this mesh: the query history is kept in %s", path)
                    spec = StateSpec(kind="sqlite", path=path)
                store = open_state_store(spec)
                store.ensure(_DDL)
                self._store = store
            return self._store

    def record(self, entry: HistoryEntry) -> bool:
        """Write ``entry`` now unless its query already has a row; False when it had (or the store failed)."""
        try:
            # Not durable (here and in the writer): a flushed commit costs ~20 ms (state_store), and
            # the history is not worth a machine crash's fsync; the privacy ledger is.
            with self.store.transaction(durable=False) as tx:
                if tx.execute("SELECT 1 FROM flightmesh_query_history WHERE query_id = ?", (entry.query_id,)):
                    return False
                tx.execute(_INSERT, self._values(entry))
            return True
        except StateUnavailable:
            log.error("query %s: its history row (outcome %s) could not be written", entry.query_id, entry.outcome)
            return False

    def submit(self, entry: HistoryEntry) -> None:
        """Queue ``entry`` for the writer thread (see the module docstring); after ``close``, write it now."""
        with self._changed:
            if not self._closed:
                self._changed.wait_for(lambda: len(self._queued) < self.max_queued)
                self._queued.append(entry)
                self._ensure_writer()
                # The writer waits for a first row, or lingers until the queue is half full; other
                # rows change nothing it waits on (waking it for each cost every query ~0.02 ms).
                if len(self._queued) == 1 or len(self._queued) * 2 >= self.max_queued:
                    self._changed.notify_all()
                return
        self.record(entry)

    def _ensure_writer(self) -> None:
        """A writer for the queue (called holding ``_changed``); a new one if the last one died."""
        if self._writer is None or not self._writer.is_alive():
            # A daemon that waits idle_seconds for more rows (a thread started per query of a client
            # pausing between them was ~0.2 ms of each): an interpreter exiting without close()
            # still writes the queue (_flush_at_exit) without waiting for the writer's idle wait.
            self._writer = threading.Thread(target=self._write_queued, name="flightmesh-history", daemon=True)
            self._writer.start()

    def flush(self) -> None:
        """Return once every row submitted so far is committed (or its loss logged)."""
        with self._changed:
            self._flushing += 1
            self._changed.notify_all()
            try:
                while not self._changed.wait_for(lambda: not self._queued and not self._writing, timeout=1.0):
                    if self._queued:
                        self._ensure_writer()   # never wait on a writer that died
            finally:
                self._flushing -= 1

    def _write_queued(self) -> None:
        while True:
            with self._changed:
                if not self._changed.wait_for(lambda: self._queued or self._closed, timeout=self.idle_seconds) \
                        or not self._queued:
                    self._writer = None   # idle or closed, with nothing left: the next submit starts another
                    return
                # One commit for the rows of many queries: a commit costs the store ~10 ms (disk, and
                # CPU the next queries want); a reader, close or a half-full queue cuts the wait short.
                self._changed.wait_for(lambda: self._closed or self._flushing
                                       or len(self._queued) * 2 >= self.max_queued, timeout=self.linger_seconds)
                batch = list(self._queued)
                self._queued.clear()
                self._writing = len(batch)
                self._changed.notify_all()   # room in the queue
            try:
                self._write(batch)
            finally:
                with self._changed:
                    self._writing = 0
                    self._changed.notify_all()

    def _write(self, batch: list[HistoryEntry]) -> None:
        """One transaction for the batch; a query id that has a row already keeps it."""
        try:
            with self.store.transaction(durable=False) as tx:
                for entry in batch:
                    tx.execute(_INSERT, self._values(entry))
        except Exception as error:   # the writer must outlive any failure; the rows' loss is logged
            if not isinstance(error, StateUnavailable):
                log.exception("the query history writer failed")
            for entry in batch:
                log.error("query %s: its history row (outcome %s) could not be written", entry.query_id,
                          entry.outcome)

    def _values(self, entry: HistoryEntry) -> tuple[object, ...]:
        sql = entry.sql if len(entry.sql) <= self.max_sql_chars else entry.sql[: self.max_sql_chars] + " ..."
        return (entry.query_id, entry.user, sql, entry.outcome, _iso(entry.started_at), _iso(entry.ended_at),
                entry.elapsed_ms, entry.rows, entry.bytes, ", ".join(entry.products), entry.error)

    def entries(self, user: str | None = None, *, limit: int = 10_000) -> list[HistoryEntry]:
        """The newest ``limit`` entries, newest first; of ``user`` only, unless None. Every row
        submitted before the call is among them."""
        self.flush()
        where, parameters = ("WHERE user_name = ? ", (user,)) if user is not None else ("", ())
        with self.store.transaction() as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM flightmesh_query_history {where}"
                              f"ORDER BY started_at DESC, query_id DESC LIMIT {int(limit)}", parameters)
        return [HistoryEntry(query_id=r[0], user=r[1], sql=r[2], outcome=r[3],
                             started_at=_parsed(r[4]), ended_at=_parsed(r[5]), elapsed_ms=int(r[6]),
                             rows=r[7], bytes=r[8], products=tuple(p for p in str(r[9]).split(", ") if p),
                             error=r[10]) for r in rows]

    def close(self) -> None:
        """Write what is queued, stop the writer (later rows are written at once), close the store."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join()
        with self._lock:
            if self._store is not None:
                self._store.close()


def _iso(moment: dt.datetime) -> str:
    # Fixed width, UTC: text order is time order in both SQLite and PostgreSQL.
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _parsed(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC)


_LIVE: weakref.WeakSet[QueryHistory] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """At interpreter exit (daemon threads still run then): every history's queued rows committed."""
    for history in list(_LIVE):
        history.flush()
