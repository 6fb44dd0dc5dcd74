"""Where a grouping runs: inside the engine that holds its rows, or in the merge DuckDB over them.

An engine that hashes (DuckDB, PostgreSQL's HashAggregate) groups a row for less than shipping
it costs, so a grouping goes wherever its rows are. An engine that sorts every input row into a
temporary B-tree (SQLite: GROUP BY, DISTINCT, COUNT(DISTINCT)) pays more per row than shipping
the row out and letting the merge hash it; it declares so (``Capabilities.grouping_row_cost``,
in units of shipping one row). Then, with the rows the grouping reads estimated from the
catalog's statistics (``estimate.input_rows``)::

    in the engine:  input * grouping_row_cost + output      (sort, then ship the groups)
    in the merge:   input + _MERGE_STEP_ROWS                (ship the rows, one more step)

    -- part, partsupp and supplier in SQLite; ~120,000 joined rows, ~18,000 groups
    SELECT p_brand, p_type, p_size, count(DISTINCT ps_suppkey) FROM partsupp JOIN part ON ...
    GROUP BY p_brand, p_type, p_size
    ->  fragment (sqlite): the join and its filters;  residual: GROUP BY, COUNT(DISTINCT), ORDER BY

The estimate ignores an index that already orders the keys (SQLite then groups without sorting);
such a query loses a little by shipping its rows, where a sorted grouping loses a lot.
"""

from __future__ import annotations

from sqlglot import exp

from flightmesh.connectors import Capabilities

from .estimate import input_rows, output_rows
from .resolve import Resolution

__all__ = ["engine_grouping_pays", "groups_in_merge"]

# One more step in the merge (a DuckDB statement over the fragment's Arrow stream instead of the
# stream passed straight through) costs about as much as shipping this many more rows.
_MERGE_STEP_ROWS = 10_000.0


def groups_in_merge(tree: exp.Expr, capabilities: Capabilities, resolution: Resolution) -> bool:
    """Should ``tree``, which one engine could run whole, ship the rows its grouping reads and
    leave the grouping to the merge? Only a SELECT that groups, on an engine whose grouping
    costs more than shipping (``grouping_row_cost``), when the estimates say so."""
    cost = capabilities.grouping_row_cost
    if cost <= 0 or not isinstance(tree, exp.Select) or not _groups(tree):
        return False
    rows = input_rows(tree, resolution)
    output = output_rows(tree, rows, resolution)   # from the same input estimate, not a second one
    return rows * cost + output > rows + _MERGE_STEP_ROWS


def engine_grouping_pays(capabilities: Capabilities, rows: float, groups: float) -> bool:
    """Does grouping ``rows`` into ``groups`` inside the engine cost less than shipping the rows
    to a merge that groups them anyway (a pre-aggregation's partials)?"""
    cost = capabilities.grouping_row_cost
    return cost <= 0 or rows * cost + groups <= rows


def _groups(select: exp.Select) -> bool:
    """Does ``select`` itself (not a subquery of it) group: GROUP BY, DISTINCT, agg(DISTINCT)?"""
    if select.args.get("group") is not None or select.args.get("distinct") is not None:
        return True
    for node in select.walk(prune=lambda n: n is not select and isinstance(n, exp.Query)):
        if isinstance(node, exp.AggFunc) and isinstance(node.this, exp.Distinct):
            return True
    return False
