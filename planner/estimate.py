"""Row estimates for fragments: cheap, from the catalog's statistics where the engines keep them.

Table sizes and column statistics come from the catalog (``CatalogTable.row_estimate`` and
``.statistics``, read from the engines when the catalog was built: ``connectors/*_stats.py``);
nothing is fetched here. Predicates scale a table's rows by their selectivity:

=====================  =======================================  ======================
predicate              with statistics                          without (textbook)
=====================  =======================================  ======================
``c = v``              1 / distinct(c) (0 outside [min, max])   0.05
``c IN (v1 .. vn)``    n / distinct(c)                          0.05 n
``c <> v``             1 - 1 / distinct(c)                      0.5
``c < v``, ``BETWEEN``  the share of [min, max] kept             0.4, 0.25
``c IS [NOT] NULL``    the NULL fraction (or the rest)          0.5
=====================  =======================================  ======================

Joins inside a fragment use |R||S| / max(distinct(r), distinct(s)) on the equated columns
(each distinct count at most its side's rows); when neither side's count is known, the larger
input (most joins inside one engine are key/foreign-key joins). The numbers need only be right
within an order of magnitude: they rank join sides, decide which fragment lends keys, whether
to aggregate first, and in what order the residual joins.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from flightmesh.mesh.statistics import ColumnStatistics

from .resolve import Resolution

__all__ = ["column_statistics", "distinct_among", "estimate_rows", "group_count", "input_rows", "is_unique_column",
           "output_rows"]

_UNKNOWN_TABLE_ROWS = 100_000.0
_DEPTH = 8  # how far a column is traced through subqueries (governed tables are one level)


@dataclass
class _Input:
    rows: float                      # after the input's own predicates


def estimate_rows(tree: exp.Expr, resolution: Resolution) -> float:
    if isinstance(tree, exp.Subquery):
        return estimate_rows(tree.this, resolution)
    if isinstance(tree, exp.SetOperation):
        return estimate_rows(tree.this, resolution) + estimate_rows(tree.expression, resolution)
    if not isinstance(tree, exp.Select):
        return 1.0
    return output_rows(tree, input_rows(tree, resolution), resolution)


def output_rows(tree: exp.Select, rows: float, resolution: Resolution) -> float:
    """The rows ``tree`` returns when its FROM, joins and WHERE produce ``rows`` (``input_rows``):
    after its GROUP BY and HAVING, aggregates and LIMIT."""
    if tree.args.get("group") is not None:
        groups = group_count(tree, rows, resolution)
        having = tree.args.get("having")
        if having is not None:
            groups *= _conjunction_having(having.this, tree, resolution, rows / max(groups, 1.0))
        rows = groups
    elif any(isinstance(e, exp.AggFunc) for p in tree.expressions for e in p.walk()):
        rows = 1.0
    limit = tree.args.get("limit")
    if limit is not None and isinstance(limit.expression, exp.Literal) and limit.expression.is_int:
        rows = min(rows, float(limit.expression.to_py()))
    return max(rows, 1.0)


def input_rows(tree: exp.Select, resolution: Resolution) -> float:
    """The rows ``tree``'s FROM, joins and WHERE produce: what its GROUP BY, aggregates or
    DISTINCT then read."""
    inputs = {item.alias_or_name: _Input(_item_rows(item, resolution)) for item in _from_items(tree)}
    conjuncts = _conjuncts(tree.args.get("where"))
    joins = tree.args.get("joins") or []
    outer: set[str] = set()
    for join in joins:
        side, kind = (join.side or "").upper(), (join.kind or "").upper()
        if side or kind in ("SEMI", "ANTI"):
            outer.add(join.this.alias_or_name)
        else:
            conjuncts += _conjuncts(join.args.get("on"))
    equalities: list[tuple[exp.Column, exp.Column]] = []
    rest = 1.0
    ranges, conjuncts = _ranges(conjuncts, tree, resolution, set(inputs))
    for alias, share in ranges:
        inputs[alias].rows *= share
    for conjunct in conjuncts:
        aliases = _aliases(conjunct)
        if len(aliases) == 1 and next(iter(aliases)) in inputs:
            target = inputs[next(iter(aliases))]
            target.rows *= _selectivity(conjunct, tree, resolution)
        elif len(aliases) == 2 and _column_pair(conjunct) is not None:
            pair = _column_pair(conjunct)
            assert pair is not None
            equalities.append(pair)
        elif len(aliases) > 1:
            continue  # another join predicate: accounted for by the join rule
        else:
            rest *= _selectivity(conjunct, tree, resolution)
    return _joined(tree, inputs, equalities, outer, resolution) * rest


def group_count(select: exp.Select, rows: float, resolution: Resolution) -> float:
    """Groups of ``select``'s GROUP BY over ``rows`` input rows: the product of the distinct
    values each key is expected to have among those rows (``distinct_among``; at most the rows),
    or a tenth of the rows when a key's count is unknown."""
    group = select.args.get("group")
    keys = list(group.expressions) if group is not None else []
    if group is None or not keys or any(group.args.get(kind) for kind in ("rollup", "cube", "grouping_sets")):
        return max(1.0, rows * 0.1)
    product = 1.0
    for key in keys:
        distinct = _surviving(_origin_of(key, select, resolution, _DEPTH), rows) \
            if isinstance(key, exp.Column) else None
        if distinct is None:
            return max(1.0, rows * 0.1)
        product *= max(1.0, distinct)
    return max(1.0, min(rows, product))


