"""Early keys: a dynamic filter's keys read from the build column's own table, not the whole build.

A probe waits for its build fragment's keys. When the build joins several tables inside its
engine, the wait is that whole join (TPC-H q09: part, partsupp and supplier in SQLite, 42,656 rows,
150-250 ms, while the lineitem probe sits idle). The keys of ``T.c`` in such a build are always
among the values of ``T.c`` in the rows of ``T`` that pass the build's conjuncts on ``T`` alone:
inner joins and other conjuncts only remove rows. A superset of the keys is still a correct
dynamic filter (the residual's join removes what the keys let through), so a small statement on
``T`` alone, run at once beside the build, can lend the keys instead:

    build f0:  SELECT part.p_partkey, supplier.s_nationkey, ... FROM part, supplier, partsupp
               WHERE ps_suppkey = s_suppkey AND p_partkey = ps_partkey AND p_name LIKE '%green%'
    ->  f0_keys: SELECT part.p_partkey AS p_partkey FROM part WHERE p_name LIKE '%green%'
        (keys only: never read by the residual); the filter on lineitem takes f0_keys.p_partkey

It also skips the waits of the build itself (TPC-H q02: the SQLite join waits for PostgreSQL's
nation keys; its parts' keys do not). Taken only where the statement on ``T`` keeps a filter of
its own and is expected to lend few enough keys for the probe to take them; the copied FROM item
is the table as the build reads it (a governed table's policy subquery included), so it shows
nothing the build would not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlglot import exp

from flightmesh.governance import POLICY_KEY
from flightmesh.mesh import CatalogTable

from .plan import KeyFilter
from .resolve import table_key
from .split import FragmentDraft
from .treecopy import copy_tree

__all__ = ["EarlyKeys", "early_keys"]

_RATIO = 4.0   # as planner.dynamic: the probe must be expected this many times larger than the keys
_COVERING = 0.9  # keys expected to be this share of the probe column's values restrict nothing
# Conjuncts that may differ between two statements, or are not about one row of the table.
_NOT_OF_ROW = (exp.Subquery, exp.Query, exp.Window, exp.AggFunc, exp.Rand, exp.Randn, exp.Uuid,
               exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)


@dataclass(frozen=True)
class EarlyKeys:
    """The key filters to use, and the keys-only drafts they now take their keys from."""

    key_filters: tuple[KeyFilter, ...]
    drafts: tuple[FragmentDraft, ...]


def early_keys(key_filters: Sequence[KeyFilter], drafts: Sequence[FragmentDraft],
               estimate: Callable[[exp.Query], float], probe_rows: Mapping[str, float], max_keys: int,
               literal_limits: Mapping[str, int], key_counts: Mapping[tuple[str, str], float]) -> EarlyKeys:
    """Each filter whose build joins tables, moved to a keys-only read of its column's table.

    ``estimate``: rows a (mesh-form) query is expected to return; ``probe_rows``: rows each probe
    reads; ``literal_limits``: probes that take keys only as literals, and how many;
    ``key_counts``: (build, column) -> distinct values the statistics expect there.
    """
    by_name = {draft.name: draft for draft in drafts}
    made: dict[tuple[str, str], FragmentDraft] = {}
    chosen: list[KeyFilter] = []
    for key_filter in key_filters:
        build = by_name.get(key_filter.build)
        key = (key_filter.build, key_filter.build_column)
        early = made.get(key)
        if early is None and build is not None:
            tree = keys_tree(build.tree, key_filter.build_column)
            if tree is not None and _worth_it(estimate(tree), key_filter.probe, probe_rows, max_keys, literal_limits):
                early = FragmentDraft(name=f"{build.name}_keys", connector=build.connector, tree=tree,
                                      tables=[t for t in build.tables if _reads(tree, t)])
                made[key] = early
        chosen.append(replace(key_filter, build=early.name) if early is not None else key_filter)
    early_names = {draft.name for draft in made.values()}
    hastened = {k.probe for k in chosen if k.build in early_names}
    kept = [k for k in chosen if k.probe not in hastened or k.build in early_names
            or not _covers(probe_rows.get(k.build), key_counts.get((k.build, k.build_column)),
                           k.probe_distinct or key_counts.get((k.probe, k.probe_column)))]
    return EarlyKeys(tuple(kept), tuple(made.values()))


def _covers(build_rows: float | None, distinct: float | None, probe: float | None) -> bool:
    """Are the build's keys expected to be (nearly) every value of the probe column?

    Such a filter restricts nothing, and once a sibling filter lends early it alone would keep the
    probe waiting for the whole build (TPC-H q09: partsupp's suppliers of the green parts are 9,866
    of the 10,000 that lineitem's l_suppkey holds).
    """
    if not probe or build_rows is None or distinct is None:
        return False
    return min(build_rows, distinct) >= _COVERING * probe


def keys_tree(tree: exp.Query, column: str) -> exp.Select | None:
    """``SELECT T.c AS column FROM T WHERE <the conjuncts on T alone>``, or None where not sound or no gain.

    Only a SELECT whose FROM items are inner-joined, whose output ``column`` is a bare column of one
    base table (or governed table), and which has at least one other FROM item (else the build is
    already that table) and a conjunct on that table (else its keys are the whole table).
    """
    if not isinstance(tree, exp.Select):
        return None
    from_ = tree.args.get("from_")
    joins = tree.args.get("joins") or []
    if from_ is None or not joins or any(not _inner(join) for join in joins):
        return None
    projection = next((item for item in tree.expressions if item.alias_or_name == column), None)
    source = projection.this if isinstance(projection, exp.Alias) else projection
    if not isinstance(source, exp.Column) or not source.table:
        return None
    items = [from_.this, *(join.this for join in joins)]
    owner = next((item for item in items if item.alias_or_name == source.table), None)
    if owner is None or not _plain_source(owner):
        return None
    conditions = _conjuncts(tree.args.get("where")) + [c for join in joins for c in _conjuncts(join.args.get("on"))]
    own = [c for c in conditions if _only_of(c, source.table)]
    if not own:
        return None
    keys = exp.select(exp.alias_(copy_tree(source), column, quoted=True)).from_(copy_tree(owner), copy=False)
    return keys.where(exp.and_(*(copy_tree(c) for c in own), copy=False), copy=False)


def _worth_it(rows: float, probe: str, probe_rows: Mapping[str, float], max_keys: int,
              literal_limits: Mapping[str, int]) -> bool:
    """The early read's keys must pass the tests planner.dynamic put the build's keys to."""
    large = probe_rows.get(probe)
    if large is None or rows > max_keys or rows * _RATIO > large:
        return False
    limit = literal_limits.get(probe)
    return limit is None or rows <= limit * _RATIO


def _inner(join: exp.Join) -> bool:
    return not join.side and (join.kind or "").upper() in ("", "INNER", "CROSS")


def _plain_source(item: exp.Expr) -> bool:
    """A base table, or a governed table's policy subquery: reading it alone reads the same rows."""
    if item.args.get("sample") is not None:
        return False
    if isinstance(item, exp.Table):
        return isinstance(item.this, exp.Identifier)
    return isinstance(item, exp.Subquery) and bool(item.meta.get(POLICY_KEY))


def _only_of(condition: exp.Expr, alias: str) -> bool:
    """Does ``condition`` read columns of ``alias`` only, row by row, deterministically?"""
    columns = list(condition.find_all(exp.Column))
    if not columns or any(column.table != alias for column in columns):
        return False
    return condition.find(*_NOT_OF_ROW) is None


def _reads(tree: exp.Expr, table: CatalogTable) -> bool:
    return any(table_key(node) == f"{table.product}.{table.name}" for node in tree.find_all(exp.Table))


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, exp.Where):
        node = node.this
    while isinstance(node, exp.Paren):
        node = node.this
    return list(node.flatten()) if isinstance(node, exp.And) else [node]
