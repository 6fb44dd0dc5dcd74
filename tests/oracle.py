"""Compare a query result with the oracle's, the way SQL results may legitimately differ.

``assert_same_result(actual, expected, ordered=...)`` passes when both tables hold the same rows
(as a multiset unless ``ordered``) with the same column names (case-insensitive), and raises an
``AssertionError`` that shows the first differing rows otherwise.

What counts as the same value:

- Numbers compare by value whatever their Arrow type: ``Decimal('5.00') == 5 == 5.0``.
- Two exact numbers (integers, decimals) of the same scale must be equal: engines that compute
  in exact arithmetic have no excuse, and a tolerance would let an off-by-one in a large sum
  pass (1e-9 of 10^10 is 10).
- Otherwise (a float on either side, or decimals of different scales) they may differ by a
  relative ``rel_tol`` of 1e-9: a sum of a million doubles accumulates rounding errors around
  1e-16 relative per addition, far below that, while any real mistake (a lost or doubled row, a
  wrong filter) moves an aggregate by much more. Near zero an absolute 1e-9 applies instead.
- When either side is money-like -- a DECIMAL with at most two decimal places, like every TPC-H
  price -- the absolute tolerance is ``money_abs_tol``, 0.01 (one cent): an engine may compute
  an average or ratio in double and round it to cents, or the other way around; both are
  correct to the cent and can disagree by at most one unit in the last place.
- NaN equals NaN; NULL equals only NULL.
- Dates, timestamps and strings compare exactly (a ``date`` equals a ``datetime`` at midnight).

Order: with ``ordered=True`` and ``order_by`` naming the ORDER BY columns, rows tied on those
columns may come in any order, so each run of tied rows is compared as a multiset. With
``limit`` (the query's LIMIT) and a full result, the last tied run may have been cut at a
different place by each engine, so only its ORDER BY columns are compared. ``order_keys(sql)``
reads ``order_by`` from the query text, ``query_limit(sql)`` its ``limit``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

__all__ = ["assert_same_result", "order_keys", "query_limit"]

_EXAMPLES = 5


def order_keys(sql: str, dialect: str = "duckdb") -> tuple[str, ...] | None:
    """The output columns of the outermost ORDER BY of ``sql`` (None without one).

    Works for TPC-H, where every ORDER BY term is an output column or its alias; raises
    ``ValueError`` for a term that is not a plain column, which the caller must then name.
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read=dialect)
    order = tree.args.get("order")
    if order is None:
        return None
    keys = []
    for term in order.expressions:
        column = term.this
        if not isinstance(column, exp.Column):
            raise ValueError(f"ORDER BY term {term.sql(dialect)!r} is not an output column")
        keys.append(column.name)
    return tuple(keys)


def query_limit(sql: str, dialect: str = "duckdb") -> int | None:
    """The outermost LIMIT of ``sql`` as a number (None without one): ``limit=`` below."""
    import sqlglot

    limit = sqlglot.parse_one(sql, read=dialect).args.get("limit")
    return None if limit is None else int(limit.expression.name)


def assert_same_result(
    actual: pa.Table | pa.RecordBatchReader,
    expected: pa.Table | pa.RecordBatchReader,
    *,
    ordered: bool,
    order_by: Sequence[str] | None = None,
    limit: int | None = None,
    check_names: bool = True,
    rel_tol: float = 1e-9,
    money_abs_tol: float = 0.01,
) -> None:
    """Raise AssertionError, with the first differing rows, unless the results are the same."""
    if isinstance(actual, pa.RecordBatchReader):
        actual = actual.read_all()
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    names = [name.lower() for name in expected.column_names]
    if actual.num_columns != expected.num_columns:
        raise AssertionError(f"{actual.num_columns} columns {actual.column_names}, expected "
                             f"{expected.num_columns} {expected.column_names}")
    if check_names and [name.lower() for name in actual.column_names] != names:
        raise AssertionError(f"column names {actual.column_names}, expected {expected.column_names}")
    same = _CellComparer(actual.schema, expected.schema, rel_tol, money_abs_tol)
    got, want = _rows(actual), _rows(expected)
    everything = range(expected.num_columns)
    where = f"columns {expected.column_names}"
    if len(got) != len(want) or not ordered:
        difference = same.multiset_difference(got, want, everything)
        if len(got) != len(want):
            _fail(f"{len(got)} rows, expected {len(want)}", where, difference)
        if difference:
            _fail("the rows differ (unordered comparison)", where, difference)
        return
    keys = _key_positions(order_by, names) if order_by is not None else None
    truncated = limit is not None and len(want) == limit
    start = 0
    for end in _tie_runs(want, keys, same):
        if end - start == 1:
            if not same.rows(got[start], want[start], everything):
                differing = [expected.column_names[i] for i in everything
                             if not same.cell(got[start][i], want[start][i], i)]
                _fail(f"row {start} differs in {differing} (ordered comparison)", where,
                      _around(got, want, start))
        else:
            assert keys is not None
            # The LIMIT may cut the last run of ties at different rows in each engine.
            columns = keys if truncated and end == len(want) else everything
            difference = same.multiset_difference(got[start:end], want[start:end], columns)
            if difference:
                _fail(f"rows {start}..{end - 1}, tied on {list(order_by or ())}, differ", where, difference)
        start = end


