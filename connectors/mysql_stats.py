"""MariaDB/MySQL statistics: ``information_schema`` first, MariaDB's ``mysql.column_stats`` where kept.

* rows: ``TABLES.TABLE_ROWS`` (InnoDB samples it; the caller passes it in);
* distinct values of an index's first column: ``STATISTICS.CARDINALITY`` (sampled too);
* MariaDB's engine-independent statistics (``ANALYZE TABLE t PERSISTENT FOR ALL``):
  ``mysql.column_stats`` holds ``min_value``, ``max_value``, ``nulls_ratio`` and
  ``avg_frequency`` (rows per distinct value), for every column analysed that way;
* the bounds of an integer primary key's leading column, where ``column_stats`` has none:
  ``SELECT MIN(k), MAX(k)`` reads them from the two ends of the clustered index (EXPLAIN:
  "Select tables optimized away"), a lookup whatever the table's size. A partitioned read
  (``planner/partition.py``) cuts a fragment on exactly that column and needs its bounds; the
  connector asks for them only when the mesh has partitioned reads on.

``mysql.column_stats`` is readable only to accounts granted SELECT on the ``mysql`` schema; a
refusal there (or MySQL, which has no such table) leaves what ``information_schema`` said.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from flightmesh.mesh.statistics import ColumnStatistics, TableStatistics

from .stats import read_bound

__all__ = ["mysql_statistics"]

Rows = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def mysql_statistics(rows: Rows, where: str, parameters: tuple[str, ...], schema: pa.Schema,
                     row_count: int | None, table_sql: str | None = None) -> TableStatistics:
    """``where``/``parameters`` select the table by ``TABLE_SCHEMA`` and ``TABLE_NAME``;
    ``table_sql`` names it in a statement (quoted), to read its primary key's bounds (None: not)."""
    types = {field.name.lower(): field.type for field in schema}
    distinct: dict[str, int] = {}
    for column, cardinality in rows(
            f"SELECT COLUMN_NAME, MAX(CARDINALITY) FROM information_schema.STATISTICS WHERE {where} "
            "AND SEQ_IN_INDEX = 1 GROUP BY COLUMN_NAME", parameters):
        if cardinality is not None and int(cardinality) > 0:
            distinct[str(column).lower()] = int(cardinality)
    columns: dict[str, ColumnStatistics] = {name: ColumnStatistics(distinct=count) for name, count in distinct.items()}
    for column, low, high, nulls, frequency in _column_stats(rows, where, parameters):
        name = str(column).lower()
        arrow_type = types.get(name)
        if arrow_type is None:
            continue
        null_fraction = float(nulls) if nulls is not None else None
        counted: int | None = distinct.get(name)
        if frequency is not None and float(frequency) > 0 and row_count is not None:
            non_null = row_count * (1.0 - (null_fraction or 0.0))
            counted = max(1, round(non_null / float(frequency))) if non_null >= 1 else 0
        columns[name] = ColumnStatistics(distinct=counted, null_fraction=null_fraction,
                                         min=read_bound(_text(low), arrow_type),
                                         max=read_bound(_text(high), arrow_type))
    if table_sql is not None:
        _add_key_bounds(columns, rows, where, parameters, schema, table_sql)
    return TableStatistics.of(row_count, columns)


def _add_key_bounds(columns: dict[str, ColumnStatistics], rows: Rows, where: str, parameters: tuple[str, ...],
                    schema: pa.Schema, table_sql: str) -> None:
    """The min and max of the primary key's leading column, if it is an integer without them."""
    found = rows(f"SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE {where} "
                 "AND INDEX_NAME = 'PRIMARY' AND SEQ_IN_INDEX = 1", parameters)
    if not found:
        return
    name = str(_text(found[0][0]))
    field = next((f for f in schema if f.name.lower() == name.lower()), None)
    known = columns.get(name.lower(), ColumnStatistics())
    if field is None or not pa.types.is_integer(field.type) or (known.min is not None and known.max is not None):
        return
    column = "`" + field.name.replace("`", "``") + "`"
    bounds = rows(f"SELECT MIN({column}), MAX({column}) FROM {table_sql}", ())
    if not bounds or bounds[0][0] is None:
        return  # an empty table
    # A primary key is never NULL (InnoDB makes its columns NOT NULL).
    columns[name.lower()] = ColumnStatistics(distinct=known.distinct, null_fraction=0.0,
                                             min=read_bound(bounds[0][0], field.type),
                                             max=read_bound(bounds[0][1], field.type))


def _column_stats(rows: Rows, where: str, parameters: tuple[str, ...]) -> list[tuple[Any, ...]]:
    # column_stats names the table db_name/table_name; the same selection, renamed.
    renamed = where.replace("TABLE_SCHEMA", "db_name").replace("TABLE_NAME", "table_name")
    try:
        return rows("SELECT column_name, min_value, max_value, nulls_ratio, avg_frequency "
                    f"FROM mysql.column_stats WHERE {renamed}", parameters)
    except Exception:  # no such table (MySQL), or the account may not read the mysql schema
        return []


def _text(value: object) -> object:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
