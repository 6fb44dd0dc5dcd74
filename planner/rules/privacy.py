"""The privacy-mode rewrite: an allowed aggregate over a privacy table becomes its bounded exact form.

Runs on the resolved tree, before the product's policies wrap its tables (so a row filter and
masks still apply first, at the table). For a principal who reads the table only in privacy mode
(``governance.privacy``), with ``unit: customer_id, max_rows_per_unit: 10, bounds: {amount: [0, 1000]}``::

    SELECT region, COUNT(*) AS n, AVG(amount) AS mean FROM sales.orders WHERE year = 2024
    GROUP BY region ORDER BY n DESC

becomes the exact aggregate the product's engine computes, over at most 10 rows per unit and
with every summed value clamped, inside the product's fragment::

    SELECT o.region AS __fm_k0, COUNT(*) AS __fm_m0,
           SUM(CAST(CASE WHEN o.amount < 0 THEN 0 WHEN o.amount > 1000 THEN 1000 ELSE o.amount END
                    AS DOUBLE)) AS __fm_m1, COUNT(o.amount) AS __fm_m2
    FROM (SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.customer_id) AS __fm_rank
          FROM sales.orders AS o WHERE year = 2024) AS o
    WHERE o.__fm_rank <= 10 GROUP BY o.region

and a ``PrivacyRelease`` that tells the executor how to release it: every declared region (also
one with no rows), Laplace noise per cell, the mean as noisy sum / noisy count, then the ORDER BY
and LIMIT over the noisy values. The WHERE is applied before the bound, so the bound selects
among the rows the query is about.

What the mode allows, and everything else refused with a message saying so: one privacy table,
read once (no subqueries, CTEs or set operations), COUNT(*), COUNT(column), SUM and AVG of columns
with declared bounds, GROUP BY declared public keys, WHERE on any column (comparisons with values
only, ``privacy_conditions``), ORDER BY result columns, LIMIT; not DISTINCT, HAVING, MIN/MAX or
other functions, window functions, row-level SELECT, nor
EXPLAIN ANALYZE (its row counts are exact).

One join is allowed where the bound still holds: to a table the principal reads fully, on that
table's primary key (``o.customer_id = c.customer_id``, c's key), inner or LEFT from the privacy
table. Each privacy row then meets at most one row, so a unit still moves at most k rows; and since
a declared key is not always enforced by the engine, the joined table is cut to one row per key
(``ROW_NUMBER() OVER (PARTITION BY key) = 1`` in the ON), so a duplicate cannot count a row twice.
With a join the WHERE (which may name the joined table) applies after the bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from flightmesh.governance.privacy import (
    Mechanism,
    PrivacyRelease,
    ReleasedColumn,
    count_sensitivity,
    reads_in_privacy_mode,
    sum_sensitivity,
)
from flightmesh.mesh import MeshSpec, Principal, UnsupportedQuery
from flightmesh.mesh.descriptor_privacy import PrivacySpec, PrivacyTableSpec

from ..resolve import TABLE_KEY, Resolution
from .privacy_conditions import ColumnType, check_condition

__all__ = ["ALLOWED", "privacy_mode"]

ALLOWED = ("privacy mode allows only COUNT(*), COUNT(column), and SUM or AVG of a column with declared bounds, "
           "over one privacy table (joined at most to a table you read fully, on its primary key), "
           "with GROUP BY on its declared public keys, WHERE comparing any column with values, ORDER BY result columns "
           "and LIMIT")

RANK = "__fm_rank"
DUPLICATE = "__fm_copy"


def _refuse(what: str) -> UnsupportedQuery:
    return UnsupportedQuery(f"{what} is not allowed in privacy mode; {ALLOWED}")


def privacy_mode(tree: exp.Expr, resolution: Resolution, principal: Principal, spec: MeshSpec,
                 written: Sequence[str] | None, explain: str | None) -> PrivacyRelease | None:
    """Rewrite ``tree`` in place if it reads a table in privacy mode; the release, or None."""
    guarded = [node for node in tree.find_all(exp.Table) if _privacy_product(node, resolution, principal, spec)]
    if not guarded:
        return None
    if explain == "analyze":
        raise _refuse("EXPLAIN ANALYZE (its row counts are exact)")
    tables = [node for node in tree.find_all(exp.Table) if node.meta.get(TABLE_KEY)]
    if len(guarded) > 1:
        raise _refuse("reading privacy tables more than once (a self-join, or two privacy tables)")
    joins = list(tree.args.get("joins") or [])
    if not isinstance(tree, exp.Select) or len(tables) != 1 + len(joins) or len(joins) > 1:
        raise _refuse("a query over more than one table (a subquery, a set operation, or more than one join)")
    for kind, label in ((exp.With, "WITH"), (exp.Subquery, "a subquery"), (exp.SetOperation, "a set operation"),
                        (exp.Window, "a window function"), (exp.Distinct, "DISTINCT")):
        if tree.find(kind) is not None:
            raise _refuse(label)
    for key, label in (("having", "HAVING"), ("offset", "OFFSET"), ("qualify", "QUALIFY"),
                       ("distinct", "DISTINCT"), ("sample", "a sample")):
        if tree.args.get(key):
            raise _refuse(label)
    types = _column_types(tables, resolution)
    if (where := tree.args.get("where")) is not None:
        check_condition(where.this, "WHERE", types)
    for join in joins:
        if join.args.get("on") is not None:
            check_condition(join.args["on"], "ON", types)
    table = guarded[0]
    joined = _joined(tree, table, joins[0], resolution) if joins else None
    key = table.meta[TABLE_KEY]
    product, name = key.split(".", 1)
    privacy = spec.products[product].privacy
    assert privacy is not None
    declared = next((t for n, t in privacy.tables.items() if n.lower() == name.lower()), None)
    if declared is None:
        listed = ", ".join(f"{product}.{n}" for n in privacy.tables) or "none"
        raise UnsupportedQuery(f"{key} has no privacy declaration (unit, contribution bound), so privacy mode "
                               f"cannot read it; the product's privacy tables are: {listed}")
    return _rewrite(tree, table, key, product, privacy, declared, written, joined, resolution)


JOINS = ("a join is allowed in privacy mode only to a table you read fully, on its primary key "
         "(privacy_table.column = other.primary_key), as an inner join or a LEFT JOIN from the privacy table: "
         "then each privacy row meets at most one row and the contribution bound still holds")


def _joined(select: exp.Select, table: exp.Table, join: exp.Join, resolution: Resolution) -> tuple[exp.Table, str]:
    """The joined table and its key column, if the join keeps each privacy row to one match."""
    other = join.this
    side, kind = (join.args.get("side") or "").upper(), (join.args.get("kind") or "").upper()
    inner = not side and kind in ("", "INNER")
    left = side == "LEFT" and kind in ("", "OUTER") and select.args["from_"].this is table
    on = join.args.get("on")
    if not isinstance(other, exp.Table) or not (inner or left) or on is None or join.args.get("using"):
        raise UnsupportedQuery(f"this join is not allowed: {JOINS}")
    other_table = resolution.of(other)
    assert other_table is not None
    primary = other_table.keys.primary_key
    conjuncts = list(on.flatten()) if isinstance(on, exp.And) else [on]
    for condition in conjuncts:
        if not (isinstance(condition, exp.EQ) and isinstance(condition.this, exp.Column)
                and isinstance(condition.expression, exp.Column)):
            continue
        for mine, theirs in ((condition.this, condition.expression), (condition.expression, condition.this)):
            ours = mine.table.lower() == table.alias_or_name.lower()
            if (ours and theirs.table.lower() == other.alias_or_name.lower()
                    and len(primary) == 1 and theirs.name.lower() == primary[0].lower()):
                return other, primary[0]
    raise UnsupportedQuery(f"this join is not allowed: {JOINS} (write both columns qualified by their tables)")


def _column_types(tables: Sequence[exp.Table], resolution: Resolution) -> ColumnType:
    """The type of a column of the query's tables, by qualifier or (unqualified) the first that has it."""
    def column_type(column: exp.Column) -> pa.DataType | None:
        for node in tables:
            if column.table and column.table.lower() != node.alias_or_name.lower():
                continue
            table = resolution.of(node)
            found = table.field_named(column.name) if table is not None else None
            if found is not None:
                return found.type
        return None

    return column_type


