"""Partitioned reads: one fragment read as k disjoint key ranges, concurrently, on k connections.

Some fragments are bound by one engine connection's speed while a core sits idle (TPC-H q11's
SQLite fragment: index lookups for partsupp driven by GERMANY's suppliers). Where the engine
declares ``Capabilities.partitioned_reads``, a fragment expected to return at least
``partitioned_read_min_rows`` rows (or a read of one table that scans that many) is cut on an
integer key of one of its tables into at most ``partitioned_read_max`` ranges; the executor runs
the ranges at once and streams their union.

    SELECT ps.a, s.b FROM partsupp AS ps, supplier AS s WHERE ps.k = s.k
    -> ... WHERE ps.k = s.k AND s.s_suppkey < 5001
    -> ... WHERE ps.k = s.k AND s.s_suppkey >= 5001

The union equals the whole only when every output row comes from exactly one row of the cut
table and nothing combines rows across ranges, so the fragment is cut only if it is one SELECT
of inner joins with no GROUP BY, DISTINCT, aggregate, window, ORDER BY, LIMIT/OFFSET, set
operation, WITH, or derived table other than the policy subqueries of governed tables; a
subquery in a predicate or projection (IN, EXISTS, scalar) is a value of each row and allowed.

Where the range goes: at the table read. For a governed table, inside its policy subquery (the
WHERE beside the row filter, on the raw column): it can only narrow the rows the row filter
already returns, and a masked column of the subquery's output is never what is compared. For a
table read directly, in the SELECT's WHERE (inner joins only: filtering there is filtering the
table). The bounds come from the table's statistics (min and max of the key); the first range is
open below and the last open above, so rows outside stale statistics are still read, once; a
key that may be NULL puts ``IS NULL`` in the first range.

Which table: the one the engine drives the join from, so that its range narrows the lookups
into the others instead of repeating a whole scan of the driving table in every range (TPC-H
q09: cutting supplier would have each range scan part for '%green%' again). Without asking the
engine for its plan, the driver is taken to be a table with a filter of its own (a WHERE
conjunct on it alone, or the probe column of a dynamic filter: q11's supplier, whose
s_nationkey receives GERMANY's key), the one with the fewest rows if several; a fragment of one
table is cut on that table; a join with no filtered table is not cut. The table's key is the
leading column of its integer primary key, with min and max known, and it has at least
``_MIN_KEY_ROWS`` rows. The ranges split that min-to-max span narrowed by the fragment's own
integer bounds on the key (``k BETWEEN 10 AND 20``, ``k >= 10``, ``k IN (...)``), so that a
filtered read is split where its rows are.

How many ranges: at most the connections the engine's connector may hold at once
(``statement_slots``, where it declares them: SQLite's pool of 32 never binds) less the plan's
other fragments on that connector. Each range holds a
connection while the merge may not read it yet (it reads the ranges one after the other, and
may first wait for another fragment's rows); were every connection held by ranges, another
fragment of the same engine would wait for one that a range gives back only once read, and the
query would stand until its timeout (a range of more batches than its read-ahead holds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyarrow as pa
from sqlglot import exp

from flightmesh.connectors import HasStatementSlots
from flightmesh.governance import POLICY_KEY, integer_value
from flightmesh.mesh import CatalogTable, Settings

from .plan import Fragment, Partition
from .render import render
from .resolve import Resolution, table_key
from .treecopy import copy_tree

__all__ = ["partition_fragment", "unions_to_whole"]

# Fewer rows than this in the cut table: too few keys to spread work (a small dimension).
_MIN_KEY_ROWS = 1_000

_REFUSED = (exp.AggFunc, exp.Window, exp.SetOperation, exp.With, exp.Order, exp.Limit, exp.Offset, exp.Group,
            exp.Having, exp.Distinct, exp.Qualify, exp.Lateral, exp.Unnest)


@dataclass(frozen=True)
class _Cut:
    """Where a range goes: the table read, the SELECT whose WHERE takes it, the key column."""

    table: CatalogTable
    select: exp.Select        # in the fragment's tree
    alias: str                # how that SELECT names the table
    column: str               # the key, as the engine spells it
    low: int
    high: int
    nullable: bool
    narrowed: bool            # the fragment's own bounds on the key narrowed the table's span


def partition_fragment(fragment: Fragment, resolution: Resolution, settings: Settings,
                       probe_columns: tuple[str, ...] = (), neighbours: int = 0) -> Fragment:
    """``fragment`` with ``partitions`` when reading it in key ranges pays and is correct; else as is.

    ``probe_columns``: the fragment's output columns that dynamic filters will restrict.
    ``neighbours``: the plan's other fragments on the same connector.
    """
    k = settings.partitioned_read_max
    if k < 2 or not fragment.connector.capabilities.partitioned_reads:
        return fragment
    if isinstance(fragment.connector, HasStatementSlots):
        k = min(k, fragment.connector.statement_slots - neighbours)
        if k < 2:
            return fragment
    if fragment.estimate is None:
        return fragment
    tree = fragment.tree
    if not isinstance(tree, exp.Select) or not unions_to_whole(tree):
        return fragment
    cut = _choose_cut(tree, resolution, k, probe_columns)
    if cut is None or _work_rows(fragment.estimate, tree, cut) < settings.partitioned_read_min_rows:
        return fragment
    bounds = _bounds(cut.low, cut.high, k)
    if not bounds:
        return fragment
    partitions = []
    for index in range(len(bounds) + 1):
        low = bounds[index - 1] if index > 0 else None
        high = bounds[index] if index < len(bounds) else None
        copy = copy_tree(tree)
        select = _same_node(tree, copy, cut.select)
        condition = _range(cut.alias, cut.column, low, high, nulls=index == 0 and cut.nullable)
        select.where(condition, append=True, copy=False)
        shown = _range(cut.table.name, cut.column, low, high, nulls=index == 0 and cut.nullable)
        partitions.append(Partition(sql=render(copy, fragment.dialect), tree=copy,
                                    range=shown.sql(dialect=fragment.dialect, identify=True)))
    return replace(fragment, partitions=tuple(partitions))


def _work_rows(estimate: float, tree: exp.Select, cut: _Cut) -> float:
    """The rows the engine goes through for the fragment: those it returns, or, for a read of
    one table whose own bounds on the key do not narrow it, the table's rows (a scan). TPC-H
    q19's part fragment returns ~500 of 200,000 rows; its scan is the build the lineitem read
    waits for."""
    rows = cut.table.row_estimate
    if len(_reads(tree)) > 1 or cut.narrowed or rows is None:
        return estimate
    return max(estimate, float(rows))


def unions_to_whole(tree: exp.Select) -> bool:
    """Is the union of the fragment over disjoint ranges of one table's rows the whole result?

    Conservative: any construct that combines or orders the fragment's rows is refused, wherever
    it appears. A subquery in a predicate or a projection (IN, EXISTS, a scalar subquery,
    correlated or not) is a value of each row: the range narrows only the fragment's own read of
    the cut table, never what the subquery reads, so whatever it computes inside is allowed.
    TPC-H q16's SQLite fragment filters partsupp with NOT IN (SELECT s_suppkey FROM supplier ...).
    """
    if tree.args.get("with") is not None:
        return False
    for node in tree.walk(prune=lambda node: _row_value(node, tree)):
        if _row_value(node, tree):
            continue
        if isinstance(node, _REFUSED):
            return False
        if isinstance(node, exp.Join) and (node.side or node.kind not in ("", "INNER", "CROSS")):
            return False  # an outer, semi or anti join: a range on one side is not a range of rows
        if isinstance(node, exp.Subquery) and not _policy_read(node):
            return False  # a derived table that is no policy read: it may combine rows
        if isinstance(node, exp.Select) and node is not tree and not isinstance(node.parent, exp.Subquery):
            return False
    return True


def _row_value(node: exp.Expr, tree: exp.Select) -> bool:
    """Is ``node`` a subquery computing a value per row of ``tree`` (not a table ``tree`` reads)?"""
    if node is tree or not isinstance(node, (exp.Subquery, exp.Select)):
        return False
    if isinstance(node, exp.Select) and isinstance(node.parent, exp.Subquery):
        return _row_value(node.parent, tree)   # the SELECT inside a subquery: as the subquery
    return not isinstance(node.parent, (exp.From, exp.Join))


def _policy_read(node: exp.Subquery) -> bool:
    """A governed table's subquery, standing in FROM/JOIN: row filter and masks over one table."""
    if not node.meta.get(POLICY_KEY) or not isinstance(node.parent, (exp.From, exp.Join)):
        return False
    inner = node.this
    return isinstance(inner, exp.Select) and not inner.args.get("joins") and \
        isinstance(_from_item(inner), exp.Table)


