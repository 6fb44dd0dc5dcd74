"""Pre-aggregation below a cross-engine join: a fragment aggregates before the residual joins it.

    SELECT c.name, sum(o.total) FROM f0 AS o JOIN f1 AS c ON o.cust = c.id GROUP BY c.name
    ->  f0 becomes  SELECT pre.cust, SUM(pre.total) AS __p0 FROM (f0) AS pre GROUP BY pre.cust
        residual    SELECT c.name, SUM(o.__p0) FROM f0 AS o JOIN f1 AS c ON o.cust = c.id GROUP BY c.name

Only fragments that read at least ``pre_aggregate_min_rows`` rows; see ``planner/preagg.py``
for when it is correct.
"""

from __future__ import annotations

from dataclasses import replace

from ..preagg import pre_aggregate as rewrite
from .base import Cut, RuleContext, scanned_rows

__all__ = ["pre_aggregate"]


def pre_aggregate(cut: Cut, context: RuleContext) -> Cut:
    if not cut.placed or cut.tree is None:
        return cut
    scanned = scanned_rows(cut, context)
    drafts = {draft.name: replace(draft) for draft in cut.fragments}  # the rewrite gives them new trees
    notes = rewrite(cut.tree, drafts, scanned, context.pre_aggregate_min_rows, context.resolution)
    return replace(cut, fragments=tuple(drafts.values()), notes=(*cut.notes, *notes), scanned=scanned)
