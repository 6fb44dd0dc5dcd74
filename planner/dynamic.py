"""Dynamic filtering: which fragments lend their join keys to which (Trino's dynamic filters).

An edge ``a -> b`` means: once ``a``'s rows are known, ``b`` may be restricted to rows whose
join column is among ``a``'s keys, without changing the result. Edges come from the residual:

* an equality between two fragments joined by an inner join (WHERE or ON): both ways;
* an equality in the ON of a LEFT JOIN: from the preserved side to the NULL-extended side only;
* an equality in a subquery's WHERE between an outer fragment and one of the subquery's own:
  outer -> inner only (the subquery is only ever evaluated for outer rows).

An edge is used when the build side is expected to lend far fewer keys than the probe has rows,
so it pays to wait for it. An edge that would close a cycle of waits is never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlglot import exp

from .plan import KeyFilter
from .split import FRAGMENT_KEY

__all__ = ["choose_key_filters", "filters_rows", "key_edges"]

_RATIO = 4.0  # the probe must be expected this many times larger than the build


def key_edges(residual: exp.Expr) -> list[tuple[str, str, str, str]]:
    """(build, build column, probe, probe column) for every valid direction, by fragment name."""
    edges: list[tuple[str, str, str, str]] = []
    # Residual aliases of fragment reads are unique; one fragment may be read under two aliases.
    fragment_of = {node.alias_or_name: node.meta[FRAGMENT_KEY] for node in residual.find_all(exp.Table)
                   if node.meta.get(FRAGMENT_KEY)}
    for select in residual.find_all(exp.Select):
        local = _fragments_in_from(select)
        joins = select.args.get("joins") or []
        inner: list[exp.Expr] = _conjuncts(select.args.get("where"))
        for join in joins:
            side = (join.side or "").upper()
            conditions = _conjuncts(join.args.get("on"))
            if side == "" and (join.kind or "").upper() not in ("SEMI", "ANTI"):
                inner += conditions
            elif side == "LEFT" and isinstance(join.this, exp.Table) and join.this.meta.get(FRAGMENT_KEY):
                nullable = join.this.alias_or_name
                for a, b in _equalities(conditions):
                    if b[0] == nullable and a[0] != nullable:
                        edges.append((a[0], a[1], b[0], b[1]))
                    elif a[0] == nullable and b[0] != nullable:
                        edges.append((b[0], b[1], a[0], a[1]))
        for a, b in _equalities(inner):
            if a[0] == b[0]:
                continue
            if a[0] in local and b[0] in local:
                edges += [(a[0], a[1], b[0], b[1]), (b[0], b[1], a[0], a[1])]
            elif b[0] in local and a[0] not in local:  # correlated: a is an outer fragment
                edges.append((a[0], a[1], b[0], b[1]))
            elif a[0] in local and b[0] not in local:
                edges.append((b[0], b[1], a[0], a[1]))
    # A fragment read under several aliases (a shared CTE, merged fragments) may be filtered only
    # by keys every one of its readers would accept: one reader's join must not shrink another's
    # input (TPC-H Q15 joins its shared view to supplier once, and takes its max() unjoined).
    readers: dict[str, set[str]] = {}
    for alias, fragment in fragment_of.items():
        readers.setdefault(fragment, set()).add(alias)
    allowed: dict[tuple[str, str, str, str], set[str]] = {}
    for build_alias, build_column, probe_alias, probe_column in edges:
        build, probe = fragment_of.get(build_alias), fragment_of.get(probe_alias)
        if build is not None and probe is not None and build != probe:
            allowed.setdefault((build, build_column, probe, probe_column), set()).add(probe_alias)
    return [edge for edge, aliases in allowed.items() if aliases >= readers[edge[2]]]


def choose_key_filters(edges: list[tuple[str, str, str, str]], estimates: Mapping[str, float],
                       max_keys: int, min_probe_rows: int, filtered: set[str],
                       literal_limits: Mapping[str, int] | None = None,
                       key_counts: Mapping[tuple[str, str], float] | None = None) -> list[KeyFilter]:
    """The edges worth waiting for. ``filtered``: fragments with a predicate of their own.

    A build lends keys only when its rows are a filtered subset: keys of a whole dimension
    (every nation) restrict nothing and cost a wait and a join. Being filtered passes along
    the chosen edges (supplier restricted to one region's nations is filtered too).

    ``key_counts``: (build, column) -> the distinct values the statistics expect in that column
    of the build (at most its rows). A build lends distinct keys, so 12,000 customers of two
    nations lend two nation keys (TPC-H Q7), not 12,000. The most selective edges are taken
    first; an edge that would close a cycle of waits is left out.
    """
    if max_keys <= 0:
        return []
    selective = set(filtered)
    relays = _relays(edges, estimates, max_keys, min_probe_rows, selective)
    counts = key_counts or {}
    # A probe restricted to a build's keys is expected to shrink by the share of its key column's
    # distinct values those keys are, and lends that many keys at most (broad.py b06: dates and
    # items cut store_sales to ~350 rows, whose customers then restrict 100,000 customers). As a
    # probe it keeps its scanned rows: a second filter on it is judged against what it reads.
    lending = dict(estimates)
    remaining: dict[str, float] = {}   # probe -> rows it is expected to return under the filters chosen so far

    def keys_of(edge: tuple[str, str, str, str]) -> float | None:
        rows = lending.get(edge[0])
        if rows is None:
            return None
        return min(rows, counts.get((edge[0], edge[1]), rows))

    chosen: dict[tuple[str, str, str], KeyFilter] = {}
    for edge in sorted(edges, key=lambda e: (keys_of(e) or 0, estimates.get(e[0], 0), e)):
        build, build_column, probe, probe_column = edge
        if build not in selective:
            continue
        small, large = keys_of(edge), estimates.get(probe)
        if small is None or large is None:
            continue
        if small > max_keys * 4 or (large < min_probe_rows and probe not in relays) or small * _RATIO > large:
            continue
        # A probe already restricted is expected to return only part of what it reads. A further
        # build big enough to cost a wait of its own (min_probe_rows keys or more: smaller ones
        # arrive at once) must be worth it against that part: TPC-H q08's lineitem, cut to ~10,000
        # rows by SQLite's 1,451 part keys, need not wait for PostgreSQL's 30,000 customers.
        if small >= min_probe_rows and small * _RATIO > remaining.get(probe, large):
            continue
        # A probe that takes keys only as literals gets a range beyond its limit: rarely worth a
        # wait. Estimates are rough (an estimated 10,000 may be 600), so only far beyond it.
        limit = (literal_limits or {}).get(probe)
        if limit is not None and small > limit * _RATIO:
            continue
        if _reaches(chosen.values(), probe, build):
            continue  # the build already waits for the probe, directly or through others
        # One filter per build and probe column: a = b AND a = c inside one build give the same keys.
        chosen.setdefault((build, probe, probe_column), KeyFilter(build, build_column, probe, probe_column))
        selective.add(probe)
        distinct = counts.get((probe, probe_column))
        if distinct:
            lending[probe] = min(lending.get(probe, large), large * min(1.0, small / distinct))
            remaining[probe] = remaining.get(probe, large) * min(1.0, small / distinct)
    return sorted(chosen.values(), key=lambda k: (k.probe, k.build, k.probe_column))


def filters_rows(tree: exp.Expr) -> bool:
    """Does the fragment keep only some of its tables' rows (beyond joining them)?"""
    if isinstance(tree, exp.Subquery):
        return filters_rows(tree.this)
    if isinstance(tree, exp.SetOperation):
        return filters_rows(tree.this) and filters_rows(tree.expression)
    if not isinstance(tree, exp.Select):
        return False
    if tree.args.get("limit") is not None or tree.args.get("having") is not None:
        return True
    where = tree.args.get("where")
    conjuncts = list(where.this.flatten()) if where is not None and isinstance(where.this, exp.And) \
        else [where.this] if where is not None else []
    if any(not (isinstance(c, exp.EQ) and isinstance(c.left, exp.Column) and isinstance(c.right, exp.Column))
           for c in conjuncts):
        return True
    return any(isinstance(item, exp.Subquery) and filters_rows(item.this)
               for item in tree.find_all(exp.Subquery) if isinstance(item.parent, (exp.From, exp.Join)))


def _reaches(chosen: Iterable[KeyFilter], start: str, goal: str) -> bool:
    """Does ``goal`` wait for ``start``'s keys, directly or through other chosen filters?"""
    lends: dict[str, set[str]] = {}
    for key_filter in chosen:
        lends.setdefault(key_filter.build, set()).add(key_filter.probe)
    seen, pending = {start}, [start]
    while pending:
        for probe in lends.get(pending.pop(), ()):
            if probe == goal:
                return True
            if probe not in seen:
                seen.add(probe)
                pending.append(probe)
    return start == goal


def _relays(edges: list[tuple[str, str, str, str]], estimates: Mapping[str, float], max_keys: int,
            min_probe_rows: int, filtered: set[str]) -> set[str]:
    """Fragments too small to be worth a wait for their own sake that pass a restriction on.

    TPC-H Q21: nation (one row, filtered) -> supplier (1,000 rows, unfiltered) -> lineitem. The
    supplier alone is not worth restricting, and its keys (every supplier) restrict nothing; once
    it waits for the one nation's keys, its keys cut lineitem to that nation's suppliers.
    """
    found: set[str] = set()
    for relay_build, _, relay, _ in edges:
        small, middle = estimates.get(relay_build), estimates.get(relay)
        if relay_build not in filtered or relay in filtered or small is None or middle is None:
            continue
        if small * _RATIO > middle or middle > max_keys * 4:
            continue
        if any(build == relay and (large := estimates.get(probe)) is not None and large >= min_probe_rows
               and middle * _RATIO <= large for build, _, probe, _ in edges):
            found.add(relay)
    return found


def _fragments_in_from(select: exp.Select) -> set[str]:
    """Aliases under which ``select`` reads fragments directly."""
    from_ = select.args.get("from_")
    items = ([from_.this] if from_ is not None else []) + [join.this for join in select.args.get("joins") or []]
    return {item.alias_or_name for item in items if isinstance(item, exp.Table) and item.meta.get(FRAGMENT_KEY)}


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, exp.Where):
        node = node.this
    return list(node.flatten()) if isinstance(node, exp.And) else [node]


def _equalities(conjuncts: list[exp.Expr]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    found = []
    for conjunct in conjuncts:
        if isinstance(conjunct, exp.Paren):
            conjunct = conjunct.unnest()
        if isinstance(conjunct, exp.EQ) and isinstance(conjunct.left, exp.Column) and isinstance(
                conjunct.right, exp.Column) and conjunct.left.table and conjunct.right.table:
            found.append(((conjunct.left.table, conjunct.left.name), (conjunct.right.table, conjunct.right.name)))
    return found
