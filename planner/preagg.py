"""Pre-aggregation below a cross-engine join (eager aggregation).

When a residual SELECT groups the result of inner joins and every aggregate reads columns of
one fragment only, that fragment can aggregate first, inside its own engine, grouped by every
column the rest of the query still needs from it (grouping keys, join keys, other predicates).
The residual then combines the partial aggregates::

    SELECT c.name, sum(o.total) FROM f_orders o JOIN f_customers c ON o.cust = c.id GROUP BY c.name

    f_orders becomes  SELECT pre.cust, SUM(pre.total) AS __p0 FROM (f_orders) AS pre GROUP BY pre.cust
    residual          SELECT c.name, SUM(o.__p0) FROM f_orders o JOIN f_customers c ... GROUP BY c.name

Correct whatever the join's multiplicity: a joined row repeats a partial exactly as often as it
would have repeated each raw row. Only decomposable aggregates qualify (SUM, COUNT, MIN, MAX, AVG,
without DISTINCT or FILTER), only under inner and LEFT joins, only fragments read once, and only
when the fragment's engine takes the partial aggregates (they are offered like any other piece).
A fragment NULL-extended by a LEFT JOIN qualifies when every aggregate reads a bare column of it
(TPC-H Q13: ``customer LEFT JOIN orders ... count(o_orderkey)`` counts orders per customer key in
DuckDB): a group matches a preserved row exactly when each of its raw rows would, and an
unmatched row's NULL partials are ignored as the raw NULL row is. Window
functions are not aggregates of the group: ``count(*) OVER ()`` is left to the residual, while
an aggregate inside a window (``sum(avg(x)) OVER ()``) is combined like any other. Grouping
sets, ROLLUP and CUBE are fine: the partials group by every column any set needs.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from .capability import takes
from .estimate import distinct_among
from .grouping_place import engine_grouping_pays
from .resolve import Resolution
from .split import FRAGMENT_KEY, FragmentDraft

__all__ = ["aggregate_reader", "combine", "decomposable", "from_items", "grouped_aggregates", "known_groups",
           "own_nodes", "pre_aggregate", "reads_of"]

_DECOMPOSABLE = (exp.Sum, exp.Count, exp.Min, exp.Max, exp.Avg)
_KEPT = 0.8  # pre-aggregate only when the groups are expected to be at most this share of the rows:
# the partials cost one hash aggregation in the engine and save shipping and joining the rest (TPC-H
# Q10: 44k customer keys expected among 59k rows, 38k actual among 115k)


def pre_aggregate(residual: exp.Query, drafts: Mapping[str, FragmentDraft], estimates: Mapping[str, float],
                  min_rows: float, resolution: Resolution | None = None) -> list[str]:
    """Rewrite ``residual`` and the fragments it reads in place; return a note per rewrite.

    With ``resolution``, the catalog's statistics estimate the groups: a fragment whose grouping
    columns are known to leave most of its rows as groups (``_KEPT``) is left alone (the
    partials would cost a grouping and save few rows)."""
    reads = reads_of(residual)
    notes = []
    for select in list(residual.find_all(exp.Select)):
        note = _rewrite(select, drafts, estimates, reads, min_rows, resolution)
        if note:
            notes.append(note)
    return notes


def reads_of(residual: exp.Query) -> dict[str, int]:
    """How many times the residual reads each fragment."""
    reads: dict[str, int] = {}
    for node in residual.find_all(exp.Table):
        name = node.meta.get(FRAGMENT_KEY)
        if name:
            reads[name] = reads.get(name, 0) + 1
    return reads


def _rewrite(select: exp.Select, drafts: Mapping[str, FragmentDraft], estimates: Mapping[str, float],
             reads: Mapping[str, int], min_rows: float, resolution: Resolution | None) -> str | None:
    aggregates = grouped_aggregates(select)
    if not aggregates or select.args.get("distinct") or select.args.get("sample"):
        return None
    joins = select.args.get("joins") or []
    if any((j.side or "").upper() not in ("", "LEFT") or (j.kind or "").upper() in ("SEMI", "ANTI")
           or j.args.get("using") for j in joins):
        return None
    if not decomposable(aggregates):
        return None
    readers = {aggregate_reader(a) for a in aggregates}
    if None in readers:
        return None
    readers.discard("")  # COUNT(*) reads no column: any fragment's partial counts serve
    fragments = [i for i in from_items(select) if isinstance(i, exp.Table) and i.meta.get(FRAGMENT_KEY)]
    if not readers and fragments:  # only COUNT(*): the largest fragment gains the most
        readers = {max(fragments, key=lambda i: estimates.get(i.meta[FRAGMENT_KEY], 0)).alias_or_name}
    if len(readers) != 1:
        return None
    alias = readers.pop()
    item = next((i for i in fragments if i.alias_or_name == alias), None)
    # A sampled fragment's rows are drawn in the residual: partials would change what is drawn.
    if item is None or not item.meta.get(FRAGMENT_KEY) or item.args.get("sample"):
        return None
    # NULL-extended by a LEFT JOIN (TPC-H Q13's orders): a preserved row without a match gives
    # one row of NULLs, raw or pre-aggregated. An aggregate of a bare column ignores it either
    # way; COUNT(*), SUM(1) or COUNT(coalesce(x, 0)) count it, which a NULL partial cannot say.
    if _nullable(item, joins) and not all(isinstance(a.this, exp.Column) for a in aggregates):
        return None
    name = item.meta[FRAGMENT_KEY]
    draft = drafts.get(name)
    if draft is None or reads.get(name) != 1 or estimates.get(name, 0) < min_rows:
        return None
    inside = {id(c) for a in aggregates for c in a.find_all(exp.Column)}
    keys = sorted({c.name for c in select.find_all(exp.Column) if c.table == alias and id(c) not in inside})
    # (pre_aggregate_min_rows 0 forces the rewrite wherever it applies, statistics or not)
    if min_rows > 0:
        rows = estimates[name]
        known, complete = known_groups(draft.tree, keys, rows, resolution)
        if resolution is not None and known > rows * _KEPT:
            return None
        # A sorting engine's grouping costs more than shipping the rows (planner/grouping_place.py);
        # a tenth of the rows are groups when a key's distinct count is unknown (group_count's default).
        groups = min(known, rows) if complete else max(1.0, rows * 0.1)
        if not engine_grouping_pays(draft.connector.capabilities, rows, groups):
            return None
    partials: list[exp.Expr] = []
    named: dict[str, str] = {}  # a partial's SQL -> its output name: SUM(x) for SUM and AVG is one

    def partial(expression: exp.Expr) -> exp.Column:
        over_pre = _to_pre(expression)
        text = over_pre.sql(dialect="duckdb")
        if text not in named:
            named[text] = f"__p{len(partials)}"
            partials.append(exp.alias_(over_pre, named[text], quoted=True))
        return exp.column(named[text], table=alias, quoted=True)

    combined = [combine(aggregate, partial) for aggregate in aggregates]
    pre = exp.Subquery(this=draft.tree, alias=exp.TableAlias(this=exp.to_identifier("pre", quoted=True)))
    grouped = exp.select(*[exp.alias_(exp.column(key, table="pre", quoted=True), key, quoted=True) for key in keys],
                         *partials).from_(pre)
    if keys:
        grouped = grouped.group_by(*[exp.column(key, table="pre", quoted=True) for key in keys])
    # The partials now run in the fragment's engine (SUM(ROUND(x)) where the residual computed
    # ROUND): offered like any other piece, and left alone when the engine does not take them.
    if not takes(draft.connector.capabilities, grouped):
        draft.tree.parent, draft.tree.arg_key, draft.tree.index = None, None, None
        return None
    for aggregate, replacement in zip(aggregates, combined, strict=True):
        aggregate.replace(replacement)
    draft.tree = grouped
    return f"{name} aggregates before the join, grouped by {', '.join(keys) or 'nothing'}"


def decomposable(aggregates: list[exp.Expr]) -> bool:
    """Can each of ``aggregates`` be computed from partials over groups of its rows?"""
    return all(isinstance(a, _DECOMPOSABLE) and not isinstance(a.this, exp.Distinct)
               and not isinstance(a.parent, (exp.Filter, exp.WithinGroup)) and not any(a.find_all(exp.Query))
               for a in aggregates)


def _nullable(item: exp.Expr, joins: list[exp.Expr]) -> bool:
    """Is ``item`` the NULL-extended side of one of ``joins`` (all inner or LEFT)?"""
    return any(isinstance(join, exp.Join) and join.this is item and (join.side or "").upper() == "LEFT"
               for join in joins)


def known_groups(tree: exp.Expr, keys: list[str], rows: float,
                  resolution: Resolution | None) -> tuple[float, bool]:
    """The product of the ``keys``' distinct counts among the fragment's ``rows`` (each key counts
    the values expected among those rows, not the table's), up to the first key whose count is
    unknown, and whether every count was known. Would grouping keep more than ``_KEPT`` of the
    rows: the known product says so even when a later count is unknown, since it only grows."""
    groups = 1.0
    for key in keys:
        distinct = distinct_among(tree, key, rows, resolution) if resolution is not None else None
        if distinct is None:
            return groups, False
        groups *= max(distinct, 1.0)
    return groups, True


def grouped_aggregates(select: exp.Select) -> list[exp.Expr]:
    """The aggregates ``select`` computes per group: not window functions (``count(*) OVER ()``
    runs over the grouped rows, it does not group them), but aggregates inside a window's
    argument or ordering (``sum(avg(x)) OVER ()``: ``avg`` is per group)."""
    return [node for node in own_nodes(select, exp.AggFunc) if not _windowed(node)]


def _windowed(node: exp.Expr) -> bool:
    """Is ``node`` the function of a window (``f(...) [FILTER (...)] OVER (...)``)?"""
    current = node
    while isinstance(current.parent, (exp.Filter, exp.IgnoreNulls, exp.RespectNulls)) \
            and current.parent.this is current:
        current = current.parent
    return isinstance(current.parent, exp.Window) and current.parent.this is current


def combine(aggregate: exp.Expr, partial: object) -> exp.Expr:
    """The residual's expression over partials that equals ``aggregate`` over raw rows."""
    make = partial  # (expression) -> reference to a new partial column
    argument = aggregate.this
    if isinstance(aggregate, exp.Count):
        counted = make(exp.Count(this=argument.copy() if argument is not None else exp.Star()))  # type: ignore[operator]
        # A count over no rows is 0, a sum over no partials NULL: COALESCE keeps COUNT's answer.
        return exp.func("COALESCE", exp.cast(exp.Sum(this=counted), exp.DataType.Type.BIGINT), exp.Literal.number(0))
    if isinstance(aggregate, exp.Sum):
        return exp.Sum(this=make(exp.Sum(this=argument.copy())))  # type: ignore[operator]
    if isinstance(aggregate, (exp.Min, exp.Max)):
        return type(aggregate)(this=make(type(aggregate)(this=argument.copy())))  # type: ignore[operator]
    total = make(exp.Sum(this=argument.copy()))  # type: ignore[operator]  # AVG
    count = make(exp.Count(this=argument.copy()))  # type: ignore[operator]
    return exp.Div(this=exp.cast(exp.Sum(this=total), exp.DataType.Type.DOUBLE),
                   expression=exp.Nullif(this=exp.Sum(this=count), expression=exp.Literal.number(0)))


def _to_pre(expression: exp.Expr) -> exp.Expr:
    """``expression`` over the fragment's outputs, as the pre-aggregating SELECT names them."""
    copy = expression.copy()
    for column in copy.find_all(exp.Column):
        column.set("table", exp.to_identifier("pre", quoted=True))
    return copy


def own_nodes(select: exp.Select, kind: type[exp.Expr]) -> list[exp.Expr]:
    """Nodes of ``kind`` in ``select`` itself, not in its subqueries or derived tables."""
    return [node for node in select.walk(prune=lambda n: n is not select and isinstance(n, exp.Query))
            if isinstance(node, kind) and node is not select]


def aggregate_reader(aggregate: exp.Expr) -> str | None:
    tables = {column.table for column in aggregate.find_all(exp.Column)}
    if len(tables) == 1:
        return tables.pop()
    return "" if not tables else None  # COUNT(*): reads no table; several: not one fragment's


def from_items(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    return ([from_.this] if from_ is not None else []) + [j.this for j in select.args.get("joins") or []]