def _privacy_product(node: exp.Table, resolution: Resolution, principal: Principal, spec: MeshSpec) -> bool:
    table = resolution.of(node)
    return table is not None and reads_in_privacy_mode(spec.products[table.product], principal)


def _rewrite(select: exp.Select, table: exp.Table, key: str, product: str, privacy: PrivacySpec,
             declared: PrivacyTableSpec, written: Sequence[str] | None, joined: tuple[exp.Table, str] | None,
             resolution: Resolution) -> PrivacyRelease:
    alias = table.alias_or_name
    other_alias = joined[0].alias_or_name if joined is not None else ""
    mine = resolution.of(table)
    theirs = resolution.of(joined[0]) if joined is not None else None
    assert mine is not None

    def _column_name(node: exp.Expr) -> str | None:
        """The column's name if it is one of the privacy table's (None for anything else)."""
        if not isinstance(node, exp.Column) or node.is_star:
            return None
        if node.table:
            return node.name.lower() if node.table.lower() == alias.lower() else None
        if theirs is not None and theirs.field_named(node.name) is not None:
            return None   # unqualified and the joined table has it too: qualification would call it ambiguous
        return node.name.lower()

    def _joined_column(node: exp.Expr) -> exp.Column | None:
        """The joined table's column ``node`` names, qualified (None if it is not one)."""
        if theirs is None or not isinstance(node, exp.Column) or node.is_star:
            return None
        if node.table.lower() == other_alias.lower() or (not node.table and mine.field_named(node.name) is None
                                                 and theirs.field_named(node.name) is not None):
            return exp.column(exp.to_identifier(node.name), table=exp.to_identifier(other_alias))
        return None

    public = {column.lower(): (column, values) for column, values in declared.public_keys.items()}
    bounds = {column.lower(): (column, pair) for column, pair in declared.bounds.items()}

    def column(name: str) -> exp.Column:
        return exp.column(exp.to_identifier(name), table=exp.to_identifier(alias))

    groups: list[str] = []
    group = select.args.get("group")
    for item in group.expressions if group is not None else ():
        name = _column_name(item)
        if name is None or name not in public:
            shown = item.sql()
            keys = ", ".join(public[k][0] for k in public) or "none are declared"
            raise UnsupportedQuery(f"GROUP BY {shown} is not allowed in privacy mode: only the declared public "
                                   f"keys of {key} ({keys}) may group")
        if name not in groups:
            groups.append(name)

    projections: list[exp.Expr] = []
    mechanisms: list[tuple[str, str, float, str]] = []  # (exact column, kind, sensitivity, described)
    released: list[tuple[str, str, tuple[str, ...], tuple[Any, ...], tuple[float, float] | None]] = []
    k = declared.max_rows_per_unit

    def mechanism(kind: str, value: exp.Expr, sensitivity: float, described: str) -> str:
        exact = f"__fm_m{len(mechanisms)}"
        projections.append(exp.alias_(value, exact))
        mechanisms.append((exact, kind, sensitivity, described))
        return exact

    group_columns: dict[str, str] = {}
    for index, name in enumerate(groups):
        exact = f"__fm_k{index}"
        projections.append(exp.alias_(column(public[name][0]), exact))
        group_columns[name] = exact

    for index, projection in enumerate(select.expressions):
        value = projection.this if isinstance(projection, exp.Alias) else projection
        out = written[index] if written is not None and index < len(written) else projection.alias_or_name
        name = _column_name(value)
        if isinstance(value, exp.Star) or (isinstance(value, exp.Column) and value.is_star):
            raise _refuse("selecting rows (SELECT *)")
        if name is not None:
            if name not in group_columns:
                raise _refuse(f"selecting the column {value.sql()} outside GROUP BY (a row-level result)")
            released.append((out, "key", (group_columns[name],), tuple(public[name][1]), None))
        elif isinstance(value, exp.Count):
            argument = value.this
            if isinstance(argument, exp.Distinct) or value.find(exp.Distinct) is not None:
                raise _refuse("COUNT(DISTINCT ...)")
            if isinstance(argument, exp.Star) or argument is None:
                exact = mechanism("count", exp.Count(this=exp.Star()), count_sensitivity(k), "COUNT(*)")
            elif _column_name(argument) is not None:
                exact = mechanism("count", exp.Count(this=column(argument.name)), count_sensitivity(k),
                                  f"COUNT({argument.name})")
            elif (other := _joined_column(argument)) is not None:   # each privacy row meets one row at most
                exact = mechanism("count", exp.Count(this=other), count_sensitivity(k), f"COUNT({other.sql()})")
            else:
                raise _refuse(f"COUNT over an expression ({value.sql()})")
            released.append((out, "count", (exact,), (), None))
        elif isinstance(value, (exp.Sum, exp.Avg)):
            argument = value.this
            target = _column_name(argument)
            if target is None and _joined_column(argument) is not None:
                raise UnsupportedQuery(f"{value.key.upper()} of the joined table's column {argument.sql()} is not "
                                       "allowed in privacy mode: only the privacy table's bounded columns are summed")
            if target is None:
                raise _refuse(f"{value.key.upper()} over an expression ({value.sql()})")
            if target not in bounds:
                listed = ", ".join(bounds[b][0] for b in bounds) or "none are declared"
                raise UnsupportedQuery(f"{value.key.upper()}({argument.name}) is not allowed in privacy mode: the "
                                       f"column has no declared bounds (bounded columns of {key}: {listed})")
            original, (low, high) = bounds[target]
            clamped = exp.Cast(this=_clamp(column(original), low, high), to=exp.DataType.build("DOUBLE"))
            total = mechanism("sum", exp.Sum(this=clamped), sum_sensitivity(k, low, high), f"SUM({original})")
            if isinstance(value, exp.Sum):
                released.append((out, "sum", (total,), (), None))
            else:
                count = mechanism("count", exp.Count(this=column(original)), count_sensitivity(k),
                                  f"COUNT({original}) for AVG({original})")
                released.append((out, "avg", (total, count), (), (low, high)))
        elif isinstance(value, (exp.Min, exp.Max)):
            raise _refuse(f"{value.key.upper()} (it releases one unit's value)")
        elif isinstance(value, exp.AggFunc):
            raise _refuse(f"the aggregate {value.sql()}")
        else:
            raise _refuse(f"the result expression {value.sql()}")
    if not mechanisms:
        raise _refuse("a query without an aggregate")

    order = _order(select, released)
    limit = _limit(select)
    epsilon = privacy.epsilon_per_query
    share = epsilon / len(mechanisms)

    # The bounded read: at most k rows per unit, among the rows the WHERE keeps.
    inner = exp.Select(expressions=[
        exp.Column(this=exp.Star(), table=exp.to_identifier(alias)),
        exp.alias_(exp.Window(this=exp.RowNumber(), partition_by=[column(declared.unit)]), RANK),
    ]).from_(table.copy(), copy=False)
    where = select.args.get("where")
    bound: exp.Expr = exp.LTE(this=column(RANK), expression=exp.Literal.number(k))
    if where is not None and joined is None:
        inner.set("where", where.copy())   # before the bound: it selects among the rows asked about
    elif where is not None:
        bound = exp.and_(exp.paren(where.this.copy()), bound)   # it may name the joined table: after the bound
    bounded = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias)))
    table.replace(bounded)
    if joined is not None:
        _deduplicate(select, *joined)
    select.set("expressions", projections)
    select.set("where", exp.Where(this=bound))
    select.set("order", None)
    select.set("limit", None)
    if group is not None:
        select.set("group", exp.Group(expressions=[column(public[name][0]) for name in groups]))
    return PrivacyRelease(
        product=product, table=key, epsilon=epsilon, budget=privacy.budget_epsilon, per=privacy.per,
        columns=tuple(ReleasedColumn(name=n, kind=kind, sources=s, values=v, bounds=b)
                      for n, kind, s, v, b in released),
        mechanisms=tuple(Mechanism(column=c, kind=kind, sensitivity=s, epsilon=share, described=d)
                         for c, kind, s, d in mechanisms),
        order=order, limit=limit,
    )


