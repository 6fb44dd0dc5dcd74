"""The split: cut a resolved, qualified query into engine fragments and a DuckDB residual.

The rule, after datafusion-federation: find the largest subtrees whose tables all live behind
one engine identity and that engine takes whole (``capability.takes``); each becomes a fragment.
Where a SELECT spans engines, its inner-join core is grouped by identity into connected
components (joined by predicates, including equalities implied through other tables); each
component becomes one fragment carrying its own predicates and only the columns the rest of the
query reads. What is left — cross-engine joins, outer joins, aggregates over them, subqueries
that span engines — is the residual, which keeps the user's query shape and reads fragments by
name. Outer joins are respected: nothing is pushed into the null-supplying side that would
change which rows get NULL-extended. Samples likewise: a sampled table (``TABLESAMPLE``) is a
fragment of its own with no predicate pushed into it, its sample drawn in the residual, and
under ``USING SAMPLE`` the WHERE stays above the joined rows it samples. Constructs only some
engines compute as DuckDB does (``planner/constructs.py``) are offered only to those engines.

Example (orders in DuckDB, customer in PostgreSQL)::

    SELECT c.name, sum(o.total) FROM sales.orders o JOIN crm.customer c ON o.cust = c.id
    WHERE o.day > DATE '2024-01-01' AND c.region = 'EMEA' GROUP BY c.name

    f0 (duckdb):   SELECT o.cust, o.total FROM orders AS o WHERE o.day > DATE '2024-01-01'
    f1 (postgres): SELECT c.name, c.id FROM customer AS c WHERE c.region = 'EMEA'
    residual:      SELECT f1.name, SUM(f0.total) FROM f0 JOIN f1 ON f0.cust = f1.id GROUP BY f1.name
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from flightmesh.connectors import Connector
from flightmesh.mesh import CatalogTable, UnsupportedQuery

from .binding import Binding
from .capability import takes
from .constructs import held_back, is_sampled
from .grouping_place import groups_in_merge
from .resolve import Resolution, table_key
from .treecopy import copy_tree

__all__ = ["FRAGMENT_KEY", "IMPLIED_KEY", "Engines", "FragmentDraft", "Identity", "Placement", "SelectRule",
           "SelectScope", "conjuncts", "fragment_reference", "fresh_name", "offered", "within"]

FRAGMENT_KEY = "flightmesh.fragment"  # meta on residual exp.Table nodes that read a fragment
# meta on a conjunct a rule added only so that placement can push it into a fragment: implied
# by the SELECT's own predicates, it is dropped rather than kept in the residual.
IMPLIED_KEY = "flightmesh.implied"

_OUTER_SIDES = ("LEFT", "RIGHT", "FULL")
_TINY_ROWS = 100          # loose_dimensions: a dimension this small is joined in the merge ...
_LARGE_ROWS = 100_000     # ... when its one partner inside an index-driven engine is this large

Identity = tuple[str, Connector]  # an engine's identity and its connector


@dataclass
class FragmentDraft:
    """A subtree bound for one engine, still in the mesh's canonical form."""

    name: str
    connector: Connector
    tree: exp.Query
    tables: list[CatalogTable] = field(default_factory=list)

    @property
    def products(self) -> list[str]:
        return sorted({table.product for table in self.tables})


