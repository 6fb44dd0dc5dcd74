"""CTE inlining: each reference to a CTE that was not shared becomes a derived table of its body.

    WITH big AS (SELECT id FROM sales.orders WHERE total > 100) SELECT * FROM big JOIN crm.customers c ...
    ->  SELECT * FROM (SELECT id FROM sales.orders WHERE total > 100) AS big JOIN crm.customers c ...

Placement then sees the body where it is used, so it can join other tables of its engine.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from ..split import inline_ctes as inline
from .base import Cut, RuleContext

__all__ = ["inline_ctes"]


def inline_ctes(cut: Cut, context: RuleContext) -> Cut:
    if cut.placed or cut.tree is None or cut.tree.find(exp.With) is None:
        return cut
    inline(cut.tree)
    return replace(cut, binding=None)  # copied CTE bodies: bind again