def _from_item(select: exp.Select) -> exp.Expr | None:
    from_ = select.args.get("from") or select.args.get("from_")
    return from_.this if from_ is not None else None


def _reads(select: exp.Select) -> list[tuple[exp.Table, exp.Select]]:
    """Each table the SELECT reads, with the SELECT whose WHERE narrows exactly that table's rows."""
    items = [_from_item(select)] + [join.this for join in select.args.get("joins") or ()]
    reads: list[tuple[exp.Table, exp.Select]] = []
    for item in items:
        if isinstance(item, exp.Table):
            reads.append((item, select))
        elif isinstance(item, exp.Subquery) and _policy_read(item):
            inner = item.this
            assert isinstance(inner, exp.Select)
            table = _from_item(inner)
            assert isinstance(table, exp.Table)
            reads.append((table, inner))
    return reads


def _choose_cut(tree: exp.Select, resolution: Resolution, k: int, probe_columns: tuple[str, ...]) -> _Cut | None:
    candidates: list[_Cut] = []
    counts: dict[str, int] = {}
    reads = _reads(tree)
    filtered = _filtered_aliases(tree, probe_columns)
    for table_node, _ in reads:
        key = table_key(table_node)
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    for table_node, select in reads:
        key = table_key(table_node)
        table = resolution.tables.get(key) if key is not None else None
        # A table read twice (a self-join): one range on one read is not a range of output rows.
        if table is None or key is None or counts[key] > 1:
            continue
        alias = _read_alias(table_node, select, tree)
        if len(reads) > 1 and alias not in filtered:
            continue  # not the table the join is driven from
        cut = _key_of(table, table_node, select, k)
        if cut is not None:
            candidates.append(cut)
    if not candidates:
        return None
    return min(candidates, key=lambda cut: (cut.table.row_estimate or 0, cut.table.qualified_name))