@dataclass(frozen=True)
class SelectScope:
    """What a rule over one SELECT may know about it, just before placement cuts it."""

    binding: Binding                            # column -> the FROM item it reads
    core: tuple[exp.Expr, ...]                  # the inner-join prefix of the FROM items
    leaf: Mapping[int, Identity | None]         # id(core item) -> its engine, when one takes it whole
    owner: Mapping[int, exp.Expr]               # id(FROM item) -> the item
    protect_where: bool                         # a RIGHT/FULL join follows: WHERE stays above the core

    def pool(self, select: exp.Select) -> list[exp.Expr]:
        """The predicates every row of the core satisfies (not those a rule implied)."""
        joins = (select.args.get("joins") or [])[: len(self.core) - 1]
        found = [] if self.protect_where else _conjuncts(select.args.get("where"))
        found += [c for join in joins for c in _conjuncts(join.args.get("on"))]
        return [c for c in found if not c.meta.get(IMPLIED_KEY)]

    def references(self, conjunct: exp.Expr) -> list[exp.Expr]:
        """The FROM items ``conjunct`` reads, in a stable order."""
        found: dict[int, exp.Expr] = {}
        for column in conjunct.find_all(exp.Column):
            source = self.binding.source_of(column)
            if source is not None and id(source) in self.owner:
                found.setdefault(id(source), source)
        return list(found.values())

    def bound_copy(self, node: exp.Expr) -> exp.Expr:
        """A copy of ``node`` whose columns read what the original's read.

        The binding is an index of the run's tree; entries for new nodes only extend it.
        """
        copy = copy_tree(node)
        for original, column in zip(node.find_all(exp.Column), copy.find_all(exp.Column), strict=True):
            source = self.binding.source_of(original)
            if source is not None:
                self.binding.bind(column, source)
        return copy

    def attach(self, select: exp.Select, conjuncts: list[exp.Expr]) -> exp.Select:
        """Add implied ``conjuncts`` where the predicates they follow from stand; return ``select``."""
        if not conjuncts:
            return select
        for conjunct in conjuncts:
            conjunct.meta[IMPLIED_KEY] = True
        wrapped = [exp.paren(c, copy=False) if isinstance(c, exp.Connector) else c for c in conjuncts]
        if self.protect_where:
            join = (select.args.get("joins") or [])[len(self.core) - 2]
            join.set("on", exp.and_(_flat(join.args.get("on")), *wrapped, copy=False, wrap=False))
            if (join.kind or "").upper() == "CROSS":
                join.set("kind", None)
        else:
            where = select.args.get("where")
            existing = _flat(where.this) if where is not None else None
            select.set("where", exp.Where(this=exp.and_(existing, *wrapped, copy=False, wrap=False)))
        return select


SelectRule = Callable[[exp.Select, SelectScope], exp.Select]


def fresh_name(taken: set[str], start: int) -> str:
    """The first ``f<n>`` from ``start`` not in ``taken`` (added to it)."""
    for index in itertools.count(start):
        name = f"f{index}"
        if name not in taken:
            taken.add(name)
            return name
    raise AssertionError("unreachable")


