"""Eager aggregation in the merge: a fragment and the fragments that only filter it are joined
and grouped before the joins that bring the grouping columns (broad.py b17).

    SELECT f2.cat, sum(f0.qty) FROM f0, f1, f2 WHERE f0.day = f1.day AND f0.item = f2.item GROUP BY f2.cat
    ->  SELECT f2.cat, SUM(e.__p0) FROM (SELECT f0.item AS item, SUM(f0.qty) AS __p0 FROM f0 CROSS JOIN f1
        WHERE f0.day = f1.day GROUP BY f0.item) AS e CROSS JOIN f2 WHERE e.item = f2.item GROUP BY f2.cat

See ``planner/eager_residual.py`` for when it is correct and when it pays. Off unless
``merge_pre_aggregate_percent`` is set (see ``mesh/settings.py`` for why).
"""

from __future__ import annotations

from dataclasses import replace

from ..eager_residual import eager_residual as rewrite
from .base import Cut, RuleContext

__all__ = ["eager_residual"]


def eager_residual(cut: Cut, context: RuleContext) -> Cut:
    if not cut.placed or cut.tree is None or context.merge_pre_aggregate_percent <= 0:
        return cut
    drafts = {draft.name: draft for draft in cut.fragments}
    notes = rewrite(cut.tree, drafts, context.pre_aggregate_min_rows, context.resolution,
                    context.merge_pre_aggregate_percent / 100)
    return replace(cut, notes=(*cut.notes, *notes)) if notes else cut
