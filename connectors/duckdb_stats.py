"""DuckDB's own statistics: what its storage keeps per column, read through ``stats()``.

DuckDB keeps, for every column of a stored table, min/max, whether NULLs occur and a HyperLogLog
distinct count (``approx_unique``); the planner propagates them, and the scalar ``stats(c)``
returns them as a struct. ``SELECT stats(a), stats(b) ... FROM t LIMIT 1`` reads one chunk, not
the table (``SUMMARIZE`` would scan it all). Only stored tables are asked: a view's first chunk
may cost its whole query. Strings' bounds are prefixes: they are left out.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from flightmesh.mesh.statistics import ColumnStatistics, TableStatistics

from .stats import read_bound

__all__ = ["duckdb_statistics"]


def duckdb_statistics(cursor: duckdb.DuckDBPyConnection, quoted: str, schema: pa.Schema,
                      row_count: int | None) -> TableStatistics:
    """``quoted``: the stored table as DuckDB SQL names it."""
    fields = list(schema)
    if not fields:
        return TableStatistics.of(row_count, {})
    projections = ", ".join('stats("' + field.name.replace('"', '""') + '")' for field in fields)
    row = cursor.execute(f"SELECT {projections} FROM {quoted} LIMIT 1").fetchone()
    if row is None:  # an empty table
        return TableStatistics.of(row_count, {})
    columns = {field.name: _column(value, field.type) for field, value in zip(fields, row, strict=True)}
    return TableStatistics.of(row_count, columns)


def _column(value: Any, arrow_type: pa.DataType) -> ColumnStatistics:
    if not isinstance(value, dict):
        return ColumnStatistics()
    has_null, has_no_null = value.get("has_null"), value.get("has_no_null")
    null_fraction = 0.0 if has_null is False else 1.0 if has_no_null is False else None
    distinct = value.get("approx_unique")
    return ColumnStatistics(
        distinct=int(distinct) if isinstance(distinct, int) and distinct > 0 else None,
        null_fraction=null_fraction,
        min=read_bound(value.get("min"), arrow_type),
        max=read_bound(value.get("max"), arrow_type),
    )