class _CellComparer:
    def __init__(self, actual: pa.Schema, expected: pa.Schema, rel_tol: float, money_abs_tol: float) -> None:
        self.rel_tol = rel_tol
        self.exact: list[bool] = []
        self.abs_tol: list[float] = []
        self.loose: list[bool] = []      # compared with a tolerance: cannot key a dict
        for a, e in zip(actual, expected, strict=True):
            scales = {_scale(a.type), _scale(e.type)}
            self.exact.append(None not in scales and len(scales) == 1)
            numeric = any(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
                          for t in (a.type, e.type))
            self.loose.append(numeric and not self.exact[-1])
            money = any(pa.types.is_decimal(t) and t.scale <= 2 for t in (a.type, e.type))
            self.abs_tol.append(money_abs_tol if money else 1e-9)

    def cell(self, a: Any, e: Any, column: int) -> bool:
        if a is None or e is None:
            return a is None and e is None
        if _is_number(a) and _is_number(e):
            if self.exact[column] and not isinstance(a, float) and not isinstance(e, float):
                return bool(decimal.Decimal(a) == decimal.Decimal(e))
            x, y = float(a), float(e)
            if math.isnan(x) or math.isnan(y):
                return math.isnan(x) and math.isnan(y)
            return math.isclose(x, y, rel_tol=self.rel_tol, abs_tol=self.abs_tol[column] * (1 + 1e-9))
        if isinstance(a, dt.datetime) != isinstance(e, dt.datetime) and _is_date(a) and _is_date(e):
            return _as_datetime(a) == _as_datetime(e)
        if type(a) is not type(e) and not (isinstance(a, str) and isinstance(e, str)):
            return False
        return bool(a == e)

    def rows(self, a: tuple[Any, ...], e: tuple[Any, ...], columns: Sequence[int]) -> bool:
        return all(self.cell(a[i], e[i], i) for i in columns)

    def multiset_difference(self, got: list[tuple[Any, ...]], want: list[tuple[Any, ...]],
                            columns: Sequence[int]) -> list[str]:
        """Lines describing rows of one side with no partner on the other; empty when equal.

        Rows are bucketed by their exactly-compared cells and sorted by the rest, so equal
        multisets pair up in one pass; only rows left unpaired are matched pairwise.
        """
        columns = list(columns)
        strict = [i for i in columns if not self.loose[i]]
        loose = [i for i in columns if self.loose[i]]

        def bucket(row: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(_sortable(row[i]) for i in strict)

        def order(row: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(_sortable(row[i]) for i in loose)

        buckets: dict[tuple[Any, ...], tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = defaultdict(
            lambda: ([], []))
        for row in got:
            buckets[bucket(row)][0].append(row)
        for row in want:
            buckets[bucket(row)][1].append(row)
        extra: list[tuple[Any, ...]] = []
        missing: list[tuple[Any, ...]] = []
        for mine, theirs in buckets.values():
            mine.sort(key=order)
            theirs.sort(key=order)
            if len(mine) == len(theirs) and all(self.rows(a, e, columns)
                                                   for a, e in zip(mine, theirs, strict=True)):
                continue
            left = list(theirs)
            for row in mine:
                partner = next((k for k, e in enumerate(left) if self.rows(row, e, columns)), None)
                if partner is None:
                    extra.append(row)
                else:
                    left.pop(partner)
            missing.extend(left)
        if not extra and not missing:
            return []
        lines = [f"  {len(missing)} expected rows have no match in actual, {len(extra)} actual rows "
                 "have no match in expected"]
        lines += [f"  missing (expected only): {_show(row)}" for row in missing[:_EXAMPLES]]
        lines += [f"  unexpected (actual only): {_show(row)}" for row in extra[:_EXAMPLES]]
        return lines


def _tie_runs(want: list[tuple[Any, ...]], keys: Sequence[int] | None, same: _CellComparer) -> list[int]:
    """End offsets of runs of consecutive expected rows equal on ``keys`` (each row alone if None)."""
    if keys is None:
        return list(range(1, len(want) + 1))
    ends = []
    for index in range(1, len(want) + 1):
        if index == len(want) or not same.rows(want[index], want[index - 1], keys):
            ends.append(index)
    return ends


def _key_positions(order_by: Sequence[str], names: list[str]) -> list[int]:
    positions = []
    for key in order_by:
        if key.lower() not in names:
            raise ValueError(f"ORDER BY column {key!r} is not among the result columns {names}")
        positions.append(names.index(key.lower()))
    return positions


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [column.to_pylist() for column in table.columns]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(table.num_rows)]


def _scale(kind: pa.DataType) -> int | None:
    if pa.types.is_integer(kind):
        return 0
    if pa.types.is_decimal(kind):
        return int(kind.scale)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    return isinstance(value, (dt.date, dt.datetime))


def _as_datetime(value: dt.date) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)


def _sortable(value: Any) -> tuple[int, Any]:
    """A key that orders any mix of cell values without comparing unlike types."""
    if value is None:
        return (0, 0)
    if _is_number(value):
        number = float(value)
        return (1, -math.inf if math.isnan(number) else number)
    if isinstance(value, dt.date):
        return (2, _as_datetime(value).isoformat())
    if isinstance(value, str):
        return (3, value)
    return (4, repr(value))


def _show(row: tuple[Any, ...]) -> str:
    return "(" + ", ".join(_show_cell(cell) for cell in row) + ")"


def _show_cell(value: Any) -> str:
    if isinstance(value, decimal.Decimal):
        return f"{value}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return repr(value)


def _around(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], at: int) -> list[str]:
    """The differing row and its neighbours on both sides."""
    lines = []
    for index in range(max(0, at - 2), min(len(want), at + 3)):
        mark = ">" if index == at else " "
        lines.append(f" {mark} actual   row {index}: {_show(got[index])}")
        lines.append(f" {mark} expected row {index}: {_show(want[index])}")
    return lines


def _fail(problem: str, where: str, details: list[str]) -> None:
    raise AssertionError("\n".join([f"results differ: {problem}; {where}", *details]))
