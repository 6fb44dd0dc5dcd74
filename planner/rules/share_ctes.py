"""CTE sharing: a CTE read more than once, that one engine takes whole, becomes one fragment.

    WITH revenue AS (SELECT supp, sum(price) AS total FROM sales.lineitem GROUP BY supp)
    SELECT s.name, r.total FROM supply.supplier s JOIN revenue r ON s.id = r.supp
    WHERE r.total = (SELECT max(total) FROM revenue)
    ->  fragment f0: SELECT supp, sum(price) AS total FROM lineitem GROUP BY supp
        SELECT s.name, r.total FROM supply.supplier s JOIN f0 AS r ON s.id = r.supp
        WHERE r.total = (SELECT max(total) FROM f0 AS revenue)

Inlining would make the engine compute it once per reference (TPC-H Q15 reads its ``revenue``
view twice); the residual reads the one fragment under each reference's alias. A CTE read once
is left to ``inline_ctes``, so it can join other tables inside a bigger fragment.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from ..binding import bind_columns
from ..resolve import table_key
from ..split import Engines, FragmentDraft, fragment_reference, fresh_name
from .base import Cut, RuleContext

__all__ = ["share_ctes"]


def share_ctes(cut: Cut, context: RuleContext) -> Cut:
    if cut.placed or cut.tree is None or cut.tree.find(exp.With) is None:
        return cut
    engines = Engines(context.resolution, context.connector_for, cut.binding or bind_columns(cut.tree))
    names = set(cut.names)
    fragments = list(cut.fragments)
    for with_ in list(cut.tree.find_all(exp.With)):
        query = with_.parent
        if query is None or with_.args.get("recursive"):
            continue  # a recursive CTE's parts read the CTE itself: it stays whole in the residual
        for cte in list(with_.expressions):
            draft = _shared(cte, query, engines, names, len(fragments))
            if draft is not None:
                fragments.append(draft)
        if not with_.expressions:
            with_.pop()
    if len(fragments) == len(cut.fragments):
        return replace(cut, binding=engines.binding)
    return replace(cut, fragments=tuple(fragments), names=frozenset(names), binding=None)


def _shared(cte: exp.CTE, query: exp.Expr, engines: Engines, names: set[str], count: int) -> FragmentDraft | None:
    """Cut ``cte`` out as a fragment read by every reference to it, if it qualifies."""
    name = cte.alias_or_name.lower()
    references = [t for t in query.find_all(exp.Table)
                  if not t.db and table_key(t) is None and t.name.lower() == name]
    if len(references) < 2 or cte.args["alias"].args.get("columns") or not engines.whole(cte.this):
        return None
    body = cte.this
    cte.pop()
    draft = engines.draft(body, fresh_name(names, count))
    body.parent, body.arg_key, body.index = None, None, None  # forget the CTE it was cut from
    for table in references:
        shared = fragment_reference(draft.name)
        shared.set("alias", exp.TableAlias(this=exp.to_identifier(table.alias_or_name, quoted=True)))
        table.replace(shared)
    return draft