def _deduplicate(select: exp.Select, other: exp.Table, key: str) -> None:
    """Keep one row per key of the joined table: its primary key may be declared, not enforced, and
    a duplicate would let one privacy row count twice."""
    alias = other.alias_or_name

    def column(name: str) -> exp.Column:
        return exp.column(exp.to_identifier(name), table=exp.to_identifier(alias))

    inner = exp.Select(expressions=[
        exp.Column(this=exp.Star(), table=exp.to_identifier(alias)),
        exp.alias_(exp.Window(this=exp.RowNumber(), partition_by=[column(key)]), DUPLICATE),
    ]).from_(other.copy(), copy=False)
    other.replace(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    join = select.args["joins"][0]
    join.set("on", exp.and_(exp.paren(join.args["on"].copy()), exp.EQ(this=column(DUPLICATE),
                                                                        expression=exp.Literal.number(1))))


def _clamp(value: exp.Expr, low: float, high: float) -> exp.Expr:
    """CASE, not GREATEST/LEAST: those skip NULLs in PostgreSQL and DuckDB, which would turn a
    missing value into a bound."""
    def number(x: float) -> exp.Expr:
        return exp.Literal.number(int(x) if x.is_integer() else x)

    return exp.Case(ifs=[exp.If(this=exp.LT(this=value.copy(), expression=number(low)), true=number(low)),
                         exp.If(this=exp.GT(this=value.copy(), expression=number(high)), true=number(high))],
                    default=value.copy())


def _order(select: exp.Select, released: list[tuple[str, str, tuple[str, ...], tuple[Any, ...],
                                                    tuple[float, float] | None]]) -> tuple[tuple[int, bool], ...]:
    order = select.args.get("order")
    result: list[tuple[int, bool]] = []
    names = [name.lower() for name, *_ in released]
    for item in order.expressions if order is not None else ():
        target = item.this
        index: int | None = None
        if isinstance(target, exp.Literal) and target.is_int:
            index = int(target.name) - 1
            index = index if 0 <= index < len(names) else None
        elif isinstance(target, exp.Column) and target.name.lower() in names:
            index = names.index(target.name.lower())
        if index is None:
            raise _refuse(f"ORDER BY {target.sql()} (only result columns, by name or position)")
        result.append((index, bool(item.args.get("desc"))))
    return tuple(result)


def _limit(select: exp.Select) -> int | None:
    limit = select.args.get("limit")
    if limit is None:
        return None
    value = limit.expression
    if not (isinstance(value, exp.Literal) and value.is_int):
        raise _refuse("a LIMIT that is not a whole number")
    return int(value.name)
