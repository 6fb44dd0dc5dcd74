"""A query one engine takes whole is one fragment, ORDER BY and LIMIT included; nothing else runs.

    -- orders and order_items both in DuckDB
    SELECT o.id, count(*) FROM sales.orders o JOIN sales.order_items i ON i.order_id = o.id GROUP BY o.id
    ->  fragment f0 (duckdb): the same query;  no residual

A recursive WITH over one engine's tables goes there whole too; over several engines (or none)
the residual runs the recursion, reading a fragment for each table its parts name.
"""

from __future__ import annotations

from dataclasses import replace

from ..binding import bind_columns
from ..split import Engines, fresh_name
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
    return replace(cut, binding=binding)
