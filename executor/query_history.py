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
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import threading
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
    def __init__(self, state: StateSpec | None, *, max_sql_chars: int = 4096) -> None:
        self.spec = state
        self.max_sql_chars = max_sql_chars
        self._store: StateStore | None = None
        self._lock = threading.Lock()

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
        """Write ``entry`` unless its query already has a row; False when it had (or the store failed)."""
        sql = entry.sql if len(entry.sql) <= self.max_sql_chars else entry.sql[: self.max_sql_chars] + " ..."
        values = (entry.query_id, entry.user, sql, entry.outcome, _iso(entry.started_at), _iso(entry.ended_at),
                  entry.elapsed_ms, entry.rows, entry.bytes, ", ".join(entry.products), entry.error)
        try:
            # Not durable: this write ends every query's stream, and a flushed commit costs ~20 ms
            # (state_store); a machine crash may lose the last rows, a server crash does not.
            with self.store.transaction(durable=False) as tx:
                if tx.execute("SELECT 1 FROM flightmesh_query_history WHERE query_id = ?", (entry.query_id,)):
                    return False
                tx.execute(f"INSERT INTO flightmesh_query_history ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                           " ON CONFLICT (query_id) DO NOTHING", values)
            return True
        except StateUnavailable:
            log.error("query %s: its history row (outcome %s) could not be written", entry.query_id, entry.outcome)
            return False

    def entries(self, user: str | None = None, *, limit: int = 10_000) -> list[HistoryEntry]:
        """The newest ``limit`` entries, newest first; of ``user`` only, unless None."""
        where, parameters = ("WHERE user_name = ? ", (user,)) if user is not None else ("", ())
        with self.store.transaction() as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM flightmesh_query_history {where}"
                              f"ORDER BY started_at DESC, query_id DESC LIMIT {int(limit)}", parameters)
        return [HistoryEntry(query_id=r[0], user=r[1], sql=r[2], outcome=r[3],
                             started_at=_parsed(r[4]), ended_at=_parsed(r[5]), elapsed_ms=int(r[6]),
                             rows=r[7], bytes=r[8], products=tuple(p for p in str(r[9]).split(", ") if p),
                             error=r[10]) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()


def _iso(moment: dt.datetime) -> str:
    # Fixed width, UTC: text order is time order in both SQLite and PostgreSQL.
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _parsed(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC)
