"""Server-side state of statements: prepared-statement handles and result tickets.

Both are opaque random bytes bound to the user who created them. Looking up another user's
handle or ticket answers exactly as for one that never existed (NOT_FOUND): it reveals nothing,
and it never runs anything. Closing is idempotent (clients close statements whose session is
already gone), and closing someone else's handle does nothing.

* A **prepared statement** lives until the client closes it, its session closes, or it has been
  idle for ``idle_seconds`` (reported to clients as SqlInfo FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT).
  Parameter rows bound by DoPut are kept on it until the next DoPut replaces them.
* A **ticket** names bound plans waiting for their DoGet. Tickets are single use (Flight's own
  advice), expire after ``idle_seconds`` too, and while their stream runs they can be cancelled
  (CancelFlightInfo).

Replicas: the bytes clients hold are signed, self-contained tokens (``ticket_codec``), and these
registries are each replica's memory of them, keyed by the token's nonce. A replica that never saw
a token ``adopt``s it (re-prepared, or its plans restored, by ``queries``); closed statements and
used or cancelled tickets are remembered (``was_closed``, ``known``) so they stay refused here.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from flightmesh.mesh import CancelScope, NotFound, ParameterError, QueryError

from .auth import Caller

__all__ = [
    "PendingResult",
    "PreparedStatement",
    "PreparedStatements",
    "Tickets",
    "common_schema",
    "parameter_rows",
]

_HANDLE_BYTES = 16
_SWEEP_SECONDS = 1.0


@dataclass
class PreparedStatement:
    handle: bytes
    owner: str
    session: str
    query: Any  # the runtime's prepared query
    parameter_rows: list[tuple[Any, ...]] | None = None  # None: nothing bound yet
    last_used: float = 0.0


class PreparedStatements:
    def __init__(
        self, idle_seconds: float, *, max_per_user: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_per_user = max_per_user
        self._clock = clock
        self._lock = threading.Lock()
        self._statements: dict[bytes, PreparedStatement] = {}
        self._closed: dict[bytes, float] = {}   # handle -> when closed
        self.closed_memory_seconds = 24 * 3600.0

    def add(self, query: Any, caller: Caller, *, handle: bytes | None = None,
            parameter_rows: list[tuple[Any, ...]] | None = None) -> PreparedStatement:
        now = self._clock()
        owner = caller.principal.name
        with self._lock:
            self._drop_idle(now)
            if sum(1 for s in self._statements.values() if s.owner == owner) >= self.max_per_user:
                raise QueryError(
                    f"too many open prepared statements ({self.max_per_user}); "
                    "close some before preparing more"
                )
            statement = PreparedStatement(handle or secrets.token_bytes(_HANDLE_BYTES), owner, caller.session,
                                          query, parameter_rows, last_used=now)
            self._statements[statement.handle] = statement
        return statement

    def get(self, handle: bytes, caller: Caller) -> PreparedStatement:
        now = self._clock()
        with self._lock:
            statement = self._statements.get(handle)
            if statement is not None and now - statement.last_used > self.idle_seconds:
                del self._statements[handle]
                statement = None
            if statement is None or statement.owner != caller.principal.name:
                raise NotFound("prepared statement not found; it was closed or has expired")
            statement.last_used = now
            return statement

    def bind(self, handle: bytes, caller: Caller, rows: list[tuple[Any, ...]]) -> PreparedStatement:
        statement = self.get(handle, caller)
        with self._lock:
            statement.parameter_rows = rows
        return statement

    def close(self, handle: bytes, caller: Caller) -> bool:
        """Close the caller's statement. Closing is idempotent: a handle that is gone already
        (expired, its session closed) or is someone else's is left alone, and False returned,
        so a client tidying up never fails on it."""
        with self._lock:
            statement = self._statements.get(handle)
            if statement is None or statement.owner != caller.principal.name:
                return False
            del self._statements[handle]
            self._closed[handle] = self._clock()
            return True

    def was_closed(self, handle: bytes) -> bool:
        """Closed here (by its client or its session): not to be re-prepared from its handle here."""
        with self._lock:
            return handle in self._closed

    def close_session(self, session: str) -> int:
        with self._lock:
            doomed = [handle for handle, s in self._statements.items() if s.session == session]
            now = self._clock()
            for handle in doomed:
                del self._statements[handle]
                self._closed[handle] = now
        return len(doomed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._statements)

    def _drop_idle(self, now: float) -> None:
        idle = [h for h, s in self._statements.items() if now - s.last_used > self.idle_seconds]
        for handle in idle:
            del self._statements[handle]
        # Memory of closed handles, for as long as a handle is good (ticket_codec.HANDLE_SECONDS).
        for handle in [h for h, at in self._closed.items() if now - at > self.closed_memory_seconds]:
            del self._closed[handle]


@dataclass
class PendingResult:
    """Bound plans (one per parameter row) whose concatenated results one DoGet streams."""

    handle: bytes
    owner: str
    session: str
    plans: list[Any]
    schema: pa.Schema
    created: float
    scope: CancelScope = field(default_factory=CancelScope)
    query_id: str = ""   # given when the ticket is issued (executor.query_context); "" until then


class Tickets:
    def __init__(
        self, idle_seconds: float, *, max_pending: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_pending = max_pending
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[bytes, PendingResult] = {}
        self._running: dict[bytes, PendingResult] = {}
        self._spent: dict[bytes, float] = {}   # taken, adopted or cancelled here -> when
        self._next_sweep = 0.0   # _drop_stale scans every ticket: at most once per _SWEEP_SECONDS

    def issue(self, caller: Caller, plans: list[Any], schema: pa.Schema) -> PendingResult:
        now = self._clock()
        with self._lock:
            self._drop_stale(now)
            if len(self._pending) >= self.max_pending:
                # Clients that never DoGet their tickets: forget the oldest, not the newest.
                oldest = min(self._pending.values(), key=lambda result: result.created)
                del self._pending[oldest.handle]
            result = PendingResult(secrets.token_bytes(_HANDLE_BYTES), caller.principal.name, caller.session,
                                   plans, schema, now)
            self._pending[result.handle] = result
        return result

    def take(self, handle: bytes, caller: Caller) -> PendingResult:
        """Claim a ticket for its one DoGet; it is running until ``finished``."""
        now = self._clock()
        with self._lock:
            result = self._pending.get(handle)
            expired = result is not None and now - result.created > self.idle_seconds
            if result is None or result.owner != caller.principal.name or expired:
                raise NotFound("ticket not found; it was already used or has expired")
            del self._pending[handle]
            self._running[handle] = result
            self._spent[handle] = now
        return result

    def known(self, handle: bytes) -> bool:
        """Issued, used or cancelled here: ``take`` decides; else another replica issued it."""
        with self._lock:
            return handle in self._pending or handle in self._running or handle in self._spent

    def adopt(self, handle: bytes, caller: Caller, plans: list[Any], schema: pa.Schema) -> PendingResult:
        """Run here a ticket another replica issued (its plans restored); single use on this replica too."""
        now = self._clock()
        with self._lock:
            self._drop_stale(now)
            if handle in self._pending or handle in self._running or handle in self._spent:
                raise NotFound("ticket not found; it was already used or has expired")
            result = PendingResult(handle, caller.principal.name, caller.session, plans, schema, now)
            self._running[handle] = result
            self._spent[handle] = now
        return result

    def finished(self, handle: bytes) -> None:
        with self._lock:
            self._running.pop(handle, None)

    def cancel(self, handle: bytes, caller: Caller) -> bool:
        """Cancel a pending or running result of ``caller``; False when there is none."""
        with self._lock:
            result = self._pending.get(handle) or self._running.get(handle)
            if result is None or result.owner != caller.principal.name:
                return False
            self._pending.pop(handle, None)
            self._spent[handle] = self._clock()
        result.scope.cancel()
        return True

    def close_session(self, session: str) -> None:
        """Forget the session's pending tickets and stop its running streams."""
        with self._lock:
            pending = [h for h, r in self._pending.items() if r.session == session]
            now = self._clock()
            for handle in pending:
                del self._pending[handle]
                self._spent[handle] = now
            running = [r for r in self._running.values() if r.session == session]
        for result in running:
            result.scope.cancel()

    def running(self) -> list[PendingResult]:
        """The results whose streams are running now."""
        with self._lock:
            return list(self._running.values())

    def _drop_stale(self, now: float) -> None:
        # Only memory is given back here: ``take`` refuses an expired ticket itself, and one spent
        # is refused a little longer than needed. So the scan (every ticket issued in the last
        # idle_seconds: thousands at a hundred queries a second) runs once a second, not per query.
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_SECONDS
        stale = [h for h, r in self._pending.items() if now - r.created > self.idle_seconds]
        for handle in stale:
            del self._pending[handle]
        # Past idle_seconds a ticket's signed expiry refuses it anyway: no need to remember it longer.
        for handle in [h for h, at in self._spent.items() if now - at > self.idle_seconds]:
            del self._spent[handle]


