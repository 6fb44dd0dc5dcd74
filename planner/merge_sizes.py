"""The row counts the merge DuckDB is told about its input streams, where they can be trusted.

The merge reads every fragment as an Arrow stream, whose size DuckDB cannot know: it takes each
stream for one row. Its join order is then the written one and each hash join builds on whichever
side a tie leaves it: the broad workload's b21 built a hash table on 900,000 MariaDB inventory
rows and probed it with 18,000 items and 5 warehouses (merge 350-550 ms in process; told the
sizes, 150-200 ms). Told the planner's estimates, DuckDB builds on the small side and declines
aggregate pushdowns (``partial_aggregate_pushdown``) that group 900k rows into 648k.

DuckDB knows no distinct counts of a stream, though. It estimates a join ``A.x = B.y`` at
``|A| |B| / max(|A|, |B|)``: right when one side is a key, far too small when neither is. TPC-H
Q5 equates customer's and supplier's nation keys (30,000 x 10,000 rows, 25 nations): told the
sizes, DuckDB joined those two first (16 ms -> 2.6 s in process). So the sizes are given only
when every equality in the residual between a fragment read's column and another column has a
key side (``estimate.is_unique_column``, from the engines' statistics; a derived table's column
counts as no key); otherwise no stream is sized and DuckDB keeps the written order.

A fragment a key filter restricts returns fewer rows than its estimate says; the estimate is
given as is: a probe side taken for larger than it is still probes, while one taken for smaller
(the filter's key count is a guess too) could become a build side.

    SELECT ... FROM f0 JOIN f1 ON f0.inv_item_sk = f1.i_item_sk     (i_item_sk: item's key)
      -> (("f0", 851278), ("f1", 18000))
    SELECT ... FROM f0 JOIN f1 ON f0.c_nationkey = f1.s_nationkey   (neither a key)
      -> ()
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from .estimate import is_unique_column
from .resolve import Resolution
from .split import FRAGMENT_KEY

__all__ = ["merge_sizes"]


def merge_sizes(residual: exp.Expr, trees: Mapping[str, exp.Expr], estimates: Mapping[str, float],
                resolution: Resolution) -> tuple[tuple[str, int], ...]:
    """(fragment, rows) for every fragment the residual reads, or () when a join has no key side."""
    fragment_of = {node.alias_or_name: str(node.meta[FRAGMENT_KEY]) for node in residual.find_all(exp.Table)
                   if node.meta.get(FRAGMENT_KEY)}
    if not fragment_of:
        return ()
    for equality in residual.find_all(exp.EQ):
        left, right = equality.this, equality.expression
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            continue
        sides = [(fragment_of.get(column.table), column.name) for column in (left, right)]
        if all(fragment is None for fragment, _ in sides):
            continue  # between derived tables: DuckDB sizes those from their own inputs
        # A derived table's column is never taken for a key: its fragment side must be one.
        if not any(fragment in trees and is_unique_column(trees[fragment], name, resolution)
                   for fragment, name in sides if fragment is not None):
            return ()
    read = set(fragment_of.values())
    if not read <= set(estimates):
        return ()
    return tuple((name, max(1, round(estimates[name]))) for name in sorted(read))