def fragment_reference(name: str) -> exp.Table:
    """How the residual reads fragment ``name``."""
    node = exp.Table(this=exp.to_identifier(name, quoted=True),
                     alias=exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
    node.meta[FRAGMENT_KEY] = name
    return node


class Engines:
    """Which engine each subtree of one bound tree lives on, and what those engines take."""

    def __init__(self, resolution: Resolution, connector_for: Callable[[CatalogTable], Connector],
                 binding: Binding) -> None:
        self.resolution = resolution
        self.connector_for = connector_for
        self.binding = binding

    def identity(self, tree: exp.Expr) -> Identity | None:
        """The one engine behind every table of ``tree``, or None (several, or none at all).

        A recursive CTE's references to itself read no engine: they go wherever its definition,
        inside ``tree``, goes.
        """
        found: Identity | None = None
        recursive: set[str] | None = None  # looked for only when a table is no catalog table
        for node in tree.find_all(exp.Table):
            table = self.resolution.of(node)
            if table is None and not node.db:
                recursive = _recursive_names(tree) if recursive is None else recursive
                if node.name.lower() in recursive:
                    continue
            if table is None:
                return None
            connector = self.connector_for(table)
            identity = connector.identity()
            if found is None:
                found = (identity, connector)
            elif found[0] != identity:
                return None
        return found

    def whole(self, tree: exp.Expr) -> bool:
        """Can ``tree`` go to one engine as it is (no outer references, engine takes it)?"""
        found = self.identity(tree)
        if found is None or self.external_columns(tree):
            return False
        # An engine whose grouping costs more than shipping its rows (planner/grouping_place.py)
        # gets the rows' part only: placement cuts the query, the merge groups.
        return offered(found[1], tree) and not groups_in_merge(tree, found[1].capabilities, self.resolution)

    def external_columns(self, tree: exp.Expr) -> list[exp.Column]:
        """Columns inside ``tree`` that read a source outside it (correlation)."""
        outside = []
        for column in tree.find_all(exp.Column):
            source = self.binding.source_of(column)
            if source is not None and not within(source, tree):
                outside.append(column)
        return outside

    def leaf_identity(self, item: exp.Expr) -> Identity | None:
        if isinstance(item, exp.Table) and table_key(item) is not None:
            return self.identity(item)
        if isinstance(item, exp.Subquery) and isinstance(item.this, exp.Query) and self.whole(item.this):
            return self.identity(item.this)
        return None

    def draft(self, query: exp.Query, name: str) -> FragmentDraft:
        """A whole query for one engine; its projections are its output."""
        found = self.identity(query)
        assert found is not None
        return FragmentDraft(name=name, connector=found[1], tree=query, tables=self.tables_in([query]))

    def tables_in(self, nodes: Iterable[exp.Expr]) -> list[CatalogTable]:
        tables: list[CatalogTable] = []
        for node in nodes:
            for table_node in node.find_all(exp.Table):
                table = self.resolution.of(table_node)
                if table is not None and table not in tables:
                    tables.append(table)
        return tables

    def pushable_into(self, conjunct: exp.Expr, items: Iterable[exp.Expr],
                      owner: Mapping[int, exp.Expr], identity: Identity) -> bool:
        """Can ``conjunct`` run inside a fragment made of ``items`` on ``identity``?"""
        allowed = {id(item) for item in items}
        for column in conjunct.find_all(exp.Column):
            source = self.binding.source_of(column)
            if source is None:
                return False
            if id(source) in owner:
                if id(source) not in allowed:
                    return False
            elif not within(source, conjunct):
                return False  # reads an outer query: correlation stays in the residual
        for table in conjunct.find_all(exp.Table):
            found = self.identity(table)
            if found is None or found[0] != identity[0]:
                return False
        return offered(identity[1], conjunct)


@dataclass
class _Shape:
    """One SELECT being cut: its core, its tail of other joins, and the predicates of each."""

    scope: SelectScope
    joins: list[exp.Join]
    where_pool: list[exp.Expr]
    on_pool: list[exp.Expr]
    implied: list[exp.Expr]

    @property
    def tail(self) -> list[exp.Join]:
        return self.joins[len(self.scope.core) - 1:]


class Placement(Engines):
    """Cuts a query (CTEs already shared or inlined) into fragments and its residual, in place."""

    def __init__(self, resolution: Resolution, connector_for: Callable[[CatalogTable], Connector],
                 binding: Binding, fragments: list[FragmentDraft], names: set[str],
                 select_rules: tuple[SelectRule, ...]) -> None:
        super().__init__(resolution, connector_for, binding)
        self.fragments = fragments
        self.names = names
        self.select_rules = select_rules
        # source node id -> (fragment name, {column name (lowercase) -> fragment output name})
        self.moved: dict[int, tuple[str, dict[str, str]]] = {}
        self._pending: list[tuple[FragmentDraft, list[exp.Expr]]] = []

    def run(self, tree: exp.Query) -> exp.Query:
        residual = self.place(tree)
        assert isinstance(residual, exp.Query)
        self.rewrite_columns(residual)
        return residual

    def new_name(self) -> str:
        return fresh_name(self.names, len(self.fragments))

    def place(self, query: exp.Expr) -> exp.Expr:
        """Turn ``query`` into its residual form in place, cutting fragments out of it.

        Returns what now stands where ``query`` stood (``query`` itself unless it became a
        whole fragment).
        """
        if isinstance(query, exp.Subquery):
            self.place(query.this)
            return query
        if isinstance(query, exp.Query) and self.whole(query):
            draft = self.draft(query, self.new_name())
            replacement = exp.select("*").from_(fragment_reference(draft.name))
            if query.parent is not None:
                query.replace(replacement)
            _orphan(query)
            self.fragments.append(draft)
            return replacement
        if isinstance(query, exp.SetOperation):
            self.place(query.this)
            self.place(query.expression)
            return query
        if isinstance(query, exp.Select):
            self.place_select(query)
        return query

    def place_select(self, select: exp.Select) -> None:
        items = _from_items(select)
        if any(_nested_join(item) for item in items):
            raise UnsupportedQuery("a parenthesized join tree is not supported here; write the joins without "
                                   "parentheses")
        scope = self.scope_of(select, items)
        for rule in self.select_rules:
            select = rule(select, scope)
        if not items:
            self.place_nested(select)
            return
        for item in items:
            if isinstance(item, exp.Subquery) and isinstance(item.this, exp.Query) and not self.whole(item.this):
                self.place(item.this)
        shape = self.shape_of(select, scope)
        units, item_unit, pushed = self.core_units(shape)
        tail_units, tail_on = self.tail_units(shape)
        self.finish_projections(select)
        self.rebuild_from(select, shape, units, item_unit, pushed, tail_units, tail_on)
        self.place_nested(select)

    def scope_of(self, select: exp.Select, items: list[exp.Expr]) -> SelectScope:
        joins: list[exp.Join] = list(select.args.get("joins") or [])
        core_size = 1 + next((i for i, join in enumerate(joins) if not _is_inner(join)), len(joins))
        core = tuple(items[:core_size])
        protect_where = any((join.side or "").upper() in ("RIGHT", "FULL") for join in joins[core_size - 1:])
        # USING SAMPLE draws from the joined rows before WHERE filters them: WHERE stays above.
        protect_where = protect_where or is_sampled(select)
        return SelectScope(binding=self.binding, core=core, leaf={id(item): self.leaf_identity(item) for item in core},
                           owner={id(item): item for item in items}, protect_where=protect_where)

    def shape_of(self, select: exp.Select, scope: SelectScope) -> _Shape:
        """The SELECT's predicates by where they stand; implied ones are taken out of the tree."""
        joins: list[exp.Join] = list(select.args.get("joins") or [])
        where = _conjuncts(select.args.get("where"))
        on = [c for join in joins[: len(scope.core) - 1] for c in _conjuncts(join.args.get("on"))]
        implied = [c for c in where + on if c.meta.get(IMPLIED_KEY)]
        for conjunct in implied:
            _detach(conjunct)
        return _Shape(scope, joins, [c for c in where if not c.meta.get(IMPLIED_KEY)],
                      [c for c in on if not c.meta.get(IMPLIED_KEY)], implied)

    def core_units(self, shape: _Shape) -> tuple[list[exp.Expr], dict[int, int], set[int]]:
        """One unit per component of the core: a fragment reference, or the item left as it is."""
        scope = shape.scope
        components = self.components(scope, shape.where_pool + shape.on_pool + shape.implied)
        candidates = shape.on_pool + shape.implied + ([] if scope.protect_where else shape.where_pool)
        pushed: set[int] = set()
        units: list[exp.Expr] = []
        item_unit: dict[int, int] = {}
        for component in components:
            identity = scope.leaf[id(component[0])]
            if identity is None:
                units.append(component[0])
            else:
                # A sampled item draws its rows before any predicate of the query filters them.
                mine = [] if is_sampled(component[0]) else \
                    [c for c in candidates
                     if id(c) not in pushed and self.pushable_into(c, component, scope.owner, identity)]
                pushed.update(id(c) for c in mine)
                units.append(self.component_fragment(component, mine, identity[1]))
            for item in component:
                item_unit[id(item)] = len(units) - 1
        return units, item_unit, pushed

    def tail_units(self, shape: _Shape) -> tuple[list[exp.Expr], list[list[exp.Expr]]]:
        """Each outer/semi join's item, cut into a fragment with what its ON lets it take."""
        units: list[exp.Expr] = []
        remaining: list[list[exp.Expr]] = []
        for join in shape.tail:
            if (join.args.get("method") or "").upper() == "POSITIONAL":
                raise UnsupportedQuery("POSITIONAL JOIN pairs rows by their position in the tables, which only "
                                       "holds inside one DuckDB product: join its tables there, or join on a key")
            item = join.this
            conditions = _conjuncts(join.args.get("on"))
            identity = self.leaf_identity(item)
            if identity is None:
                units.append(item)
                remaining.append(conditions)
                continue
            own: list[exp.Expr] = []
            side = (join.side or "").upper()
            # An ASOF join's ON picks the match; only the plain and LEFT joins' conditions filter the item.
            if side in ("", "LEFT") and (join.kind or "").upper() not in ("SEMI", "ANTI") and not is_sampled(item) \
                    and not join.args.get("method"):
                own = [c for c in conditions if self.pushable_into(c, [item], shape.scope.owner, identity)]
            units.append(self.component_fragment([item], own, identity[1]))
            remaining.append([c for c in conditions if not any(c is o for o in own)])
        return units, remaining

    def components(self, scope: SelectScope, pool: list[exp.Expr]) -> list[list[exp.Expr]]:
        """Group core items that share an identity and are linked by a pushable predicate."""
        parent = {id(item): id(item) for item in scope.core}

        def find(key: int) -> int:
            while parent[key] != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        # The predicates joining two or more items inside one engine, asked once for both uses.
        linked = [(conjunct, refs) for conjunct in pool
                  if len(refs := scope.references(conjunct)) >= 2 and self._links_one_engine(conjunct, refs, scope)]
        loose = self.loose_dimensions(scope, linked)
        for _, refs in linked:
            if any(id(item) in loose for item in refs):
                continue
            first = find(id(refs[0]))
            for other in refs[1:]:
                parent[find(id(other))] = first
        groups: dict[int, list[exp.Expr]] = {}
        for item in scope.core:
            groups.setdefault(find(id(item)), []).append(item)
        return list(groups.values())

    def loose_dimensions(self, scope: SelectScope, linked: list[tuple[exp.Expr, list[exp.Expr]]]) -> set[int]:
        """Core tables of an index-driven engine left out of its component: tiny dimensions.

        A dimension of at most ``_TINY_ROWS`` rows (the engine's statistics) joined by one key
        equality to one table of at least ``_LARGE_ROWS`` on the same engine is its own fragment,
        joined in the merge: inside a nested-loop engine the join costs per fact row and ships
        the dimension's columns (text, often) on every row; the merge hashes the few rows once,
        and a filter on the dimension reaches the fact as a dynamic key filter. broad.py b65's
        inventory x warehouse (5 rows, the name on each of 270,000 rows): 578 -> 382 ms read
        from MariaDB (5 runs interleaved, medians). Without statistics nothing is left out.
        ``linked``: each predicate that joins items inside one engine, with the items it reads.
        """
        links: dict[int, list[tuple[exp.Expr, exp.Expr]]] = {}
        for conjunct, refs in linked:  # (a condition across engines stays above: not linked)
            if len(refs) == 2:
                for item in refs:
                    links.setdefault(id(item), []).append((conjunct, refs[1] if item is refs[0] else refs[0]))
            elif len(refs) > 2:
                for item in refs:
                    links.setdefault(id(item), []).append((conjunct, item))  # never a simple key link
        loose: set[int] = set()
        for item in scope.core:
            identity = scope.leaf.get(id(item))
            if identity is None or not identity[1].capabilities.index_driven or is_sampled(item):
                continue
            rows = self._table_rows(item)
            found = links.get(id(item), [])
            partners = {id(other) for _, other in found}
            if rows is None or rows > _TINY_ROWS or len(found) != 1 or len(partners) != 1:
                continue
            conjunct, other = found[0]
            other_rows = self._table_rows(other)
            other_identity = scope.leaf.get(id(other))
            if other_rows is None or other_rows < _LARGE_ROWS or other_identity is None \
                    or other_identity[0] != identity[0]:
                continue
            if isinstance(conjunct, exp.EQ) and isinstance(conjunct.this, exp.Column) \
                    and isinstance(conjunct.expression, exp.Column):
                loose.add(id(item))
        return loose

    def _table_rows(self, item: exp.Expr) -> int | None:
        table = self.resolution.of(item) if isinstance(item, exp.Table) else None
        return table.statistics.rows if table is not None and table.statistics is not None else None

    def _links_one_engine(self, conjunct: exp.Expr, refs: list[exp.Expr], scope: SelectScope) -> bool:
        if any(is_sampled(item) for item in refs):
            return False  # a sampled item is a fragment of its own: the residual draws from it
        identities = [scope.leaf.get(id(item)) for item in refs]
        identity = identities[0]
        if identity is None or any(i is None or i[0] != identity[0] for i in identities):
            return False
        return self.pushable_into(conjunct, refs, scope.owner, identity)

    # -- building fragments ----------------------------------------------------------------------

    def component_fragment(self, items: list[exp.Expr], conjuncts: list[exp.Expr],
                           connector: Connector) -> exp.Table:
        """Detach ``items`` and ``conjuncts`` into one fragment; return the residual's reference."""
        name = self.new_name()
        select = exp.Select()
        sample = items[0].args.get("sample") if len(items) == 1 else None
        if sample is not None:
            sample.pop()  # drawn in the residual, from the fragment's rows (planner/constructs.py)
        for index, item in enumerate(items):
            _detach(item)
            if index == 0:
                select.set("from_", exp.From(this=item))
            else:
                select.append("joins", exp.Join(this=item))
        for conjunct in conjuncts:
            _detach(conjunct)
        if conjuncts:
            select.set("where", exp.Where(this=exp.and_(*conjuncts, copy=False)))
        draft = FragmentDraft(name=name, connector=connector, tree=select, tables=self.tables_in(items))
        self.fragments.append(draft)
        # Projection is settled once the rest of the query is known (finish_projections).
        self._pending.append((draft, items))
        reference = fragment_reference(name)
        if sample is not None:
            reference.set("sample", sample)
        return reference

    # -- the residual SELECT -----------------------------------------------------------------------

    def rebuild_from(self, select: exp.Select, shape: _Shape, units: list[exp.Expr], item_unit: dict[int, int],
                     pushed: set[int], tail_units: list[exp.Expr], tail_on: list[list[exp.Expr]]) -> None:
        leftover_on = [c for c in shape.on_pool if id(c) not in pushed and _is_original(c, shape.joins)]
        leftover_where = [c for c in shape.where_pool if id(c) not in pushed]
        new_joins, remaining_on = self._core_joins(shape, units, item_unit, leftover_on)
        if remaining_on and any((j.side or "").upper() in ("RIGHT", "FULL") for j in shape.tail):
            if len(units) != 1:  # pragma: no cover - _core_joins places them once every unit is joined
                raise UnsupportedQuery("this combination of joins across engines is not supported yet")
            # The core's ON conditions no engine took must filter the core before the RIGHT/FULL
            # join NULL-extends it, not after (in WHERE): a derived table under the core's alias.
            units[0] = _filtered(units[0], remaining_on)
            remaining_on = []
        new_joins += [_tail_join(original, unit, conditions)
                      for original, unit, conditions in zip(shape.tail, tail_units, tail_on, strict=True)]
        select.set("from_", exp.From(this=units[0]))
        select.set("joins", new_joins or None)
        conditions = leftover_where + remaining_on
        for conjunct in conditions:
            _detach(conjunct)
        select.set("where", exp.Where(this=exp.and_(*conditions, copy=False)) if conditions else None)

    def _core_joins(self, shape: _Shape, units: list[exp.Expr], item_unit: dict[int, int],
                    leftover_on: list[exp.Expr]) -> tuple[list[exp.Join], list[exp.Expr]]:
        """Join the core's units in order, each ON holding the predicates its units complete."""
        core = {id(item): item for item in shape.scope.core}
        new_joins: list[exp.Join] = []
        placed: set[int] = set()
        for index in range(1, len(units)):
            available = set(range(index + 1))
            conditions = [c for c in leftover_on if id(c) not in placed and
                          {item_unit[id(i)] for i in self._reads(c, core)} <= available]
            placed.update(id(c) for c in conditions)
            for condition in conditions:
                _detach(condition)
            join = exp.Join(this=units[index], on=exp.and_(*conditions, copy=False) if conditions else None)
            if not conditions:
                join.set("kind", "CROSS")
            new_joins.append(join)
        return new_joins, [c for c in leftover_on if id(c) not in placed]

    def _reads(self, conjunct: exp.Expr, owner: Mapping[int, exp.Expr]) -> list[exp.Expr]:
        found: dict[int, exp.Expr] = {}
        for column in conjunct.find_all(exp.Column):
            source = self.binding.source_of(column)
            if source is not None and id(source) in owner:
                found.setdefault(id(source), source)
        return list(found.values())

    def finish_projections(self, select: exp.Select) -> None:
        """Give each pending fragment the columns the rest of the query still reads."""
        pending, self._pending = self._pending, []
        for draft, items in pending:
            needed: dict[int, dict[str, exp.Column]] = {id(item): {} for item in items}
            for column in _columns_outside(select, draft.tree):
                source = self.binding.source_of(column)
                if source is not None and id(source) in needed:
                    needed[id(source)].setdefault(column.name.lower(), column)
            used: set[str] = set()
            projections: list[exp.Expr] = []
            for item in items:
                projections += self._project(draft.name, item, needed[id(item)], used)
            if not projections:
                # Nothing is read but the row count (count(*), EXISTS): one constant column.
                projections.append(exp.alias_(exp.Literal.number(1), _unique("one", used, prefix="f"), quoted=True,
                                               copy=False))
            draft.tree.set("expressions", projections)

    def _project(self, name: str, item: exp.Expr, needed: dict[str, exp.Column], used: set[str]) -> list[exp.Expr]:
        mapping: dict[str, str] = {}
        projections: list[exp.Expr] = []
        for lowered, column in needed.items():
            out = _unique(column.name, used, prefix=item.alias_or_name)
            mapping[lowered] = out
            ref = exp.column(column.name, table=item.alias_or_name, quoted=True)
            ref.type = column.type  # the same column of the same source: no annotation needed again
            self.binding.bind(ref, item)
            # ``ref`` is new and bound above: the alias wraps it itself, not a deep copy (whose
            # columns the binding would not know).
            projections.append(exp.alias_(ref, out, quoted=True, copy=False))
        self.moved[id(item)] = (name, mapping)
        return projections

    def place_nested(self, select: exp.Select) -> None:
        """Cut fragments out of subqueries the residual SELECT still holds (not derived tables)."""
        for node in list(_direct_subqueries(select)):
            if isinstance(node, exp.Subquery) and isinstance(node.parent, (exp.From, exp.Join)):
                continue
            self.place(node)

    def rewrite_columns(self, residual: exp.Expr) -> None:
        """Point every column that read a moved source at its fragment's output column."""
        for column in list(residual.find_all(exp.Column)):
            source = self.binding.source_of(column)
            if source is None or id(source) not in self.moved:
                continue
            name, mapping = self.moved[id(source)]
            out = mapping.get(column.name.lower())
            if out is None:  # pragma: no cover - finish_projections saw every column
                raise UnsupportedQuery(f"internal: column {column.name} was not carried by fragment {name}")
            column.set("this", exp.to_identifier(out, quoted=True))
            column.set("table", exp.to_identifier(name, quoted=True))


def _filtered(unit: exp.Expr, conditions: list[exp.Expr]) -> exp.Subquery:
    """``(SELECT * FROM unit WHERE conditions) AS <unit's alias>``: the same columns, fewer rows."""
    for condition in conditions:
        _detach(condition)
    alias = unit.alias_or_name
    inner = exp.Select(expressions=[exp.Star()], from_=exp.From(this=unit),
                       where=exp.Where(this=exp.and_(*conditions, copy=False)))
    return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))


