"""The mesh's state store: the one place where state that must outlive a process is kept.

The descriptor's mesh-level ``state:`` key says where::

    state: {path: state/flightmesh.sqlite}                  # the default, beside the descriptor
    state: {kind: postgresql, uri: postgresql://...}        # shared by replicas

Users of the store (the privacy ledger today, query history later) each create their own tables
through ``ensure`` (idempotent DDL, ``CREATE TABLE IF NOT EXISTS``) and change them only inside
``transaction()``. A transaction is the unit of atomicity across threads, processes and replicas:

* SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock at the start, so two transactions
  that read-then-write cannot interleave (the second waits, up to ``busy_timeout``);
* PostgreSQL: READ COMMITTED plus row locks: a reader that means to write reads with
  ``tx.for_update`` appended (``SELECT ... FOR UPDATE``), which makes a concurrent writer of the
  same row wait for this transaction's commit and then see its result.

SQL given to ``execute`` is written once for both engines: ``?`` placeholders (turned into
PostgreSQL's ``$1, $2 ...`` here) and the common subset of both dialects (``INSERT ... ON
CONFLICT DO NOTHING``, ``BIGINT``, ``TEXT``). It never contains a ``?`` other than a placeholder.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

from flightmesh.mesh import FlightmeshError
from flightmesh.mesh.descriptor_privacy import StateSpec

__all__ = ["StateStore", "StateTransaction", "StateUnavailable", "open_state_store", "state_change_problem"]

log = logging.getLogger(__name__)


class StateUnavailable(FlightmeshError):
    """The state store cannot be reached or written; nothing that needs it may proceed."""


class StateTransaction(Protocol):
    for_update: str          # appended to a SELECT whose rows the transaction will write

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class StateStore(Protocol):
    kind: str

    def ensure(self, ddl: Sequence[str]) -> None: ...

    def transaction(self, *, durable: bool = True) -> Any: ...   # a context manager yielding a StateTransaction

    def close(self) -> None: ...


def open_state_store(spec: StateSpec) -> StateStore:
    if spec.kind == "postgresql":
        assert spec.uri is not None
        return PostgresStateStore(spec.uri)
    assert spec.path is not None
    return SqliteStateStore(spec.path)


def state_change_problem(running: StateSpec, loaded: StateSpec) -> str | None:
    """Why a reload whose ``state:`` names another store than the running one is refused (None: same store).

    The store is restart-only, like Trino's node settings: switching it live would leave the
    running queries' reservations in the old ledger and start the new one from nothing (a budget
    spent there would be spendable again here), and replicas would disagree on which store holds
    the truth. The message names the keys that differ, never a path or URI (they may hold secrets)."""
    differs = [key for key in ("kind", "path", "uri") if getattr(running, key) != getattr(loaded, key)]
    if not differs:
        return None
    where = loaded.origin or "state (now the default, beside the descriptor)"
    keys = ", ".join(f"state.{key}" for key in differs)
    return (f"{where}: changed ({keys}); the state store (privacy ledger, query history) is chosen when the "
            f"server starts, so a change of state: needs a restart; the running mesh is unchanged and keeps "
            f"using its store")


# -- SQLite ------------------------------------------------------------------------------------------


class _SqliteTransaction:
    for_update = ""  # BEGIN IMMEDIATE already holds the write lock for the whole transaction

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(sql, tuple(parameters)).fetchall())


class SqliteStateStore:
    """A SQLite file; one connection per transaction, so threads and processes share it safely."""

    kind = "sqlite"
    busy_timeout_seconds = 30.0

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as connection:
                # WAL: readers never wait for the writer; writers still take turns (BEGIN IMMEDIATE).
                connection.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as error:
            log.error("state store %s cannot be opened: %s", path, error)
            raise StateUnavailable("the mesh's state store cannot be opened (details in the server log)") from None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; ours are explicit BEGIN IMMEDIATE.
        return sqlite3.connect(self.path, timeout=self.busy_timeout_seconds, isolation_level=None,
                               check_same_thread=False)

    def ensure(self, ddl: Sequence[str]) -> None:
        with self.transaction() as tx:
            for statement in ddl:
                tx.execute(statement)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[StateTransaction]:
        """``durable=False``: the commit is not flushed to disk (WAL, synchronous=NORMAL), so it
        survives a crash of the process but maybe not of the machine. A commit's fsync costs
        ~20 ms median here (up to 200 ms on a loaded disk): the query history, written at the end
        of every query's stream, takes that trade; the privacy ledger never does."""
        try:
            connection = self._connect()
        except sqlite3.Error as error:
            log.error("state store %s cannot be opened: %s", self.path, error)
            raise StateUnavailable("the mesh's state store cannot be opened (details in the server log)") from None
        try:
            if not durable:
                connection.execute("PRAGMA synchronous = NORMAL")  # this connection only
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            log.error("state store %s failed: %s", self.path, error)
            raise StateUnavailable("the mesh's state store failed (details in the server log)") from None
        finally:
            connection.close()

    def close(self) -> None:
        pass  # connections live for one transaction each


# -- PostgreSQL ----------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _PostgresTransaction:
    for_update = " FOR UPDATE"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            if parameters:
                cursor.execute(_numbered(sql), tuple(parameters))
            else:
                cursor.execute(sql)
            if cursor.description is None:
                return []
            return [tuple(row) for row in cursor.fetchall()]


class PostgresStateStore:
    """A PostgreSQL database shared by replicas; a few idle connections are kept for reuse."""

    kind = "postgresql"
    max_idle = 4

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        with self.transaction():
            pass  # reachable now, or the mesh does not open

    def _connect(self) -> Any:
        import adbc_driver_postgresql.dbapi as pg  # the driver the postgresql connector uses too

        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return pg.connect(self.uri)
        except Exception as error:
            log.error("state store (postgresql) cannot be reached: %s", str(error).split("\n")[0])
            raise StateUnavailable("the mesh's state store cannot be reached (details in the server log)") from None

    def ensure(self, ddl: Sequence[str]) -> None:
        for statement in ddl:
            try:
                with self.transaction() as tx:
                    tx.execute(statement)
            except StateUnavailable:
                # Two replicas creating one table at once: one wins, the other's CREATE ... IF NOT
                # EXISTS can still fail on the catalog's unique index; the table exists either way.
                with self.transaction() as tx:
                    tx.execute(statement)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[StateTransaction]:
        connection = self._connect()
        healthy = True
        try:
            try:
                transaction = _PostgresTransaction(connection)
                if not durable:  # the same trade as SQLite's: no wait for the WAL flush at commit
                    transaction.execute("SET LOCAL synchronous_commit = off")
                yield transaction
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        except FlightmeshError:
            raise
        except Exception as error:
            healthy = False
            log.error("state store (postgresql) failed: %s", str(error).split("\n")[0])
            raise StateUnavailable("the mesh's state store failed (details in the server log)") from None
        finally:
            self._release(connection, healthy)

    def _release(self, connection: Any, healthy: bool) -> None:
        with self._lock:
            if healthy and len(self._idle) < self.max_idle:
                self._idle.append(connection)
                return
        with suppress(Exception):
            connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            with suppress(Exception):
                connection.close()
