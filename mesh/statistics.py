"""Table statistics as the engines keep them: what the planner's estimates are made of.

Each engine kind has its own cheap source (PostgreSQL ``pg_stats``, MariaDB ``column_stats`` and
index cardinalities, SQLite ``sqlite_stat1``, DuckDB's column statistics, Parquet footers); the
readers live in ``connectors/*_stats.py`` and all answer with these two records. A statistic the
engine does not keep is ``None``: the planner falls back to its textbook constants for it, and
nothing guessed is ever stored as if the engine had said it.

Values are Python values (``int``, ``float``, ``Decimal``, ``date``, ``datetime``, ``str``) as the
column's Arrow type reads them; a bound an engine reports in a form that cannot be read back is
left out (``None``), never kept as text beside numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ColumnStatistics", "TableStatistics"]


@dataclass(frozen=True)
class ColumnStatistics:
    distinct: int | None = None          # distinct non-NULL values
    null_fraction: float | None = None   # share of rows that are NULL, 0..1
    min: object | None = None            # smallest non-NULL value
    max: object | None = None            # largest non-NULL value

    @property
    def empty(self) -> bool:
        return self.distinct is None and self.null_fraction is None and self.min is None and self.max is None


@dataclass(frozen=True)
class TableStatistics:
    rows: int | None = None
    columns: Mapping[str, ColumnStatistics] = field(default_factory=dict)  # keyed by lower-case name

    def column(self, name: str) -> ColumnStatistics | None:
        return self.columns.get(name.lower())

    @staticmethod
    def of(rows: int | None, columns: Mapping[str, ColumnStatistics]) -> TableStatistics:
        """Only the columns something is known of, under lower-case names; distinct counts never
        above the row count (sampled estimates overshoot on small tables)."""
        kept: dict[str, ColumnStatistics] = {}
        for name, stats in columns.items():
            if stats.empty:
                continue
            if rows is not None and stats.distinct is not None and stats.distinct > rows:
                stats = ColumnStatistics(max(rows, 1) if rows else 0, stats.null_fraction, stats.min, stats.max)
            kept[name.lower()] = stats
        return TableStatistics(rows, kept)