def _tail_join(original: exp.Join, unit: exp.Expr, conditions: list[exp.Expr]) -> exp.Join:
    """The residual's join for an outer/semi join of the query, keeping its side and kind."""
    for condition in conditions:
        _detach(condition)
    join = exp.Join(this=unit, on=exp.and_(*conditions, copy=False) if conditions else None)
    for key in ("side", "kind", "method"):
        if original.args.get(key):
            join.set(key, original.args[key])
    if not conditions and not original.args.get("side") and not original.args.get("method"):
        join.set("kind", "CROSS")
    elif not conditions:
        join.set("on", exp.true())
    return join


# -- helpers over sqlglot trees ----------------------------------------------------------------------


def _nested_join(item: exp.Expr) -> bool:
    """A parenthesized join tree as one FROM item (``planner/nested_joins.py`` flattens or refuses
    each one at parse time; this guards the planner's own rewrites)."""
    if isinstance(item, exp.Subquery) and isinstance(item.this, exp.Table):
        item = item.this
    return isinstance(item, exp.Table) and bool(item.args.get("joins"))


def _from_items(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    items = [from_.this] if from_ is not None else []
    items += [join.this for join in select.args.get("joins") or []]
    return items


def _is_inner(join: exp.Join) -> bool:
    side = (join.side or "").upper()
    kind = (join.kind or "").upper()
    method = (join.args.get("method") or "").upper()  # DuckDB's ASOF and POSITIONAL are methods
    if side in _OUTER_SIDES or kind in ("SEMI", "ANTI", "ASOF", "POSITIONAL") or method in ("ASOF", "POSITIONAL"):
        return False
    return not isinstance(join.this, (exp.Lateral, exp.Unnest)) and not join.args.get("using")


def _flat(condition: exp.Expr | None) -> exp.Expr | None:
    """``condition`` ready to be the left operand of a flat AND chain."""
    if isinstance(condition, exp.Connector) and not isinstance(condition, exp.And):
        return exp.paren(condition, copy=False)
    return condition


def conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    """The top-level AND-ed parts of a condition (or WHERE/HAVING), parentheses removed."""
    return _conjuncts(node)


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, (exp.Where, exp.Having)):
        node = node.this
    return [c.unnest() if isinstance(c, exp.Paren) else c for c in node.flatten()] if isinstance(node, exp.And) \
        else [node.unnest() if isinstance(node, exp.Paren) else node]


