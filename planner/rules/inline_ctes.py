"""CTE inlining: each reference to a CTE that was not shared becomes a derived table of its body.

    WITH big AS (SELECT id FROM sales.orders WHERE total > 100) SELECT * FROM big JOIN crm.customers c ...
    ->  SELECT * FROM (SELECT id FROM sales.orders WHERE total > 100) AS big JOIN crm.customers c ...

Placement then sees the body where it is used, so it can join other tables of its engine.
A recursive WITH stays where it is: the residual runs it, reading fragments for its tables. So
does a CTE that samples (or calls random()) and is read more than once: DuckDB materializes it,
so every reference sees the same rows, where copies would each draw their own (it is kept
MATERIALIZED).
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from ..resolve import table_key
from ..treecopy import copy_tree
from .base import Cut, RuleContext

__all__ = ["inline_ctes"]


def inline_ctes(cut: Cut, context: RuleContext) -> Cut:
    if cut.placed or cut.tree is None or cut.tree.find(exp.With) is None:
        return cut
    _inline(cut.tree)
    return replace(cut, binding=None)  # copied CTE bodies: bind again


def _inline(tree: exp.Expr) -> None:
    """Replace each reference to a CTE by a copy of its body, except the CTEs kept (above)."""
    for with_ in list(tree.find_all(exp.With)):
        if with_.args.get("recursive"):
            continue
        query = with_.parent
        bodies: dict[str, exp.CTE] = {}
        kept: list[exp.CTE] = []
        for cte in with_.expressions:
            _replace_cte_refs(cte.this, bodies)
            name = cte.alias_or_name.lower()
            if query is not None and cte.this.find(exp.TableSample, exp.Rand) is not None and _reads(query, name) > 1:
                cte.set("materialized", True)
                kept.append(cte)
            else:
                bodies[name] = cte
        if kept:
            with_.set("expressions", kept)
        else:
            with_.pop()
        if query is not None:
            _replace_cte_refs(query, bodies)


def _reads(query: exp.Expr, name: str) -> int:
    """How many table references in ``query`` may name the CTE ``name``."""
    return sum(1 for table in query.find_all(exp.Table)
               if not table.db and table_key(table) is None and table.name.lower() == name)


def _replace_cte_refs(node: exp.Expr, bodies: dict[str, exp.CTE]) -> None:
    for table in list(node.find_all(exp.Table)):
        if table.db or table_key(table) is not None or table.name.lower() not in bodies:
            continue
        cte = bodies[table.name.lower()]
        alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name, quoted=True))
        columns = cte.args["alias"].args.get("columns") if cte.args.get("alias") else None
        if columns:
            alias.set("columns", [c.copy() for c in columns])
        table.replace(exp.Subquery(this=copy_tree(cte.this), alias=alias))  # its types shared