def column_statistics(tree: exp.Expr, name: str, resolution: Resolution) -> ColumnStatistics | None:
    """Statistics of output column ``name`` of query ``tree``, when it is a table's column as is."""
    return _output_statistics(tree, name, resolution, _DEPTH)


# -- inputs and joins -------------------------------------------------------------------------


def _from_items(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    return ([from_.this] if from_ is not None else []) + [join.this for join in select.args.get("joins") or []]


def _item_rows(item: exp.Expr, resolution: Resolution) -> float:
    if isinstance(item, exp.Table):
        table = resolution.of(item)
        return float(table.row_estimate) if table and table.row_estimate is not None else _UNKNOWN_TABLE_ROWS
    return estimate_rows(item, resolution)


def _joined(select: exp.Select, inputs: dict[str, _Input], equalities: list[tuple[exp.Column, exp.Column]],
            outer: set[str], resolution: Resolution) -> float:
    """Join the inputs greedily, each next one connected to those joined when one is."""
    if not inputs:
        return 1.0
    pending = list(inputs)
    joined = {pending.pop(0)}
    rows = inputs[next(iter(joined))].rows
    while pending:
        connected = [alias for alias in pending if any(_links(pair, joined, alias) for pair in equalities)]
        alias = connected[0] if connected else pending[0]
        pending.remove(alias)
        other = inputs[alias]
        pairs = [pair for pair in equalities if _links(pair, joined, alias)]
        combined = _join_rows(select, rows, joined, other, alias, pairs, inputs, resolution)
        rows = max(rows, combined) if alias in outer else combined
        joined.add(alias)
    return rows


def _links(pair: tuple[exp.Column, exp.Column], joined: set[str], alias: str) -> bool:
    a, b = pair[0].table, pair[1].table
    return (a == alias and b in joined) or (b == alias and a in joined)


def _join_rows(select: exp.Select, rows: float, joined: set[str], other: _Input, alias: str,
               pairs: list[tuple[exp.Column, exp.Column]], inputs: dict[str, _Input],
               resolution: Resolution) -> float:
    if not pairs:
        return max(rows, other.rows)  # no equality found: never a product (a guess could blow up)
    best: float | None = None
    for a, b in pairs:
        mine, theirs = (a, b) if a.table == alias else (b, a)
        d_other = _distinct(mine, select, resolution, other.rows)
        d_joined = _distinct(theirs, select, resolution, rows)
        known = [d for d in (d_other, d_joined) if d is not None]
        if not known:
            continue
        divisor = max(known) if len(known) == 2 else max(known[0], min(rows, other.rows))
        best = max(best or 0.0, divisor)
    if best is None:
        return max(rows, other.rows)
    return rows * other.rows / max(best, 1.0)


def _distinct(column: exp.Column, select: exp.Select, resolution: Resolution, rows: float) -> float | None:
    stats = _statistics_of(column, select, resolution)
    if stats is None or stats.distinct is None:
        return None
    return float(min(stats.distinct, max(rows, 1.0)))


# -- statistics of columns --------------------------------------------------------------------


def _statistics_of(column: exp.Column, select: exp.Select, resolution: Resolution,
                   depth: int = _DEPTH) -> ColumnStatistics | None:
    """The statistics of ``column`` as ``select`` reads it (through subqueries, as far as a
    projection passes a column on unchanged)."""
    origin = _origin_of(column, select, resolution, depth)
    return origin[0] if origin is not None else None


def _output_statistics(tree: exp.Expr, name: str, resolution: Resolution, depth: int) -> ColumnStatistics | None:
    origin = _output_origin(tree, name, resolution, depth)
    return origin[0] if origin is not None else None


def _origin_of(column: exp.Column, select: exp.Select, resolution: Resolution,
               depth: int) -> tuple[ColumnStatistics | None, float | None] | None:
    """(the column's statistics, its table's rows) where ``column`` is a table's column as is."""
    if depth <= 0 or not column.table:
        return None
    for item in _from_items(select):
        if item.alias_or_name != column.table:
            continue
        if isinstance(item, exp.Table):
            table = resolution.of(item)
            if table is None:
                return None
            rows = float(table.row_estimate) if table.row_estimate is not None else None
            return table.column_statistics(column.name), rows
        if isinstance(item, exp.Subquery):
            return _output_origin(item.this, column.name, resolution, depth - 1)
        return None
    return None


def _output_origin(tree: exp.Expr, name: str, resolution: Resolution,
                   depth: int) -> tuple[ColumnStatistics | None, float | None] | None:
    if isinstance(tree, exp.Subquery):
        return _output_origin(tree.this, name, resolution, depth - 1)
    if not isinstance(tree, exp.Select) or depth <= 0:
        return None
    for projection in tree.expressions:
        if projection.alias_or_name != name:
            continue
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(inner, exp.Column):
            return _origin_of(inner, tree, resolution, depth)
        return None
    return None


_KEY_SHARE = 0.9  # a column with at least this share of its table's rows as distinct values is taken for a key


def is_unique_column(tree: exp.Expr, name: str, resolution: Resolution, depth: int = _DEPTH) -> bool:
    """Whether output column ``name`` of ``tree`` holds each value about once, by the statistics:
    the one key of a GROUP BY, or a table's key column (``_is_key``) read as is through selects
    whose other tables each join on a key of their own (a lookup such as customer -> nation adds
    no rows; any other join may repeat a key).

    Unknown (no statistics, an expression, an outer or lateral join) is False. This sizes the
    merge's inputs only (``merge_sizes``); no rewrite that changes an answer may rely on it.
    """
    if isinstance(tree, exp.Subquery):
        return is_unique_column(tree.this, name, resolution, depth - 1)
    if not isinstance(tree, exp.Select) or depth <= 0:
        return False
    projection = next((p for p in tree.expressions if p.alias_or_name == name), None)
    inner = projection.this if isinstance(projection, exp.Alias) else projection
    if not isinstance(inner, exp.Column):
        return False
    group = tree.args.get("group")
    if group is not None:
        keys = list(group.expressions)
        return len(keys) == 1 and keys[0] == inner and \
            not any(group.args.get(kind) for kind in ("rollup", "cube", "grouping_sets"))
    items = {item.alias_or_name: item for item in _from_items(tree)}
    joins = tree.args.get("joins") or []
    if inner.table not in items or any(join.side or join.kind or join.args.get("method") for join in joins):
        return False
    if not _unique_in(items[inner.table], inner.name, resolution, depth):
        return False
    if len(items) == 1:
        return True
    conjuncts = _conjuncts(tree.args.get("where")) + [c for join in joins for c in _conjuncts(join.args.get("on"))]
    lookups = {column.table for eq in conjuncts if isinstance(eq, exp.EQ)
               for column, other in ((eq.this, eq.expression), (eq.expression, eq.this))
               if isinstance(column, exp.Column) and isinstance(other, exp.Column) and column.table != other.table
               and column.table in items and _unique_in(items[column.table], column.name, resolution, depth)}
    return all(alias in lookups for alias in items if alias != inner.table)


def _unique_in(item: exp.Expr, name: str, resolution: Resolution, depth: int) -> bool:
    if isinstance(item, exp.Subquery):
        return is_unique_column(item.this, name, resolution, depth - 1)
    table = resolution.of(item) if isinstance(item, exp.Table) else None
    if table is None or not table.row_estimate:
        return False
    return _is_key(table.column_statistics(name), float(table.row_estimate))


def _is_key(stats: ColumnStatistics | None, rows: float) -> bool:
    """A column of (nearly) as many distinct values as its table has rows; without a distinct
    count (Parquet footers keep none), an integer column without NULLs whose range holds no
    more values than the table has rows, nearly all of them (a dense surrogate key such as
    d_date_sk): only a guess, good enough to size a stream."""
    if stats is None:
        return False
    if stats.distinct is not None:
        return stats.distinct >= _KEY_SHARE * rows
    low, high = stats.min, stats.max
    if stats.null_fraction != 0.0 or not isinstance(low, int) or not isinstance(high, int) \
            or isinstance(low, bool) or isinstance(high, bool):
        return False
    return _KEY_SHARE * rows <= high - low + 1 <= rows


def distinct_among(tree: exp.Expr, name: str, rows: float, resolution: Resolution) -> float | None:
    """The distinct values of output column ``name`` of ``tree`` expected among ``rows`` of its
    rows, when the column is a table's column as is and its distinct count is known.

    A filter keeps some rows of each value: of a table of N rows with d values (N/d rows each),
    r rows drawn at random hold d (1 - (1 - r/N)^(N/d)) values (Yao's formula; Cardenas' when N
    is unknown). A key stays at r, a value of many rows survives in almost any subset. TPC-H
    Q10's orders of one quarter hold 42,509 of the 99,996 customer keys; r = 57,000 of 1.5M
    gives 44,000, ``min(r, d)`` 57,000.
    """
    return _surviving(_output_origin(tree, name, resolution, _DEPTH), rows)


def _surviving(origin: tuple[ColumnStatistics | None, float | None] | None, rows: float) -> float | None:
    stats, table_rows = origin if origin is not None else (None, None)
    if stats is None or stats.distinct is None:
        return None
    distinct = float(stats.distinct)
    if rows <= 0 or distinct <= 0:
        return 0.0  # (no non-NULL value: one group, of NULLs)
    if table_rows is not None and table_rows >= distinct and table_rows > 0:
        if rows >= table_rows:
            return distinct
        return distinct * -math.expm1(table_rows / distinct * math.log1p(-rows / table_rows))
    return distinct * -math.expm1(-rows / distinct)


# -- selectivity ------------------------------------------------------------------------------


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, exp.Where):
        node = node.this
    node = node.unnest() if isinstance(node, exp.Paren) else node
    return [part.unnest() if isinstance(part, exp.Paren) else part
            for part in (node.flatten() if isinstance(node, exp.And) else [node])]


