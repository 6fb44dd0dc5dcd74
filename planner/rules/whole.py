"""A query one engine takes whole is one fragment, ORDER BY and LIMIT included; nothing else runs.

    -- orders and order_items both in DuckDB
    SELECT o.id, count(*) FROM sales.orders o JOIN sales.order_items i ON i.order_id = o.id GROUP BY o.id
    ->  fragment f0 (duckdb): the same query;  no residual
"""

from __future__ import annotations

from dataclasses import replace

from flightmesh.mesh import UnsupportedQuery

from ..binding import bind_columns
from ..split import Engines, fresh_name, has_recursive_cte
from .base import Cut, RuleContext

__all__ = ["whole_query"]


def whole_query(cut: Cut, context: RuleContext) -> Cut:
    if cut.placed or cut.tree is None:
        return cut
    binding = cut.binding or bind_columns(cut.tree)
    engines = Engines(context.resolution, context.connector_for, binding)
    if engines.whole(cut.tree):
        names = set(cut.names)
        draft = engines.draft(cut.tree, fresh_name(names, len(cut.fragments)))
        return replace(cut, tree=None, fragments=(*cut.fragments, draft), placed=True, names=frozenset(names))
    if has_recursive_cte(cut.tree):
        raise UnsupportedQuery("a recursive WITH across several engines is not supported")
    return replace(cut, binding=binding)
