"""Cached statistics: the planner asks often, the engines answer slowly enough to matter.

Row estimates are cheap hints (PostgreSQL's ``reltuples``, MariaDB's ``table_rows``), column
statistics a little less cheap (``pg_stats``, ``mysql.column_stats``, ``sqlite_stat1``, DuckDB's
own, Parquet footers: ``connectors/*_stats.py``), but each is a round trip, and the catalog asks
for every table. They are kept for ``ttl`` seconds; ``refresh()`` forgets one table or all of
them (after a bulk load, say). Nothing here runs while a query is planned: the catalog is built
with the statistics (``executor.catalog_builder``) and refreshed on their own schedule
(``statistics_refresh_seconds``, ``executor.schema_refresh``).
"""

from __future__ import annotations

import datetime
import decimal
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

from flightmesh.mesh.statistics import TableStatistics

__all__ = ["CachedRowEstimates", "CachedTableStatistics", "HasTableStatistics", "RowEstimates", "TtlCache", "largest",
           "read_bound", "smallest"]

T = TypeVar("T")


class TtlCache(Generic[T]):
    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, T]] = {}

    def get(self, source: str, compute: Callable[[], T]) -> T:
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


class RowEstimates(TtlCache[int | None]):
    """Row estimates per table; the historical name of a ``TtlCache`` of counts."""


@runtime_checkable
class HasTableStatistics(Protocol):
    """An engine that keeps statistics flightmesh can read cheaply (no scan of the table)."""

    def table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        """Rows and per-column distinct counts, NULL fraction, min and max; None where unknown.

        Asked when the catalog is built and on the statistics schedule, never while planning.
        Raises EngineError/EngineUnavailable only when the engine cannot be asked at all.
        """
        ...


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
        if isinstance(self, CachedTableStatistics):  # column statistics are as old as the row counts
            self.forget_table_statistics(source)


class CachedTableStatistics:
    """``table_statistics`` over a ``TtlCache``; the connector supplies ``_table_statistics``."""

    column_statistics_cache: TtlCache[TableStatistics]

    def _table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        raise NotImplementedError

    def table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        return self.column_statistics_cache.get(source, lambda: self._table_statistics(source, schema))

    def forget_table_statistics(self, source: str | None = None) -> None:
        """The next ``table_statistics`` asks the engine again (the statistics schedule)."""
        self.column_statistics_cache.refresh(source)


def read_bound(value: object, arrow_type: pa.DataType) -> object | None:
    """A min/max an engine reported (often as text) as the column's Python value; None when it
    cannot be read back exactly (a bound of the wrong kind would mislead the estimates). Strings
    are left out: their order is the engine's collation, which Python's comparison is not."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            return None
        if pa.types.is_integer(arrow_type):
            return int(value) if isinstance(value, (int, float, decimal.Decimal)) else int(str(value).strip())
        if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
            number = float(value) if isinstance(value, (int, float, decimal.Decimal)) else float(str(value).strip())
            return number if math.isfinite(number) else None
        if pa.types.is_date(arrow_type):
            if isinstance(value, datetime.datetime):
                return value.date()
            if isinstance(value, datetime.date):
                return value
            return datetime.date.fromisoformat(str(value).strip()[:10])
        if pa.types.is_timestamp(arrow_type):
            if isinstance(value, datetime.datetime):
                return value.replace(tzinfo=None)
            return datetime.datetime.fromisoformat(str(value).strip()).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def smallest(values: list[Any]) -> object | None:
    """The smallest of values of one kind; None when there are none (or they do not compare)."""
    try:
        return min(values) if values else None
    except TypeError:
        return None


def largest(values: list[Any]) -> object | None:
    try:
        return max(values) if values else None
    except TypeError:
        return None