def _own_columns(node: exp.Expr) -> Iterator[exp.Column]:
    # Columns of a subquery inside the predicate are the subquery's business, not a join.
    for found in node.walk(prune=lambda n: isinstance(n, exp.Query)):
        if isinstance(found, exp.Column):
            yield found


def _aliases(node: exp.Expr) -> set[str]:
    return {column.table for column in _own_columns(node)}


def _column_pair(conjunct: exp.Expr) -> tuple[exp.Column, exp.Column] | None:
    if isinstance(conjunct, exp.EQ) and isinstance(conjunct.left, exp.Column) \
            and isinstance(conjunct.right, exp.Column) and conjunct.left.table and conjunct.right.table:
        return conjunct.left, conjunct.right
    return None


def _conjunction(node: exp.Expr, select: exp.Select, resolution: Resolution) -> float:
    product = 1.0
    for part in _conjuncts(node):
        product *= _selectivity(part, select, resolution)
    return product


def _selectivity(conjunct: exp.Expr, select: exp.Select, resolution: Resolution) -> float:
    if len(_aliases(conjunct)) > 1:
        return 1.0  # a join predicate: accounted for by the join rule
    if isinstance(conjunct, exp.Or):
        # Disjuncts of conjunctions (TPC-H Q19): the chance of any, at most the sum of each.
        return min(1.0, sum(_conjunction(d, select, resolution) for d in conjunct.flatten()))
    if isinstance(conjunct, exp.In) and conjunct.args.get("query") is not None:
        return _semi_join(conjunct, select, resolution)
    known = _with_statistics(conjunct, select, resolution)
    if known is not None:
        return known
    if isinstance(conjunct, exp.EQ):
        return 0.05
    if isinstance(conjunct, exp.In):
        return min(1.0, 0.05 * max(1, len(conjunct.expressions)))
    if isinstance(conjunct, (exp.Like, exp.ILike)):
        return 0.25
    if isinstance(conjunct, exp.Between):
        return 0.25
    if isinstance(conjunct, (exp.GT, exp.GTE, exp.LT, exp.LTE)):
        return 0.4
    if isinstance(conjunct, exp.Not):
        return 0.9
    return 0.5


