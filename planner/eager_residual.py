"""Eager aggregation inside the residual: the aggregated fragment and the fragments that only
filter it are grouped together before the joins that bring the grouping columns.

The fragment-level pre-aggregation (``planner/preagg.py``) groups a fragment by every column the
rest of the query reads from it, join keys included. A fact table joined to dimensions that
only filter it (their columns appear in the join and nowhere else) keeps those join keys, and
grouping by all of them often leaves as many groups as rows (broad.py b17: inventory by date,
item and warehouse is its primary key). Joined to those filtering fragments first, the keys
they alone read are no longer needed, and the residual can group by what is left::

    SELECT f2.cat, AVG(f0.qty) FROM f0, f1, f2, f3
    WHERE f0.date = f1.date AND f0.item = f2.item AND f0.wh = f3.wh GROUP BY ROLLUP (f2.cat)
    ->  SELECT f2.cat, CAST(SUM(e.__p0) AS DOUBLE) / NULLIF(SUM(e.__p1), 0)
        FROM (SELECT f0.item AS item, SUM(f0.qty) AS __p0, COUNT(f0.qty) AS __p1 FROM f0, f1, f3
              WHERE f0.date = f1.date AND f0.wh = f3.wh GROUP BY f0.item) AS e, f2
        WHERE e.item = f2.item GROUP BY ROLLUP (f2.cat)

Exact for the reason the fragment-level rewrite is (a joined row repeats a partial as often as
it would have repeated each raw row), with no assumption about keys: the filtering joins run
inside the group, with whatever multiplicity they have. Only inner joins, only decomposable
aggregates of one fragment, and only when the statistics expect few groups (``kept``): the
grouping is one more hash aggregation in the merge, paid back by joining and (ROLLUP) grouping
the groups instead of the rows.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from .estimate import estimate_rows
from .preagg import aggregate_reader, combine, decomposable, from_items, grouped_aggregates, known_groups, own_nodes
from .resolve import Resolution
from .split import FRAGMENT_KEY, FragmentDraft

__all__ = ["eager_residual"]


def eager_residual(residual: exp.Query, drafts: Mapping[str, FragmentDraft], min_rows: float,
                   resolution: Resolution | None, kept: float = 0.25) -> list[str]:
    """Rewrite the SELECTs of ``residual`` in place; return a note per rewrite.

    ``kept``: group first only when the groups are expected to be at most this share of the
    fragment's rows (the grouping runs in the same DuckDB as the joins it saves, so it must cut
    rows several-fold; b17: 18,000 items among 900,000 inventory rows)."""
    notes = []
    for index, select in enumerate(list(residual.find_all(exp.Select))):
        note = _rewrite(select, drafts, min_rows, resolution, f"__eager{index}", kept)
        if note:
            notes.append(note)
    return notes


def _rewrite(select: exp.Select, drafts: Mapping[str, FragmentDraft], min_rows: float,
             resolution: Resolution | None, name: str, kept: float) -> str | None:
    aggregates = grouped_aggregates(select)
    if not aggregates or select.args.get("distinct") or not decomposable(aggregates):
        return None
    joins = select.args.get("joins") or []
    if any((j.side or "") or (j.kind or "").upper() not in ("", "CROSS", "INNER") or j.args.get("using")
           or j.args.get("method") for j in joins):
        return None
    items = from_items(select)
    fragments = {i.alias_or_name: i for i in items if isinstance(i, exp.Table) and i.meta.get(FRAGMENT_KEY)
                 and not i.args.get("sample")}
    readers = {aggregate_reader(a) for a in aggregates}
    readers.discard("")  # COUNT(*) counts the joined rows of whatever is grouped first
    if len(readers) != 1 or (reader := readers.pop()) not in fragments:
        return None
    conjuncts = _conjuncts(select.args.get("where")) + [c for j in joins for c in _conjuncts(j.args.get("on"))]
    if any(_reads(c) is None for c in conjuncts):
        return None  # a subquery in a predicate: its correlation is not followed here
    group = _filtering_group(reader, fragments, select, conjuncts, aggregates)
    if group is None:
        return None
    inside = [c for c in conjuncts if _reads(c) <= group]  # type: ignore[operator]
    inside_ids = {id(n) for c in inside for n in c.walk()} | {id(n) for a in aggregates for n in a.walk()}
    keys = sorted({c.name for c in own_nodes(select, exp.Column)
                   if isinstance(c, exp.Column) and c.table == reader and id(c) not in inside_ids})
    draft = drafts.get(fragments[reader].meta[FRAGMENT_KEY])
    if draft is None or not _few_groups(draft, keys, min_rows, resolution, kept):
        return None
    _apply(select, name, reader, group, keys, inside, aggregates, items)
    return f"{draft.name} aggregates in the merge with {', '.join(sorted(group - {reader}))} " \
           f"before the other joins, grouped by {', '.join(keys) or 'nothing'}"


def _filtering_group(reader: str, fragments: Mapping[str, exp.Table], select: exp.Select,
                     conjuncts: list[exp.Expr], aggregates: list[exp.Expr]) -> set[str] | None:
    """``reader`` and the fragments only its predicates read (they filter it and add nothing the
    rest of the query reads), or None when there are none."""
    in_predicates = {id(n) for c in conjuncts for n in c.walk()} | {id(n) for a in aggregates for n in a.walk()}
    elsewhere = {c.table for c in select.find_all(exp.Column) if id(c) not in in_predicates}
    # A subquery correlated with the grouped fragment would lose it from its scope (the other
    # fragments' columns, wherever they are read, count as read elsewhere).
    nested = {c.table for q in select.find_all(exp.Query) if q is not select for c in q.find_all(exp.Column)}
    group = {reader}
    if reader in nested:
        return None
    grew = True
    while grew:
        grew = False
        for alias in fragments:
            if alias in group or alias in elsewhere:
                continue
            touching = [_reads(c) for c in conjuncts if alias in _reads(c)]  # type: ignore[operator]
            if touching and all(t <= group | {alias} for t in touching if t is not None) \
                    and any(t & group for t in touching if t is not None):
                group.add(alias)
                grew = True
    return group if len(group) > 1 else None


def _few_groups(draft: FragmentDraft, keys: list[str], min_rows: float, resolution: Resolution | None,
                kept: float) -> bool:
    """Do the statistics expect grouping the fragment's rows by ``keys`` to cut them several-fold?
    (``pre_aggregate_min_rows`` 0 forces the rewrite wherever it applies, as for the fragments.)"""
    if min_rows <= 0:
        return True
    if resolution is None:
        return False
    rows = estimate_rows(draft.tree, resolution)
    if rows < min_rows:
        return False
    groups, complete = known_groups(draft.tree, keys, rows, resolution)
    return complete and groups <= rows * kept


def _apply(select: exp.Select, name: str, reader: str, group: set[str], keys: list[str],
           inside: list[exp.Expr], aggregates: list[exp.Expr], items: list[exp.Expr]) -> None:
    partials: list[exp.Expr] = []
    named: dict[str, str] = {}  # a partial's SQL -> its output name: SUM(x) for SUM and AVG is one

    def partial(expression: exp.Expr) -> exp.Column:
        text = expression.sql(dialect="duckdb")
        if text not in named:
            named[text] = f"__p{len(partials)}"
            partials.append(exp.alias_(expression.copy(), named[text], quoted=True))
        return exp.column(named[text], table=name, quoted=True)

    for aggregate in aggregates:
        aggregate.replace(combine(aggregate, partial))
    for conjunct in inside:
        _detach(conjunct)
    # What the joins of grouped fragments still hold reads the rest too: it moves to the WHERE.
    kept: list[exp.Expr] = []
    moved: list[exp.Expr] = []
    for join in select.args.get("joins") or []:
        if join.this.alias_or_name in group:
            moved += _conjuncts(join.args.get("on"))
        else:
            if join.args.get("on") is not None and not _conjuncts(join.args.get("on")):
                join.set("on", None)
            kept.append(join)
    where = _conjuncts(select.args.get("where")) + moved
    first = items[0]
    grouped = [item.pop() for item in items if item.alias_or_name in group]
    eager = exp.select(*[exp.alias_(exp.column(key, table=reader, quoted=True), key, quoted=True) for key in keys],
                       *partials).from_(grouped[0])
    for item in grouped[1:]:
        eager = eager.join(item, join_type="CROSS")
    if inside:
        eager = eager.where(_and(inside))
    if keys:
        eager = eager.group_by(*[exp.column(key, table=reader, quoted=True) for key in keys])
    # The rest of the query reads the grouped fragment's keys from the derived table now.
    for column in list(own_nodes(select, exp.Column)):
        if isinstance(column, exp.Column) and column.table == reader:
            column.set("table", exp.to_identifier(name, quoted=True))
    derived = exp.Subquery(this=eager, alias=exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
    joins: list[exp.Expr] = [] if first.alias_or_name in group else [exp.Join(this=first.pop(), kind="CROSS")]
    joins += [join.pop() for join in kept]
    select.set("from_", exp.From(this=derived))
    select.set("joins", joins or None)
    select.set("where", exp.Where(this=_and(where)) if where else None)


def _and(conjuncts: list[exp.Expr]) -> exp.Expr:
    return exp.and_(*[exp.paren(c, copy=False) if isinstance(c, exp.Connector) else c for c in conjuncts],
                    copy=False, wrap=False)


def _detach(conjunct: exp.Expr) -> None:
    """Take ``conjunct`` out of the AND chain it stands in (WHERE or ON)."""
    parent = conjunct.parent
    while isinstance(parent, exp.Paren):
        conjunct, parent = parent, parent.parent
    if isinstance(parent, exp.And):
        other = parent.expression if parent.this is conjunct else parent.this
        parent.replace(other)
    elif isinstance(parent, (exp.Where, exp.Join)):
        parent.set("this" if isinstance(parent, exp.Where) else "on", None)
    conjunct.parent, conjunct.arg_key, conjunct.index = None, None, None


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, exp.Where):
        node = node.this
    if node is None:
        return []
    return list(node.flatten()) if isinstance(node, exp.And) else [node]


def _reads(conjunct: exp.Expr) -> set[str] | None:
    """The FROM aliases ``conjunct`` reads; None when it holds a subquery."""
    if any(conjunct.find_all(exp.Query)):
        return None
    return {c.table for c in conjunct.find_all(exp.Column)}
