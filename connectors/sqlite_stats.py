"""SQLite's statistics: ``sqlite_stat1`` (after ANALYZE) and what its indexes answer at once.

* rows: ``count(*)`` (the caller's ``estimate_rows``: SQLite counts a b-tree's pages fast);
* distinct values of an index's first column: ``sqlite_stat1`` says "rows avg1 ...", avg1 rows
  sharing each value, so rows / avg1 of them; an INTEGER PRIMARY KEY has one per row;
* min and max of an indexed column (or the rowid): ``SELECT min(c)`` alone is answered from the
  index's first or last entry (SQLite's min/max optimization; ``min(c), max(c)`` together would
  scan the table), so two lookups per indexed column;
* the NULL fraction: 0 for a NOT NULL column; for an indexed one, NULLs sort first in its index,
  so counting them reads only them.

A column with no index gets nothing but its NULL fraction when declared NOT NULL: learning more
would scan the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from flightmesh.mesh.statistics import ColumnStatistics, TableStatistics

from .stats import read_bound

__all__ = ["sqlite_statistics"]

Rows = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def sqlite_statistics(rows: Rows, source: str, quoted: str, schema: pa.Schema,
                      row_count: int | None) -> TableStatistics:
    """``quoted``: the table as SQL names it (``"lineitem"``)."""
    types = {field.name.lower(): field.type for field in schema}
    declared = rows("SELECT name, pk, type, \"notnull\" FROM pragma_table_info(?)", (source,))
    rowid_keys = [row for row in declared if row[1]]
    indexed: dict[str, int | None] = {}   # first column of an index -> its distinct count, if analysed
    for (index,) in rows("SELECT name FROM pragma_index_list(?)", (source,)):
        first = rows("SELECT name FROM pragma_index_info(?) WHERE seqno = 0", (index,))
        if not first or first[0][0] is None:
            continue  # an index on an expression
        column = str(first[0][0])
        indexed.setdefault(column, None)
        if indexed[column] is None:
            indexed[column] = _stat1_distinct(rows, source, index)
    if len(rowid_keys) == 1 and "INT" in str(rowid_keys[0][2]).upper():
        indexed[str(rowid_keys[0][0])] = row_count  # the rowid itself: one row per value
    columns: dict[str, ColumnStatistics] = {}
    for name, _pk, _type, not_null in declared:
        arrow_type = types.get(str(name).lower())
        if arrow_type is None:
            continue
        if str(name) not in indexed:
            columns[str(name)] = ColumnStatistics(null_fraction=0.0 if not_null else None)
            continue
        column = '"' + str(name).replace('"', '""') + '"'
        low = rows(f"SELECT min({column}) FROM {quoted}", ())
        high = rows(f"SELECT max({column}) FROM {quoted}", ())
        null_fraction: float | None = 0.0 if not_null else None
        if not not_null and row_count:
            nulls = rows(f"SELECT count(*) FROM {quoted} WHERE {column} IS NULL", ())
            null_fraction = int(nulls[0][0]) / row_count if nulls else None
        columns[str(name)] = ColumnStatistics(
            distinct=indexed[str(name)], null_fraction=null_fraction,
            min=read_bound(low[0][0], arrow_type) if low else None,
            max=read_bound(high[0][0], arrow_type) if high else None)
    return TableStatistics.of(row_count, columns)


def _stat1_distinct(rows: Rows, source: str, index: str) -> int | None:
    try:
        stats = rows("SELECT stat FROM sqlite_stat1 WHERE tbl = ? AND idx = ?", (source, index))
    except Exception:  # no sqlite_stat1: never analysed
        return None
    if not stats:
        return None
    numbers = [int(part) for part in str(stats[0][0]).split() if part.isdigit()]
    if len(numbers) >= 2 and numbers[1] > 0:
        return max(1, round(numbers[0] / numbers[1]))  # avg is rounded up
    return None