def _semi_join(node: exp.In, select: exp.Select, resolution: Resolution) -> float:
    """``c IN (subquery)``: keeps the rows whose key the subquery returns, a tenth by default;
    fewer when the subquery is expected to return fewer values than ``c`` has (TPC-H Q18's
    orders of more than 300 units: the share of the keys the subquery keeps)."""
    stats = _statistics_of(node.this, select, resolution) if isinstance(node.this, exp.Column) else None
    if stats is None or not stats.distinct:
        return 0.1
    return min(0.1, estimate_rows(node.args["query"], resolution) / stats.distinct)


def _ranges(conjuncts: list[exp.Expr], select: exp.Select, resolution: Resolution,
            aliases: set[str]) -> tuple[list[tuple[str, float]], list[exp.Expr]]:
    """Lower and upper bounds on one column as one range: ``d >= x AND d < x + 1 month`` keeps
    the month's share of [min, max], not the product of two half-open shares (TPC-H Q14 kept a
    quarter of lineitem instead of 1/80). (alias, share) per such column, and the other conjuncts."""
    bounds: dict[tuple[str, str], list[exp.Expr]] = {}
    for conjunct in conjuncts:
        comparison = _column_and_value(conjunct)
        if comparison is not None and comparison[2] in (exp.GT, exp.GTE, exp.LT, exp.LTE) \
                and comparison[0].table in aliases and _number(comparison[1]) is not None:
            bounds.setdefault((comparison[0].table, comparison[0].name), []).append(conjunct)
    shares: list[tuple[str, float]] = []
    combined: set[int] = set()
    for (alias, _), found in bounds.items():
        parsed = [c for c in (_column_and_value(node) for node in found) if c is not None]
        lows = [_number(v) for _, v, kind in parsed if kind in (exp.GT, exp.GTE)]
        highs = [_number(v) for _, v, kind in parsed if kind in (exp.LT, exp.LTE)]
        stats = _statistics_of(parsed[0][0], select, resolution)
        if not lows or not highs or stats is None:
            continue
        share = _range_share(stats, max(v for v in lows if v is not None), min(v for v in highs if v is not None))
        if share is None:
            continue
        shares.append((alias, share))
        combined.update(id(node) for node in found)
    return shares, [conjunct for conjunct in conjuncts if id(conjunct) not in combined]


