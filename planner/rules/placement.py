"""Placement: cut the query into one fragment per engine component and a DuckDB residual.

    -- orders in DuckDB, customers in SQLite
    SELECT c.name, o.id FROM sales.orders o JOIN crm.customers c ON o.cust = c.id
    WHERE c.country = 'Japan' AND o.status = 'returned'
    ->  f0 (duckdb): SELECT o.id, o.cust FROM orders AS o WHERE o.status = 'returned'
        f1 (sqlite): SELECT c.name, c.id FROM customers AS c WHERE c.country = 'Japan'
        residual:    SELECT f1.name, f0.id FROM f0 JOIN f1 ON f0.cust = f1.id

See ``planner/split.py`` for how components are found. Before cutting each SELECT, placement
runs the context's ``select_rules`` on it (factoring, implied predicates).
"""

from __future__ import annotations

from dataclasses import replace

from ..binding import bind_columns
from ..split import Placement
from .base import Cut, RuleContext

__all__ = ["place"]


def place(cut: Cut, context: RuleContext) -> Cut:
    if cut.placed or cut.tree is None:
        return cut
    fragments = list(cut.fragments)
    names = set(cut.names)
    placement = Placement(context.resolution, context.connector_for, cut.binding or bind_columns(cut.tree),
                          fragments, names, context.select_rules)
    residual = placement.run(cut.tree)
    return replace(cut, tree=residual, fragments=tuple(fragments), placed=True, names=frozenset(names), binding=None)
