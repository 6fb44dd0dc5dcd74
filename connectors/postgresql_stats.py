"""PostgreSQL's statistics: ``reltuples`` for rows, ``pg_stats`` for the columns.

``pg_stats`` is what ANALYZE (or autovacuum) sampled: ``n_distinct`` (negative: a fraction of the
rows, so it scales with the table), ``null_frac``, the most common values and the histogram
bounds. The smallest and largest value are the least and greatest of the histogram's ends and the
common values; on a table larger than ANALYZE's sample they are the sample's, which is what a
planner needs. A column never analysed has no row in ``pg_stats``: nothing is known of it. The
view lists only columns the account may read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from flightmesh.mesh.statistics import ColumnStatistics, TableStatistics

from .stats import largest, read_bound, smallest

__all__ = ["postgresql_statistics"]

# The arrays are ``anyarray``: through text to text[] they keep their values' own text forms.
_COLUMNS = (
    "SELECT s.attname, s.n_distinct, s.null_frac, "
    "(s.histogram_bounds::text::text[])[1], "
    "(s.histogram_bounds::text::text[])[cardinality(s.histogram_bounds::text::text[])], "
    "s.most_common_vals::text::text[] "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname "
    "WHERE c.oid = to_regclass($1) AND NOT s.inherited"
)

Rows = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def postgresql_statistics(rows: Rows, regclass: str, schema: pa.Schema, row_count: int | None) -> TableStatistics:
    types = {field.name.lower(): field.type for field in schema}
    columns: dict[str, ColumnStatistics] = {}
    for name, n_distinct, null_frac, low, high, common in rows(_COLUMNS, (regclass,)):
        arrow_type = types.get(str(name).lower())
        if arrow_type is None:
            continue
        distinct: int | None = None
        if n_distinct is not None:
            value = float(n_distinct)
            if value > 0:
                distinct = round(value)
            elif value < 0 and row_count is not None:
                distinct = max(1, round(-value * row_count))
        bounds = [read_bound(v, arrow_type) for v in [low, high, *(_array(common))]]
        known = [v for v in bounds if v is not None]
        # Values that do not read back (a type read_bound does not know) leave the range unknown.
        readable = len(known) == len([v for v in [low, high, *_array(common)] if v is not None])
        columns[str(name)] = ColumnStatistics(
            distinct=distinct,
            null_fraction=float(null_frac) if null_frac is not None else None,
            min=smallest(known) if readable else None,
            max=largest(known) if readable else None,
        )
    return TableStatistics.of(row_count, columns)


def _array(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return []