def _conjunction_having(node: exp.Expr, select: exp.Select, resolution: Resolution, per_group: float) -> float:
    """The share of groups a HAVING keeps: ``agg(c) <op> constant`` against the range the
    aggregate can take (MIN, MAX, AVG: the column's [min, max]; SUM: that times the average
    rows per group); 1 for anything else (a HAVING never makes an estimate smaller unknowingly)."""
    product = 1.0
    for part in _conjuncts(node):
        comparison = _aggregate_and_value(part)
        if comparison is None:
            continue
        aggregate, value, kind = comparison
        stats = _statistics_of(aggregate.this, select, resolution)
        low, high = (_number(stats.min), _number(stats.max)) if stats is not None else (None, None)
        point = _number(value)
        if low is None or high is None or point is None:
            continue
        if isinstance(aggregate, exp.Sum):
            low, high = low * per_group, high * per_group
            low, high = min(low, high), max(low, high)
        scaled = ColumnStatistics(min=low, max=high)
        share = _range_share(scaled, point, None) if kind in (exp.GT, exp.GTE) else \
            _range_share(scaled, None, point) if kind in (exp.LT, exp.LTE) else None
        if share is not None:
            product *= share
    return product


def _aggregate_and_value(node: exp.Expr) -> tuple[exp.AggFunc, object, type[exp.Expr]] | None:
    kind = type(node)
    if kind not in (exp.GT, exp.GTE, exp.LT, exp.LTE):
        return None
    assert isinstance(node, exp.Binary)
    left, right = node.left, node.right
    if not isinstance(left, (exp.Sum, exp.Min, exp.Max, exp.Avg)):
        left, right, kind = right, left, _FLIPPED[kind]
    if isinstance(left, (exp.Sum, exp.Min, exp.Max, exp.Avg)) and isinstance(left.this, exp.Column) \
            and not any(_own_columns(right)):
        value = _value(right)
        return (left, value, kind) if value is not None else None
    return None