def _read_alias(node: exp.Table, select: exp.Select, tree: exp.Select) -> str:
    """How the fragment's own SELECT names a read: the table's alias, or its policy subquery's."""
    if select is tree:
        return node.alias_or_name
    subquery = select.parent
    return subquery.alias_or_name if isinstance(subquery, exp.Subquery) else node.alias_or_name


def _filtered_aliases(tree: exp.Select, probe_columns: tuple[str, ...]) -> set[str]:
    """The reads with a filter of their own: a WHERE conjunct naming only them (not a join
    equality), or the source of a column a dynamic filter restricts."""
    found: set[str] = set()
    where = tree.args.get("where")
    conjuncts: list[exp.Expr] = []
    if where is not None:
        node = where.this.unnest() if isinstance(where.this, exp.Paren) else where.this
        conjuncts = list(node.flatten()) if isinstance(node, exp.And) else [node]
    for conjunct in conjuncts:
        tables = {column.table for column in conjunct.find_all(exp.Column)}
        if len(tables) == 1 and "" not in tables:
            found |= tables
    for projection in tree.expressions:
        column = projection.this if isinstance(projection, exp.Alias) else projection
        if projection.alias_or_name in probe_columns and isinstance(column, exp.Column) and column.table:
            found.add(column.table)
    return found


def _key_of(table: CatalogTable, node: exp.Table, select: exp.Select, k: int) -> _Cut | None:
    primary = table.keys.primary_key
    if not primary:
        return None
    field = table.field_named(primary[0])
    stats = table.column_statistics(primary[0])
    rows = table.row_estimate if table.row_estimate is not None else \
        table.statistics.rows if table.statistics is not None else None
    if field is None or not pa.types.is_integer(field.type) or stats is None or rows is None or rows < _MIN_KEY_ROWS:
        return None
    if not isinstance(stats.min, int) or not isinstance(stats.max, int) or stats.max - stats.min + 1 < k:
        return None
    low, high = _narrowed(select, node.alias_or_name, field.name, stats.min, stats.max)
    if high - low + 1 < k:
        return None
    nullable = stats.null_fraction is None or stats.null_fraction > 0
    return _Cut(table=table, select=select, alias=node.alias_or_name, column=field.name,
                low=low, high=high, nullable=nullable, narrowed=(low, high) != (stats.min, stats.max))


