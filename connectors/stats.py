"""Cached row-count estimates: the planner asks often, the engines answer slowly enough to matter.

Estimates are cheap hints (PostgreSQL's ``reltuples``, MariaDB's ``table_rows``), but each is a
round trip, and the planner asks for every table of every plan. They are kept for ``ttl``
seconds; ``refresh()`` forgets one table or all of them (after a bulk load, say).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["CachedRowEstimates", "RowEstimates"]


class RowEstimates:
    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int | None]] = {}

    def get(self, source: str, compute: Callable[[], int | None]) -> int | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(source)
        if entry is not None and now - entry[0] < self.ttl_seconds:
            return entry[1]
        value = compute()
        with self._lock:
            self._entries[source] = (now, value)
        return value

    def refresh(self, source: str | None = None) -> None:
        with self._lock:
            if source is None:
                self._entries.clear()
            else:
                self._entries.pop(source, None)


class CachedRowEstimates:
    """``estimate_rows`` and ``refresh_statistics`` over a ``RowEstimates`` cache.

    Mixed into connectors whose engine keeps statistics (PostgreSQL, MariaDB/MySQL); the
    connector supplies ``_estimate``, one uncached round trip.
    """

    statistics: RowEstimates

    def _estimate(self, source: str) -> int | None:
        raise NotImplementedError

    def estimate_rows(self, source: str) -> int | None:
        return self.statistics.get(source, lambda: self._estimate(source))

    def refresh_statistics(self, source: str | None = None) -> None:
        self.statistics.refresh(source)