def _with_statistics(conjunct: exp.Expr, select: exp.Select, resolution: Resolution) -> float | None:
    """The selectivity the column's statistics give, or None to fall back to the constants."""
    negated = isinstance(conjunct, exp.Not)
    node = conjunct.this.unnest() if negated and isinstance(conjunct.this, exp.Paren) else \
        conjunct.this if negated else conjunct
    if isinstance(node, exp.Is) and isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Null):
        stats = _statistics_of(node.this, select, resolution)
        if stats is None or stats.null_fraction is None:
            return None
        return 1.0 - stats.null_fraction if negated else stats.null_fraction
    if negated:
        return None
    if isinstance(node, exp.In) and isinstance(node.this, exp.Column) and node.expressions:
        stats = _statistics_of(node.this, select, resolution)
        if stats is None or not stats.distinct:
            return None
        return min(1.0, len(node.expressions) / stats.distinct)
    if isinstance(node, exp.Between) and isinstance(node.this, exp.Column):
        stats = _statistics_of(node.this, select, resolution)
        return _range_share(stats, _value(node.args.get("low")), _value(node.args.get("high")))
    comparison = _column_and_value(node)
    if comparison is None:
        return None
    column, value, kind = comparison
    stats = _statistics_of(column, select, resolution)
    if stats is None:
        return None
    if kind is exp.EQ or kind is exp.NEQ:
        if value is not None and _outside(stats, value):
            return 1.0 if kind is exp.NEQ else 0.0
        if not stats.distinct:
            return None
        share = 1.0 / stats.distinct
        return 1.0 - share if kind is exp.NEQ else share
    if kind in (exp.GT, exp.GTE):
        return _range_share(stats, value, None)
    return _range_share(stats, None, value)


_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT,
                                                  exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}


def _column_and_value(node: exp.Expr) -> tuple[exp.Column, object | None, type[exp.Expr]] | None:
    kind = type(node)
    if kind not in _FLIPPED:
        return None
    assert isinstance(node, exp.Binary)
    left, right = node.left, node.right
    if isinstance(left, exp.Column) and not isinstance(right, exp.Column) and not any(_own_columns(right)):
        return left, _value(right), kind
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column) and not any(_own_columns(left)):
        return right, _value(left), _FLIPPED[kind]
    return None


def _value(node: exp.Expr | None) -> object | None:
    """A constant's value, for literals, typed literals (DATE '1994-01-01') and date arithmetic
    with an interval of days, months or years; None for anything else."""
    if node is None:
        return None
    if isinstance(node, exp.Paren):
        return _value(node.this)
    if isinstance(node, exp.Literal):
        if node.is_number:
            try:
                return float(node.this)
            except ValueError:
                return None
        return _date(node.this)
    if isinstance(node, exp.Neg):
        inner = _value(node.this)
        return -inner if isinstance(inner, float) else None
    if isinstance(node, (exp.Cast, exp.TsOrDsToDate, exp.StrToDate, exp.Date)) and isinstance(node.this, exp.Literal):
        return _date(node.this.this)
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        start = _value(node.this)
        if isinstance(start, datetime.date):
            return _shifted(start, node.expression, -1 if isinstance(node, exp.Sub) else 1)
    return None


def _date(text: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _shifted(start: datetime.date, interval: exp.Interval, sign: int) -> datetime.date | None:
    amount, unit = interval.this, interval.unit
    try:
        count = int(str(amount.this if isinstance(amount, exp.Literal) else amount).strip("'")) * sign
    except ValueError:
        return None
    name = (unit.name if unit is not None else "").upper().rstrip("S")
    if name == "DAY":
        return start + datetime.timedelta(days=count)
    months = count * 12 if name == "YEAR" else count if name == "MONTH" else None
    if months is None:
        return None
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, 28))


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        # Days, like a date: a TIMESTAMP column's bounds are datetimes, the literals dates.
        seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
        return value.toordinal() + seconds / 86400.0
    if isinstance(value, datetime.date):
        return float(value.toordinal())
    try:
        return float(value)  # type: ignore[arg-type]  # Decimal
    except (TypeError, ValueError):
        return None


def _outside(stats: ColumnStatistics, value: object) -> bool:
    point, low, high = _number(value), _number(stats.min), _number(stats.max)
    if point is None or low is None or high is None:
        return False
    return point < low or point > high


def _range_share(stats: ColumnStatistics | None, low: object | None, high: object | None) -> float | None:
    """The share of [min, max] between ``low`` and ``high`` (either open)."""
    if stats is None:
        return None
    bottom, top = _number(stats.min), _number(stats.max)
    if bottom is None or top is None:
        return None
    start = _number(low) if low is not None else bottom
    end = _number(high) if high is not None else top
    if start is None or end is None:
        return None
    if top <= bottom:
        return 1.0 if start <= bottom <= end else 0.0
    kept = (min(end, top) - max(start, bottom)) / (top - bottom)
    # Never quite 0: the bounds may be a sample's, and a zero would hide a fragment's cost.
    return min(1.0, max(kept, 0.001))
