"""The queries running now (``flightmesh.queries``): who runs what, since when, how far along.

A ``RunningQuery`` is registered when its stream starts (state ``queued`` while admission makes it
wait, then ``running``) and removed when the stream ends. Rows and bytes are counted as batches
leave; per-fragment progress is read live from the executor's counters (``query_context``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from flightmesh.mesh import CancelScope

from .query_context import progress_of

__all__ = ["QueryRegistry", "RunningQuery"]


@dataclass
class RunningQuery:
    query_id: str
    user: str
    sql: str
    scope: CancelScope
    products: tuple[str, ...] = ()
    state: str = "queued"                     # queued | running
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started: float = field(default_factory=time.monotonic)
    rows: int = 0
    bytes: int = 0
    killed_by: str | None = None              # who killed it, once someone has

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def fragments(self) -> str | None:
        """Each fragment's progress, e.g. ``f1: 1200 rows, 35.2 ms; f2: 0 rows, running``."""
        progress = progress_of(self.scope)
        if not progress:
            return None
        parts = []
        for name, stats in progress.items():
            ms = getattr(stats, "ms", 0.0)
            timing = f"{ms:.1f} ms" if ms else "running"
            parts.append(f"{name}: {getattr(stats, 'rows', 0)} rows, {timing}")
        return "; ".join(parts)


class QueryRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, RunningQuery] = {}

    def add(self, query: RunningQuery) -> None:
        with self._lock:
            self._running[query.query_id] = query

    def remove(self, query_id: str) -> RunningQuery | None:
        with self._lock:
            return self._running.pop(query_id, None)

    def get(self, query_id: str) -> RunningQuery | None:
        with self._lock:
            return self._running.get(query_id)

    def snapshot(self, user: str | None = None) -> list[RunningQuery]:
        """The running queries, oldest first; of ``user`` only, unless None."""
        with self._lock:
            queries = list(self._running.values())
        return sorted((q for q in queries if user is None or q.user == user), key=lambda q: q.started)

    def __len__(self) -> int:
        with self._lock:
            return len(self._running)
