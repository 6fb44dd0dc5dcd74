"""``GROUP BY ALL`` and ``ORDER BY ALL`` spelled out, so that every engine reads the same query.

    SELECT c.region, o.status, count(*) AS n FROM ... GROUP BY ALL ORDER BY ALL DESC
    ->  SELECT c.region, o.status, count(*) AS n FROM ... GROUP BY c.region, o.status
        ORDER BY c.region DESC, o.status DESC, n DESC

Both are DuckDB's (the mesh dialect): GROUP BY ALL groups by every projection that holds no
aggregate; ORDER BY ALL orders by every projection, left to right, with the one direction and
NULL order given. sqlglot prints them verbatim for every dialect, so without this rule a single-
engine query failed in PostgreSQL, SQLite and MariaDB. It runs first, on the qualified tree
(stars expanded, projections named).
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from flightmesh.mesh import UnsupportedQuery

from ..preagg import own_nodes
from .base import Cut, RuleContext

__all__ = ["expand_all"]


def expand_all(cut: Cut, context: RuleContext) -> Cut:
    if cut.placed or cut.tree is None:
        return cut
    changed = False
    for query in list(cut.tree.find_all(exp.Select, exp.SetOperation)):
        group = query.args.get("group")
        if isinstance(query, exp.Select) and group is not None and group.args.get("all"):
            _expand_group_by(query, group)
            changed = True
        order = query.args.get("order")
        if order is not None and _is_order_by_all(order):
            _expand_order_by(query, order)
            changed = True
    return replace(cut, binding=None) if changed else cut


def _expand_group_by(select: exp.Select, group: exp.Group) -> None:
    keys: list[exp.Expr] = []
    constants = 0
    for projection in select.expressions:
        expression = projection.this if isinstance(projection, exp.Alias) else projection
        if own_nodes(_wrapped(expression), exp.AggFunc):
            continue
        if expression.find(exp.Window):
            raise UnsupportedQuery("GROUP BY ALL would group by a window function; list the GROUP BY keys")
        if not expression.find(exp.Column):
            # A constant groups nothing, but written as a number it would read as a position.
            constants += 1
            continue
        keys.append(expression.copy())
    if constants and not keys:
        raise UnsupportedQuery("GROUP BY ALL over constants only is not supported; list the GROUP BY keys")
    if keys:
        select.set("group", exp.Group(expressions=keys))
    else:
        group.pop()  # only aggregates: one group of every row, as DuckDB reads it


def _is_order_by_all(order: exp.Order) -> bool:
    terms = order.expressions
    return (len(terms) == 1 and isinstance(terms[0], exp.Ordered) and isinstance(terms[0].this, exp.Var)
            and terms[0].this.name.upper() == "ALL")


def _expand_order_by(query: exp.Query, order: exp.Order) -> None:
    term = order.expressions[0]
    select = query
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        raise UnsupportedQuery("ORDER BY ALL needs a SELECT list to order by")
    terms: list[exp.Expr] = []
    for projection in select.expressions:
        if isinstance(query, exp.Select) and isinstance(projection, exp.Alias) \
                and isinstance(projection.this, exp.Column):
            target: exp.Expr = projection.this.copy()
        else:
            # An output column by its name: the value the projection computed, not recomputed.
            target = exp.column(projection.alias_or_name, quoted=True)
        terms.append(exp.Ordered(this=target, desc=term.args.get("desc"), nulls_first=term.args.get("nulls_first")))
    order.set("expressions", terms)


def _wrapped(expression: exp.Expr) -> exp.Select:
    """``expression`` as the only projection of a SELECT, for ``own_nodes`` (which skips subqueries)."""
    return exp.Select(expressions=[expression.copy()])
