"""What travels with one query's CancelScope: its id, and its fragments' progress while it runs.

The scope is the one object every layer of a query already shares (server stream, executor,
connectors), so the query's id and live progress hang off it instead of being threaded through
every signature. The map is weak: a finished query's scope, and what hangs off it, goes with it.

* ``tag(scope, query_id)`` when a query is issued; ``query_id_of(scope)`` wherever a message or
  EXPLAIN ANALYZE names it;
* the executor publishes its per-fragment counters (``publish_progress``) when a run starts, and
  the running-queries table reads them (``progress_of``).
"""

from __future__ import annotations

import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from flightmesh.mesh import CancelScope

__all__ = ["QueryTag", "new_query_id", "progress_of", "publish_progress", "query_id_of", "tag", "tag_of"]


@dataclass
class QueryTag:
    query_id: str
    sql: str = ""
    products: tuple[str, ...] = ()
    progress: dict[str, Any] = field(default_factory=dict)   # fragment name -> executor FragmentStats
    trace: Any = None   # the plan span's OpenTelemetry SpanContext, when tracing is on (executor.tracing)


_TAGS: weakref.WeakKeyDictionary[CancelScope, QueryTag] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def new_query_id() -> str:
    """A new query id: UTC time of issue (sortable, readable in a log) and 8 random hex digits."""
    return time.strftime("%Y%m%d_%H%M%S", time.gmtime()) + "_" + secrets.token_hex(4)


def tag(scope: CancelScope, query_id: str, sql: str = "", products: tuple[str, ...] = ()) -> QueryTag:
    """Name the query under ``scope`` (once: a scope already tagged keeps its tag)."""
    with _LOCK:
        found = _TAGS.get(scope)
        if found is None:
            found = _TAGS[scope] = QueryTag(query_id, sql, products)
        return found


def tag_of(scope: CancelScope) -> QueryTag | None:
    with _LOCK:
        return _TAGS.get(scope)


def query_id_of(scope: CancelScope | None) -> str | None:
    if scope is None:
        return None
    with _LOCK:
        found = _TAGS.get(scope)
    return found.query_id if found is not None else None


def publish_progress(scope: CancelScope, stats: dict[str, Any]) -> None:
    """The executor's live per-fragment counters of the run under ``scope`` (untagged: ignored)."""
    with _LOCK:
        found = _TAGS.get(scope)
        if found is not None:
            found.progress = stats


def progress_of(scope: CancelScope) -> dict[str, Any]:
    with _LOCK:
        found = _TAGS.get(scope)
        return dict(found.progress) if found is not None else {}
