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

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

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


_ABSENT, _EMPTY, _PRESENT = "absent", "empty", "present"   # what arrived for one filter


@dataclass(frozen=True)
class _Hole:
    """Where one literal filter's condition goes in a template, and the probe column it tests."""

    slot: int
    column: exp.Expr


@dataclass(frozen=True)
class _Template:
    """A keyed statement rendered once for one pattern of arrivals (absent/empty/present per filter).

    ``parts`` are the text around the holes, in order: the statement is
    ``parts[0] + condition(holes[0]) + parts[1] + ...``. Key-table statements have no holes: their
    text does not depend on the keys at all. ``parts`` is None when the markers could not be found
    exactly once in the rendering; such a pattern is rendered whole every time.
    """

    parts: tuple[str, ...] | None
    holes: tuple[_Hole, ...]
    key_tables: tuple[str | None, ...]   # per filter: the name of its key table, if it has one


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
    # Renderings per pattern of arrivals, made on first use. A probe waits for its keys on the
    # query's critical path, and copying and rendering a whole fragment there cost 1-9 ms per
    # probe (TPC-H q02: 460 literals into a three-table SQLite join); with a template only the
    # conditions are rendered. A memo of a pure function of the fields: the value never changes.
    _templates: dict[tuple[str, ...], _Template] = field(default_factory=dict, compare=False, repr=False)

    @property
    def filters(self) -> tuple[KeyFilter, ...]:
        return tuple(slot.key_filter for slot in self.slots)

    def statement(self, keys: Sequence[pa.Array | None], *, max_literal_keys: int) -> KeyedStatement:
        """The fragment with ``keys[i]`` (distinct, non-null) for filter i; None: none arrived."""
        if self.delivery not in (KeyDelivery.KEY_TABLE, KeyDelivery.LITERALS) or all(k is None for k in keys):
            return KeyedStatement(self.sql, {}, keyed=False)
        limit = max(max_literal_keys, self.literal_keys)
        pattern = tuple(_ABSENT if values is None else _EMPTY if len(values) == 0 else _PRESENT for values in keys)
        template = self._templates.get(pattern)
        if template is None:  # two threads may both render it: the same value either way
            template = self._templates.setdefault(pattern, self._template(pattern))
        key_tables = {name: pa.table({"key": values}) for name, values in zip(template.key_tables, keys, strict=True)
                      if name is not None and values is not None}
        if template.parts is None:
            tree, _, _ = self._keyed_tree(pattern, lambda hole: self._condition(hole, keys, limit))
            return KeyedStatement(render(tree, self.dialect, owned=True), key_tables, keyed=True)
        pieces = [template.parts[0]]
        for hole, part in zip(template.holes, template.parts[1:], strict=True):
            pieces += [render(self._condition(hole, keys, limit), self.dialect, owned=True), part]
        return KeyedStatement("".join(pieces), key_tables, keyed=True)

    def _condition(self, hole: _Hole, keys: Sequence[pa.Array | None], limit: int) -> exp.Expr:
        """The literal condition of one filter on its (present, non-empty) keys."""
        values = keys[hole.slot]
        assert values is not None
        column = hole.column.copy()
        key_filter = self.slots[hole.slot].key_filter
        if self.index_driven and not key_filter.probe_clustered and _weak(len(values), key_filter.probe_distinct):
            # An expression, not the bare column: the engine may not drive its join order
            # from a handful of keys on what is likely a low-cardinality column.
            column = exp.Coalesce(this=column, expressions=[exp.Null()])
        return _literal_condition(column, values, limit)

    def _template(self, pattern: tuple[str, ...]) -> _Template:
        """Render the keyed fragment once for ``pattern``, a unique marker where each condition goes."""
        token = secrets.token_hex(8)

        def marker(hole: _Hole) -> exp.Expr:
            return exp.column(f"__flightmesh_keys_{hole.slot}_{token}", quoted=True)

        tree, holes, key_tables = self._keyed_tree(pattern, marker)
        text = render(tree, self.dialect, owned=True)
        found = []
        for hole in holes:
            spelled = render(marker(hole), self.dialect, owned=True)
            if text.count(spelled) != 1:
                return _Template(None, tuple(holes), key_tables)
            found.append((text.index(spelled), len(spelled), hole))
        found.sort(key=lambda item: item[0])
        parts, position = [], 0
        for at, length, _ in found:
            parts.append(text[position:at])
            position = at + length
        parts.append(text[position:])
        return _Template(tuple(parts), tuple(hole for _, _, hole in found), key_tables)

    def _keyed_tree(self, pattern: tuple[str, ...], literal_condition: Callable[[_Hole], exp.Expr],
                    ) -> tuple[exp.Query, list[_Hole], tuple[str | None, ...]]:
        """A copy of the fragment with each arrived filter's condition in its place.

        Key tables are joined in by name; a literal filter's condition is ``literal_condition``
        of its hole (a marker for a template, the IN-list itself otherwise).
        """
        tree = self.tree.copy()
        targets = [(_follow(tree, slot.path), slot) for slot in self.slots]
        outer_conditions: list[exp.Expr] = []
        outer_joins: list[exp.Join] = []
        holes: list[_Hole] = []
        key_tables: list[str | None] = []
        for index, ((select, slot), state) in enumerate(zip(targets, pattern, strict=True)):
            key_tables.append(None)
            if state == _ABSENT:
                continue
            inner = _column(select, slot.projection) if select is not None else None
            column: exp.Expr = inner.copy() if inner is not None else exp.column(
                slot.key_filter.probe_column, table="keyed", quoted=True)
            if state == _EMPTY:
                condition: exp.Expr = exp.false()
            elif self.delivery == KeyDelivery.KEY_TABLE:
                # A join with the (distinct) keys, not IN (SELECT ...): DuckDB plans an IN-subquery
                # together with any EXISTS in the fragment, and can pick a plan quadratic in size.
                count = sum(name is not None for name in key_tables)
                name = f"__keys_{self.fragment}_{count}"
                key_tables[index] = name
                alias = f"__k{count}"
                # CROSS JOIN plus an equality in WHERE: the engine's join-order optimizer places
                # it freely (an ON after a comma list would bind to the last table only).
                join = exp.Join(this=exp.Table(this=exp.to_identifier(name, quoted=True),
                                               alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))),
                                kind="CROSS")
                condition = exp.EQ(this=column, expression=exp.column("key", table=alias, quoted=True))
                (select.append("joins", join) if select is not None else outer_joins.append(join))
            else:
                hole = _Hole(index, column)
                holes.append(hole)
                condition = literal_condition(hole)
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
        return tree, holes, tuple(key_tables)


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