def parameter_rows(parameters: pa.Table, expected: pa.Schema) -> list[tuple[Any, ...]]:
    """The rows of a DoPut parameter upload as Python tuples, one per execution.

    Columns are matched by position (ADBC names them "0", "1", ...; flightsql-dbapi "param_0",
    ...). Dense-union columns (flightsql-dbapi sends every parameter as one) unwrap to the value
    of their active child. A zero-column, zero-row batch is what ADBC sends for "no parameters".
    """
    if parameters.num_columns == 0:
        return [()]
    if parameters.num_columns != len(expected):
        raise ParameterError(
            f"the statement takes {len(expected)} parameter(s), but {parameters.num_columns} were bound"
        )
    columns = [column.to_pylist() for column in parameters.columns]
    return list(zip(*columns, strict=True))


def common_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for the concatenated results of several bound plans.

    Plans of one statement bound to different values agree on names and types; only
    nullability may differ, and then the field is announced nullable.
    """
    first = schemas[0]
    if all(schema.equals(first) for schema in schemas[1:]):
        return first
    mismatch = ParameterError("the parameter rows give results of different types; execute them separately")
    if any(len(schema) != len(first) for schema in schemas):
        raise mismatch
    fields = []
    for position, field_ in enumerate(first):
        others = [schema.field(position) for schema in schemas]
        if any(other.name != field_.name or other.type != field_.type for other in others):
            raise mismatch
        fields.append(field_.with_nullable(any(other.nullable for other in others)))
    return pa.schema(fields, metadata=first.metadata)
