"""Parquet's statistics: the files' footers, read without reading any row group.

Each footer holds the row count and, per row group and column, NULL count, min and max (when the
writer kept them; strings' may be truncated: left out). Over every file of a table: rows and
NULLs add up, the range is the widest. A distinct count is almost never written
(``distinct_count``); when every row group has one, the largest is a lower bound, so it is left
out too: the planner needs an estimate it can trust, not a floor.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flightmesh.mesh.statistics import ColumnStatistics, TableStatistics

from .stats import largest, read_bound, smallest

__all__ = ["parquet_statistics"]


def parquet_statistics(files: Iterable[Path], schema: pa.Schema) -> TableStatistics:
    types = {field.name.lower(): field.type for field in schema}
    rows = 0
    nulls: dict[str, int | None] = {}
    lows: dict[str, list[object] | None] = {}
    highs: dict[str, list[object] | None] = {}
    for path in files:
        metadata = pq.read_metadata(path)
        rows += metadata.num_rows
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                name = chunk.path_in_schema.lower()
                arrow_type = types.get(name)
                if arrow_type is None:
                    continue
                statistics = chunk.statistics
                if statistics is None:
                    nulls[name] = lows[name] = highs[name] = None  # one chunk unknown: the whole unknown
                    continue
                count = statistics.null_count if statistics.has_null_count else None
                nulls[name] = None if count is None or nulls.get(name, 0) is None else nulls.get(name, 0) + count
                if statistics.has_min_max and chunk.num_values > (count or 0):
                    _extend(lows, name, read_bound(statistics.min, arrow_type))
                    _extend(highs, name, read_bound(statistics.max, arrow_type))
                elif not statistics.has_min_max:
                    lows[name] = highs[name] = None
    columns: dict[str, ColumnStatistics] = {}
    for name in types:
        null_count = nulls.get(name)
        columns[name] = ColumnStatistics(
            null_fraction=(null_count / rows if rows else 0.0) if null_count is not None else None,
            min=smallest(lows.get(name) or []), max=largest(highs.get(name) or []))
    return TableStatistics.of(rows, columns)


def _extend(bounds: dict[str, list[object] | None], name: str, value: object | None) -> None:
    current = bounds.get(name, [])
    if current is None:
        return
    if value is None:
        bounds[name] = None  # a chunk's bound that does not read back leaves the range unknown
        return
    current.append(value)
    bounds[name] = current
