"""One query's life as the operator sees it: admitted, registered while it runs, killed, recorded.

``QueryTracker`` joins admission control (``admission``), the running queries
(``query_registry``) and the persistent history (``query_history``), and classifies how each
query ended — exactly once, by the one ``finish`` (or ``refused``) call its query makes:

===================================================  ==========
how it ended                                          outcome
===================================================  ==========
streamed to the end                                   ok
refused before running: syntax, names, policy,        refused
admission (``ServerBusy``), privacy budget
an engine error (also before running), internal       failed
error, a value error while running
client cancel, client gone, kill                      cancelled
the query's time limit                                timeout
===================================================  ==========

Every start and end is one line in the server log (logger ``flightmesh.queries``) with the query
id, the user, the outcome, rows and elapsed time; the fields are also attached to the record
(``extra``), for a structured formatter.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flightmesh.mesh import (
    CancelScope,
    EngineError,
    FlightmeshError,
    NotFound,
    Principal,
    PrivacyBudgetExhausted,
    QueryCancelled,
    QueryTimeout,
    Settings,
)
from flightmesh.mesh.descriptor_privacy import StateSpec
from flightmesh.mesh.errors import ServerBusy

from . import tracing
from .admission import Admission, Slot
from .query_context import new_query_id, tag, tag_of
from .query_history import HistoryEntry, QueryHistory
from .query_registry import QueryRegistry, RunningQuery

__all__ = ["QueryTracker", "Tracked", "outcome_of"]

log = logging.getLogger("flightmesh.queries")

# Schemas flightmesh answers itself: queries reading only these are not held by admission control.
SYSTEM_SCHEMAS = frozenset({"flightmesh", "mesh", "information_schema"})


@dataclass
class Tracked:
    """A started query: its registry entry and admission slot (None until admitted)."""

    query: RunningQuery
    slot: Slot | None = None
    ran: bool = False          # admitted (or exempt) and started
    finished: bool = False


class QueryTracker:
    def __init__(self, settings: Callable[[], Settings], state: StateSpec | None,
                 admin_roles: Callable[[], tuple[str, ...]], *, max_sql_chars: int = 4096) -> None:
        self.admission = Admission(settings)
        self.registry = QueryRegistry()
        self.history = QueryHistory(state, max_sql_chars=max_sql_chars)
        self.admin_roles = admin_roles   # read at each use: a reload may change them

    def is_admin(self, principal: Principal) -> bool:
        return principal.has_any(self.admin_roles())

    # -- lifecycle ---------------------------------------------------------------------------------

    def issue(self, scope: CancelScope, sql: str, products: tuple[str, ...] = ()) -> str:
        """Give the query under ``scope`` its id (when it is planned and its ticket issued)."""
        found = tag(scope, new_query_id(), sql, products)
        tracing.remember(found)  # the plan span (current while planning) becomes the query's trace
        return found.query_id

    def refused(self, user: str, sql: str, error: BaseException, *, started_at: dt.datetime,
                query_id: str | None = None) -> str:
        """Record a query that ended before running (its id, new unless given)."""
        query_id = query_id or new_query_id()
        now = dt.datetime.now(dt.UTC)
        outcome = outcome_of(error, ran=False)
        self.history.submit(HistoryEntry(
            query_id=query_id, user=user, sql=sql, outcome=outcome, started_at=started_at, ended_at=now,
            elapsed_ms=int((now - started_at).total_seconds() * 1000), rows=None, bytes=None, products=(),
            error=_message(error)))
        log.info("query %s %s: user %s: %s", query_id, outcome, user, _message(error),
                 extra={"query_id": query_id, "user": user, "outcome": outcome})
        return query_id

    def start(self, user: str, scope: CancelScope) -> Tracked:
        """Register the query under ``scope`` and wait for admission (ServerBusy: refused, recorded)."""
        found = tag_of(scope)
        if found is None:  # a scope nobody issued (embedded use): named now
            found = tag(scope, new_query_id())
        query = RunningQuery(found.query_id, user, found.sql, scope, found.products)
        tracked = Tracked(query)
        self.registry.add(query)
        log.info("query %s started: user %s: %s", query.query_id, user, _one_line(query.sql),
                 extra={"query_id": query.query_id, "user": user})
        if not (query.products and set(query.products) <= SYSTEM_SCHEMAS):
            try:
                tracked.slot = self.admission.admit(user, scope)
            except BaseException as error:
                self.finish(tracked, error)
                raise
        # else: reads flightmesh itself only (queries, history, discovery), which an operator of a
        # busy server needs most; no engine works for it, so it takes no slot.
        tracked.ran = True
        query.state = "running"
        return tracked

    def finish(self, tracked: Tracked, error: BaseException | None, *, completed: bool = False) -> str:
        """End a started query: its slot back, out of the registry, its outcome recorded once."""
        if tracked.finished:
            return "ok"
        tracked.finished = True
        query = tracked.query
        if tracked.slot is not None:
            self.admission.release(tracked.slot)
        self.registry.remove(query.query_id)
        if completed and error is None:
            outcome = "ok"
        elif error is None or isinstance(error, GeneratorExit):
            outcome = _stopped(query.scope)   # the client went away, or cancel/kill/timeout stopped it
        else:
            outcome = outcome_of(error, ran=tracked.ran)
        now = dt.datetime.now(dt.UTC)
        message = None if outcome == "ok" else _message(error) if error is not None and \
            not isinstance(error, GeneratorExit) else "the client went away"
        if query.killed_by is not None and outcome == "cancelled":
            message = f"killed by {query.killed_by}"
        self.history.submit(HistoryEntry(
            query_id=query.query_id, user=query.user, sql=query.sql, outcome=outcome,
            started_at=query.started_at, ended_at=now, elapsed_ms=query.elapsed_ms(), rows=query.rows,
            bytes=query.bytes, products=query.products, error=message))
        log.info("query %s %s: user %s, %d rows, %d ms%s", query.query_id, outcome, query.user, query.rows,
                 query.elapsed_ms(), f": {message}" if message else "",
                 extra={"query_id": query.query_id, "user": query.user, "outcome": outcome, "rows": query.rows,
                        "elapsed_ms": query.elapsed_ms()})
        return outcome

    def kill(self, query_id: str, principal: Principal) -> RunningQuery:
        """Cancel a running query of ``principal`` (any, for an administrator).

        NotFound, with the same message, for a query that is not running and for someone else's.
        """
        query = self.registry.get(query_id.strip())
        if query is None or not (query.user == principal.name or self.is_admin(principal)):
            raise NotFound(f"no running query {query_id.strip()!r} of yours; it finished, or never ran")
        query.killed_by = principal.name
        log.warning("query %s killed by %s", query.query_id, principal.name,
                    extra={"query_id": query.query_id, "user": principal.name})
        query.scope.cancel()
        return query

    def close(self) -> None:
        self.history.close()


def outcome_of(error: BaseException, *, ran: bool) -> str:
    """The history outcome of a query that raised ``error``; ``ran``: it was admitted and started."""
    if isinstance(error, QueryTimeout):
        return "timeout"
    if isinstance(error, QueryCancelled | GeneratorExit):
        return "cancelled"
    if isinstance(error, ServerBusy | PrivacyBudgetExhausted):
        return "refused"
    if isinstance(error, EngineError):
        return "failed"   # an engine's failure is the engine's, whether it came at planning or running
    if isinstance(error, FlightmeshError) and not ran:
        return "refused"
    return "failed"


def _stopped(scope: CancelScope) -> str:
    try:
        scope.check()
    except QueryTimeout:
        return "timeout"
    except QueryCancelled:
        return "cancelled"
    return "cancelled"   # not cancelled yet: the stream was closed because the client left


def _message(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, FlightmeshError):
        return str(error)
    # Anything else may quote what a client must not see; its details are in the server log.
    return f"internal error ({type(error).__name__})"


def _one_line(sql: str, limit: int = 300) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[:limit] + " ..."