def _detach(node: exp.Expr) -> None:
    if node.parent is not None:
        node.pop()


def _orphan(node: exp.Expr) -> None:
    """Forget a replaced node's old parent (sqlglot's replace leaves it pointing there)."""
    node.parent = None
    node.arg_key = None
    node.index = None


def within(node: exp.Expr, ancestor: exp.Expr) -> bool:
    """``node`` is ``ancestor`` or lies under it (identity, not equality)."""
    current: exp.Expr | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False


def _same_column(binding: Binding, a: exp.Column, b: exp.Column) -> bool:
    return binding.source_of(a) is binding.source_of(b) and a.name.lower() == b.name.lower()


def _is_original(conjunct: exp.Expr, joins: list[exp.Join]) -> bool:
    """False for implied equalities (they never stood in the query): they are not re-added."""
    return any(within(conjunct, join) for join in joins)


def _columns_outside(select: exp.Select, fragment: exp.Expr) -> list[exp.Column]:
    return [column for column in select.find_all(exp.Column) if not within(column, fragment)]


def _direct_subqueries(select: exp.Select) -> list[exp.Expr]:
    """Queries nested in ``select``'s expressions, not inside another nested query."""
    found: list[exp.Expr] = []
    for node in select.walk(bfs=True, prune=lambda n: n is not select and isinstance(n, exp.Query)):
        if node is not select and isinstance(node, exp.Query):
            found.append(node)
    return found


def _unique(name: str, used: set[str], *, prefix: str) -> str:
    candidate = name
    if candidate.lower() in used:
        candidate = f"{prefix}_{name}"
    for index in itertools.count(2):
        if candidate.lower() not in used:
            break
        candidate = f"{prefix}_{name}_{index}"
    used.add(candidate.lower())
    return candidate


def offered(connector: Connector, tree: exp.Expr) -> bool:
    """Does ``connector``'s engine take ``tree``, and compute its constructs as the mesh does?"""
    return takes(connector.capabilities, tree) and held_back(tree, connector.capabilities.dialect) is None


def _recursive_names(tree: exp.Expr) -> set[str]:
    """Names of the CTEs that recursive WITHs inside ``tree`` define."""
    return {cte.alias_or_name.lower() for with_ in tree.find_all(exp.With) if with_.args.get("recursive")
            for cte in with_.expressions}
