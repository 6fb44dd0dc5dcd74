"""Where a probe fragment takes its dynamic filters' keys, prepared once per bound plan.

A key filter restricts a probe fragment to the join keys its build fragment produced. Where the
condition goes is a property of the fragment's tree, not of the keys, so it is found when the
plan is bound (``prepare_key_slots``): inside the fragment, in the innermost SELECT whose output
is the probe column read directly (engines do not always push a filter past subqueries: DuckDB
does not past a decorrelated EXISTS), or around it (``SELECT * FROM (fragment) AS keyed WHERE
...``) when the column is an aggregate, a window, or under a LIMIT or set operation.

At run time the executor only supplies the key arrays (``KeySlots.statement``): the keys become
a registered key table joined in (embedded engines), an IN-list of literals up to
``dynamic_filter_max_literal_keys``, or a BETWEEN range above that. Literals are rendered by the
engine's sqlglot generator, like every other statement an engine runs (DESIGN.md §6).

    slots = prepare_key_slots(fragment, filters, connector.capabilities)
    slots.statement([keys], max_literal_keys=1000).sql
    -> SELECT ... FROM "orders" AS "o" WHERE ... AND "o"."customer_id" IN (3, 5, 8)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from flightmesh.connectors import Capabilities, KeyDelivery

from .plan import Fragment, KeyFilter
from .render import render
from .statement import literal

__all__ = ["KeySlots", "KeyedStatement", "prepare_key_slots"]

_WEAK_KEYS = 64          # without statistics: this few keys usually come from a small dimension
_WEAK_SHARE = 0.1        # with statistics: keys covering more than this share of values are weak

# A step from a node to one of its children: (arg name, index in a list arg or None).
_Step = tuple[str, int | None]


@dataclass(frozen=True)
class _Slot:
    """One key filter's place: the path to its SELECT (None: around the fragment), its column."""

    key_filter: KeyFilter
    path: tuple[_Step, ...] | None
    projection: int = 0        # which projection of that SELECT reads the probe column


@dataclass(frozen=True)
class KeyedStatement:
    sql: str
    key_tables: Mapping[str, pa.Table]
    keyed: bool                # False: no filter took effect, ``sql`` is the fragment's own


@dataclass(frozen=True)
class KeySlots:
    """The dynamic filters of one probe fragment, in the order of ``filters``."""

    fragment: str
    sql: str
    tree: exp.Query            # never modified: each statement works on a copy
    dialect: str
    delivery: KeyDelivery
    index_driven: bool
    slots: tuple[_Slot, ...]
    literal_keys: int = 0      # Capabilities.literal_keys: the engine's own floor for the literal limit

    @property
    def filters(self) -> tuple[KeyFilter, ...]:
        return tuple(slot.key_filter for slot in self.slots)

    def statement(self, keys: Sequence[pa.Array | None], *, max_literal_keys: int) -> KeyedStatement:
        """The fragment with ``keys[i]`` (distinct, non-null) for filter i; None: none arrived."""
        if self.delivery not in (KeyDelivery.KEY_TABLE, KeyDelivery.LITERALS) or all(k is None for k in keys):
            return KeyedStatement(self.sql, {}, keyed=False)
        max_literal_keys = max(max_literal_keys, self.literal_keys)
        tree = self.tree.copy()
        targets = [(_follow(tree, slot.path), slot) for slot in self.slots]
        outer_conditions: list[exp.Expr] = []
        outer_joins: list[exp.Join] = []
        key_tables: dict[str, pa.Table] = {}
        for (select, slot), values in zip(targets, keys, strict=True):
            if values is None:
                continue
            inner = _column(select, slot.projection) if select is not None else None
            column: exp.Expr = inner.copy() if inner is not None else exp.column(
                slot.key_filter.probe_column, table="keyed", quoted=True)
            if len(values) == 0:
                condition: exp.Expr = exp.false()
            elif self.delivery == KeyDelivery.KEY_TABLE:
                # A join with the (distinct) keys, not IN (SELECT ...): DuckDB plans an IN-subquery
                # together with any EXISTS in the fragment, and can pick a plan quadratic in size.
                name = f"__keys_{self.fragment}_{len(key_tables)}"
                key_tables[name] = pa.table({"key": values})
                alias = f"__k{len(key_tables) - 1}"
                # CROSS JOIN plus an equality in WHERE: the engine's join-order optimizer places
                # it freely (an ON after a comma list would bind to the last table only).
                join = exp.Join(this=exp.Table(this=exp.to_identifier(name, quoted=True),
                                               alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))),
                                kind="CROSS")
                condition = exp.EQ(this=column, expression=exp.column("key", table=alias, quoted=True))
                (select.append("joins", join) if select is not None else outer_joins.append(join))
            else:
                if self.index_driven and not slot.key_filter.probe_clustered \
                        and _weak(len(values), slot.key_filter.probe_distinct):
                    # An expression, not the bare column: the engine may not drive its join order
                    # from a handful of keys on what is likely a low-cardinality column.
                    column = exp.Coalesce(this=column, expressions=[exp.Null()])
                condition = _literal_condition(column, values, max_literal_keys)
            if select is not None:
                where = select.args.get("where")
                combined = exp.and_(where.this, condition, copy=False) if where else condition
                select.set("where", exp.Where(this=combined))
            else:
                outer_conditions.append(condition)
        if outer_conditions or outer_joins:
            wrapped = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("keyed"))).from_(
                exp.Subquery(this=tree, alias=exp.TableAlias(this=exp.to_identifier("keyed"))))
            for join in outer_joins:
                wrapped.append("joins", join)
            if outer_conditions:
                wrapped = wrapped.where(exp.and_(*outer_conditions, copy=False), copy=False)
            tree = wrapped
        return KeyedStatement(render(tree, self.dialect), key_tables, keyed=True)


