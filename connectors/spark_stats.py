"""The statistics a Spark engine keeps on a catalog table, read through ``DESCRIBE TABLE EXTENDED``.

Apache Spark and Databricks keep them after ``ANALYZE TABLE t COMPUTE STATISTICS`` (the table's
``Statistics`` row: ``N bytes, M rows``; with ``NOSCAN`` only the bytes) and ``... FOR ALL COLUMNS``
(per column, under ``DESCRIBE TABLE EXTENDED t col``: ``distinct_count``, ``num_nulls``, ``min``,
``max``, each ``NULL`` when not computed). A global view, or any table on Sail 0.7.2, keeps none:
no ``Statistics`` row, and then no column is asked either (one round trip per table, not one per
column, for an engine that has nothing to tell).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from sqlglot import exp

from flightmesh.mesh.statistics import ColumnStatistics, TableStatistics

from .stats import read_bound

__all__ = ["spark_table_statistics", "statistics_row_count"]

_ROWS = re.compile(r"(\d+)\s+rows", re.IGNORECASE)

Rows = Callable[[str], list[tuple[Any, ...]]]


def statistics_row_count(described: list[tuple[Any, ...]]) -> int | None:
    """The row count of a ``DESCRIBE TABLE EXTENDED`` answer's ``Statistics`` row, if it has one."""
    for row in described:
        if str(row[0]).strip().lower() == "statistics":
            found = _ROWS.search(str(row[1]))
            return int(found.group(1)) if found else None
    return None


def spark_table_statistics(rows_of: Rows, table_sql: str, schema: pa.Schema) -> TableStatistics:
    """``rows_of(sql)`` runs one statement; ``table_sql`` is the table as Spark SQL names it."""
    rows = statistics_row_count(rows_of(f"DESCRIBE TABLE EXTENDED {table_sql}"))
    if rows is None:
        return TableStatistics()  # never analyzed (or a view): Spark keeps no column statistics either
    columns: dict[str, ColumnStatistics] = {}
    for field in schema:
        column = exp.to_identifier(field.name, quoted=True).sql("spark")
        info = {str(row[0]).strip().lower(): row[1] for row in rows_of(f"DESCRIBE TABLE EXTENDED {table_sql} {column}")}
        columns[field.name] = ColumnStatistics(
            distinct=_count(info.get("distinct_count")),
            null_fraction=_fraction(_count(info.get("num_nulls")), rows),
            min=read_bound(_value(info.get("min")), field.type),
            max=read_bound(_value(info.get("max")), field.type),
        )
    return TableStatistics.of(rows, columns)


def _value(text: object) -> object | None:
    return None if text is None or str(text).strip().upper() in ("", "NULL") else text


def _count(text: object) -> int | None:
    value = _value(text)
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _fraction(nulls: int | None, rows: int) -> float | None:
    if nulls is None:
        return None
    return nulls / rows if rows else 0.0