def _narrowed(select: exp.Select, alias: str, column: str, low: int, high: int) -> tuple[int, int]:
    """[low, high] within the bounds the SELECT's own WHERE puts on the key (BETWEEN, a
    comparison or an IN-list of integer literals): broad.py b65 reads inv_date_sk BETWEEN
    2451186 AND 2451300, all in the lower half of the table's key range, so the statistics'
    halves gave one range every row and the other none. Only where the inner bounds fall: the
    first range stays open below and the last above, so every row is still read once."""
    where = select.args.get("where")
    if where is None:
        return low, high
    node = where.this.unnest() if isinstance(where.this, exp.Paren) else where.this
    for conjunct in (node.flatten() if isinstance(node, exp.And) else [node]):
        conjunct = conjunct.unnest() if isinstance(conjunct, exp.Paren) else conjunct
        floor, ceiling = _key_bounds(conjunct, alias, column)
        if floor is not None:
            low = max(low, floor)
        if ceiling is not None:
            high = min(high, ceiling)
    return low, high


_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT,
                                                  exp.LTE: exp.GTE, exp.EQ: exp.EQ}


def _key_bounds(conjunct: exp.Expr, alias: str, column: str) -> tuple[int | None, int | None]:
    """The (floor, ceiling) one conjunct puts on ``alias.column``; None where it puts none."""
    def is_key(node: exp.Expr | None) -> bool:
        return isinstance(node, exp.Column) and node.name == column and node.table == alias

    if isinstance(conjunct, exp.Between) and is_key(conjunct.this):
        return integer_value(conjunct.args.get("low")), integer_value(conjunct.args.get("high"))
    if isinstance(conjunct, exp.In) and is_key(conjunct.this) and not conjunct.args.get("query"):
        values = [integer_value(value) for value in conjunct.expressions]
        if values and all(value is not None for value in values):
            known = [value for value in values if value is not None]
            return min(known), max(known)
        return None, None
    kind = type(conjunct)
    if kind not in _FLIPPED:
        return None, None
    if is_key(conjunct.this):
        value = integer_value(conjunct.expression)
    elif is_key(conjunct.expression):
        value, kind = integer_value(conjunct.this), _FLIPPED[kind]
    else:
        return None, None
    if value is None:
        return None, None
    bounds: dict[type[exp.Expr], tuple[int | None, int | None]] = {
        exp.EQ: (value, value), exp.GT: (value + 1, None), exp.GTE: (value, None),
        exp.LT: (None, value - 1), exp.LTE: (None, value)}
    return bounds[kind]


def _bounds(low: int, high: int, k: int) -> list[int]:
    """The k-1 inner bounds splitting [low, high] into k ranges of about equal width."""
    width = high - low + 1
    bounds = sorted({low + (width * index) // k for index in range(1, k)})
    return [bound for bound in bounds if low < bound <= high]


def _range(alias: str, column: str, low: int | None, high: int | None, *, nulls: bool) -> exp.Expr:
    key = exp.column(column, table=alias, quoted=True)
    parts: list[exp.Expr] = []
    if low is not None:
        parts.append(exp.GTE(this=key.copy(), expression=exp.Literal.number(low)))
    if high is not None:
        parts.append(exp.LT(this=key.copy(), expression=exp.Literal.number(high)))
    condition = exp.and_(*parts) if len(parts) > 1 else parts[0]
    if nulls:  # the first range also takes the rows whose key is NULL: exactly one range does
        condition = exp.or_(exp.paren(condition), exp.Is(this=key.copy(), expression=exp.Null()))
    return exp.paren(condition) if nulls else condition


def _same_node(original: exp.Expr, copy: exp.Expr, target: exp.Select) -> exp.Select:
    """The node of ``copy`` at the place ``target`` has in ``original`` (trees of one shape)."""
    for before, after in zip(original.walk(), copy.walk(), strict=True):
        if before is target:
            assert isinstance(after, exp.Select)
            return after
    raise ValueError("the partitioned SELECT is not in the fragment")