def prepare_key_slots(fragment: Fragment, filters: Sequence[KeyFilter], capabilities: Capabilities) -> KeySlots:
    """Where each of ``filters`` (all probing ``fragment``) puts its condition."""
    slots = []
    for key_filter in filters:
        target = _inner_column(fragment.tree, key_filter.probe_column)
        if target is None:
            slots.append(_Slot(key_filter, None))
        else:
            select, projection = target
            slots.append(_Slot(key_filter, _path_to(select, fragment.tree), projection))
    return KeySlots(fragment=fragment.name, sql=fragment.sql, tree=fragment.tree, dialect=fragment.dialect,
                    delivery=capabilities.key_delivery, index_driven=capabilities.index_driven,
                    slots=tuple(slots), literal_keys=capabilities.literal_keys)


def _weak(keys: int, distinct: int | None) -> bool:
    """Would an index-driven engine do better to ignore this filter when choosing its plan?"""
    if distinct is not None:
        return keys > _WEAK_SHARE * distinct
    return keys <= _WEAK_KEYS


def _literal_condition(column: exp.Expr, keys: pa.Array, max_literal_keys: int) -> exp.Expr:
    if len(keys) <= max_literal_keys:
        return exp.In(this=column, expressions=[literal(v) for v in keys.to_pylist()])
    bounds = pc.min_max(keys)
    return exp.Between(this=column, low=literal(bounds["min"].as_py()), high=literal(bounds["max"].as_py()))


def _inner_column(tree: exp.Query, output: str) -> tuple[exp.Select, int] | None:
    """Where a filter on output ``output`` can go inside the fragment: (SELECT, its projection).

    A plain SELECT (no LIMIT, window, or set operation) whose output is a column it reads
    directly takes the filter in its own WHERE; with GROUP BY, only for a grouping column. When
    that column comes from a derived table, the filter goes down into it, as deep as it can.
    None: the caller wraps.
    """
    if not isinstance(tree, exp.Select) or tree.args.get("limit") or tree.args.get("offset"):
        return None
    if any(isinstance(node, exp.Window) for node in tree.expressions for node in node.walk()):
        return None
    for index, projection in enumerate(tree.expressions):
        if projection.alias_or_name != output:
            continue
        column = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(column, exp.Column):
            return None
        group = tree.args.get("group")
        if group is not None and not any(column == key for key in group.expressions):
            return None
        derived = next((item for item in _from_items(tree) if isinstance(item, exp.Subquery)
                        and item.alias_or_name == column.table), None)
        if derived is not None and isinstance(derived.this, exp.Query):
            deeper = _inner_column(derived.this, column.name)
            if deeper is not None:
                return deeper
        return tree, index
    return None


def _column(select: exp.Select, projection: int) -> exp.Column | None:
    item = select.expressions[projection]
    column = item.this if isinstance(item, exp.Alias) else item
    return column if isinstance(column, exp.Column) else None


def _from_items(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    return ([from_.this] if from_ is not None else []) + [join.this for join in select.args.get("joins") or []]


def _path_to(node: exp.Expr, root: exp.Expr) -> tuple[_Step, ...]:
    """The steps from ``root`` down to ``node``, so the same place is found in a copy."""
    steps: list[_Step] = []
    while node is not root:
        parent = node.parent
        assert parent is not None and node.arg_key is not None
        steps.append((node.arg_key, node.index))
        node = parent
    return tuple(reversed(steps))


def _follow(root: exp.Expr, path: tuple[_Step, ...] | None) -> exp.Select | None:
    if path is None:
        return None
    node = root
    for key, index in path:
        child = node.args[key]
        node = child[index] if index is not None else child
    assert isinstance(node, exp.Select)
    return node
