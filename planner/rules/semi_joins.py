"""Semi-join reduction: a fragment read only inside EXISTS or IN ships distinct keys, not rows.

    NOT EXISTS (SELECT 1 FROM f1 WHERE f1.o_custkey = f0.c_custkey)
    ->  f1 becomes  SELECT DISTINCT pre.o_custkey AS o_custkey FROM (f1) AS pre

EXISTS and IN ask only whether a value occurs, so its engine reduces the rows before shipping
(TPC-H Q22: 190k order rows become the ~12k customers who ordered). Only fragments that read
at least ``pre_aggregate_min_rows`` rows.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from ..grouping_place import engine_grouping_pays
from ..preagg import own_nodes, reads_of
from ..split import FRAGMENT_KEY, FragmentDraft
from .base import Cut, RuleContext, scanned_rows

__all__ = ["reduce_semi_joins"]

_NOT_PLAIN = ("joins", "group", "having", "limit", "offset", "distinct", "qualify", "sample")


def reduce_semi_joins(cut: Cut, context: RuleContext) -> Cut:
    if not cut.placed or cut.tree is None:
        return cut
    scanned = scanned_rows(cut, context)
    reads = reads_of(cut.tree)
    drafts = {draft.name: draft for draft in cut.fragments}
    notes = []
    for select in list(cut.tree.find_all(exp.Select)):
        item = _semi_join_fragment(select)
        draft = drafts.get(item.meta[FRAGMENT_KEY]) if item is not None else None
        if item is None or draft is None or reads.get(draft.name) != 1 or \
                scanned.get(draft.name, 0) < context.pre_aggregate_min_rows:
            continue
        keys = _keys(select, item, draft)
        # A sorting engine's DISTINCT costs more than shipping the rows (planner/grouping_place.py):
        # not even one group would pay.
        # (pre_aggregate_min_rows 0 forces the rewrite wherever it applies, as in pre_aggregate)
        if keys and (context.pre_aggregate_min_rows <= 0 or
                     engine_grouping_pays(draft.connector.capabilities, scanned.get(draft.name, 0.0), 1.0)):
            pre = exp.Subquery(this=draft.tree, alias=exp.TableAlias(this=exp.to_identifier("pre", quoted=True)))
            tree = exp.select(*[exp.alias_(exp.column(k, table="pre", quoted=True), k, quoted=True)
                                for k in keys]).from_(pre).distinct()
            drafts[draft.name] = replace(draft, tree=tree)
            notes.append(f"{draft.name} ships distinct {', '.join(keys)}: it is only tested for existence")
    return replace(cut, fragments=tuple(drafts.values()), notes=(*cut.notes, *notes), scanned=scanned)


def _semi_join_fragment(select: exp.Select) -> exp.Table | None:
    """The fragment a plain SELECT inside EXISTS / IN (subquery) reads, if that is all it reads."""
    parent = select.parent.parent if isinstance(select.parent, exp.Subquery) else select.parent
    if not isinstance(parent, (exp.Exists, exp.In)) or (isinstance(parent, exp.In) and
                                                        parent.args.get("query") is None):
        return None
    if any(select.args.get(k) for k in _NOT_PLAIN) or own_nodes(select, exp.AggFunc) or \
            own_nodes(select, exp.Window):
        return None
    item = select.args["from_"].this if select.args.get("from_") else None
    if isinstance(item, exp.Table) and item.args.get("sample") is not None:
        return None  # a sample draws from the rows: distinct keys would change what it draws
    return item if isinstance(item, exp.Table) and item.meta.get(FRAGMENT_KEY) else None


def _keys(select: exp.Select, item: exp.Table, draft: FragmentDraft) -> list[str]:
    """The fragment's outputs the test reads (none when it is already one row per value)."""
    if isinstance(draft.tree, exp.Select) and (draft.tree.args.get("group") or draft.tree.args.get("distinct")):
        return []
    alias = item.alias_or_name
    keys = sorted({c.name for c in select.find_all(exp.Column) if c.table == alias})
    if any(isinstance(p, exp.Star) for p in select.expressions):  # IN (SELECT * FROM f): all its outputs
        if not isinstance(draft.tree, exp.Select):
            return []
        keys = sorted({p.alias_or_name for p in draft.tree.expressions} | set(keys))
    return keys
