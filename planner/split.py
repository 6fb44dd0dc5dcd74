"""The split: cut a resolved, qualified query into engine fragments and a DuckDB residual.

The rule, after datafusion-federation: find the largest subtrees whose tables all live behind
one engine identity and that engine takes whole (``capability.takes``); each becomes a fragment.
Where a SELECT spans engines, its inner-join core is grouped by identity into connected
components (joined by predicates, including equalities implied through other tables); each
component becomes one fragment carrying its own predicates and only the columns the rest of the
query reads. What is left — cross-engine joins, outer joins, aggregates over them, subqueries
that span engines — is the residual, which keeps the user's query shape and reads fragments by
name. Outer joins are respected: nothing is pushed into the null-supplying side that would
change which rows get NULL-extended.

Example (orders in DuckDB, customer in PostgreSQL)::

    SELECT c.name, sum(o.total) FROM sales.orders o JOIN crm.customer c ON o.cust = c.id
    WHERE o.day > DATE '2024-01-01' AND c.region = 'EMEA' GROUP BY c.name

    f0 (duckdb):   SELECT o.cust, o.total FROM orders AS o WHERE o.day > DATE '2024-01-01'
    f1 (postgres): SELECT c.name, c.id FROM customer AS c WHERE c.region = 'EMEA'
    residual:      SELECT f1.name, SUM(f0.total) FROM f0 JOIN f1 ON f0.cust = f1.id GROUP BY f1.name
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from flightmesh.connectors import Connector
from flightmesh.mesh import CatalogTable, UnsupportedQuery

from .binding import Binding, bind_columns
from .capability import takes
from .resolve import Resolution, table_key
from .rules import factor_disjunctions

__all__ = ["FRAGMENT_KEY", "FragmentDraft", "Split", "split_query"]

FRAGMENT_KEY = "flightmesh.fragment"  # meta on residual exp.Table nodes that read a fragment

_OUTER_SIDES = ("LEFT", "RIGHT", "FULL")


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


@dataclass
class Split:
    fragments: list[FragmentDraft]
    residual: exp.Query | None  # None: one fragment is the whole query


def split_query(
    tree: exp.Query, resolution: Resolution, connector_for: Callable[[CatalogTable], Connector]
) -> Split:
    """Split ``tree`` (resolved and qualified; modified in place)."""
    return _Splitter(resolution, connector_for).run(tree)


class _Splitter:
    def __init__(self, resolution: Resolution, connector_for: Callable[[CatalogTable], Connector]) -> None:
        self.resolution = resolution
        self.connector_for = connector_for
        self.fragments: list[FragmentDraft] = []
        self.binding = Binding()
        # source node id -> (fragment name, {column name (lowercase) -> fragment output name})
        self.moved: dict[int, tuple[str, dict[str, str]]] = {}
        self.taken_names: set[str] = set()
        self._pending: list[tuple[FragmentDraft, list[exp.Expr]]] = []

    # -- entry ---------------------------------------------------------------------------------

    def run(self, tree: exp.Query) -> Split:
        self.taken_names = {node.name.lower() for node in tree.find_all(exp.Identifier)}
        self.binding = bind_columns(tree)
        if self.whole(tree):
            self.fragments.append(self.draft(tree))
            return Split(self.fragments, None)
        if _has_recursive_cte(tree):
            raise UnsupportedQuery("a recursive WITH across several engines is not supported")
        self.share_ctes(tree)
        _inline_ctes(tree)
        self.binding = bind_columns(tree)  # inlining copied CTE bodies: bind again
        residual = self.place(tree)
        assert isinstance(residual, exp.Query)
        self.rewrite_columns(residual)
        return Split(self.fragments, residual)

    # -- identities and pushability ------------------------------------------------------------

    def identity(self, tree: exp.Expr) -> tuple[str, Connector] | None:
        """The one engine behind every table of ``tree``, or None (several, or none at all)."""
        found: tuple[str, Connector] | None = None
        for node in tree.find_all(exp.Table):
            table = self.resolution.of(node)
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
        return takes(found[1].capabilities, tree)

    def external_columns(self, tree: exp.Expr) -> list[exp.Column]:
        """Columns inside ``tree`` that read a source outside it (correlation)."""
        outside = []
        for column in tree.find_all(exp.Column):
            source = self.binding.source_of(column)
            if source is not None and not _within(source, tree):
                outside.append(column)
        return outside

    def share_ctes(self, tree: exp.Query) -> None:
        """A CTE read more than once, that one engine takes whole, becomes one shared fragment.

        Inlining would make the engine compute it once per reference (TPC-H Q15 reads its
        ``revenue`` view twice); the residual reads the one fragment under each reference's alias.
        A CTE read once is still inlined, so it can join other tables inside a bigger fragment.
        """
        for with_ in list(tree.find_all(exp.With)):
            query = with_.parent
            if query is None:
                continue
            for cte in list(with_.expressions):
                name = cte.alias_or_name.lower()
                references = [t for t in query.find_all(exp.Table)
                              if not t.db and table_key(t) is None and t.name.lower() == name]
                if len(references) < 2 or cte.args["alias"].args.get("columns") or not self.whole(cte.this):
                    continue
                body = cte.this
                cte.pop()
                draft = self.draft(body)
                _orphan(body)
                self.fragments.append(draft)
                for table in references:
                    shared = self.reference(draft.name)
                    shared.set("alias", exp.TableAlias(this=exp.to_identifier(table.alias_or_name, quoted=True)))
                    table.replace(shared)
            if not with_.expressions:
                with_.pop()

    # -- placing -------------------------------------------------------------------------------

    def place(self, query: exp.Expr) -> exp.Expr:
        """Turn ``query`` into its residual form in place, cutting fragments out of it.

        Returns what now stands where ``query`` stood (``query`` itself unless it became a
        whole fragment).
        """
        if isinstance(query, exp.Subquery):
            self.place(query.this)
            return query
        if isinstance(query, exp.Query) and self.whole(query):
            draft = self.draft(query)
            replacement = exp.select("*").from_(self.reference(draft.name))
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
        return query

    def place_select(self, select: exp.Select) -> None:
        where = select.args.get("where")
        if where is not None:
            factored = factor_disjunctions(where.this)
            if factored is not where.this:
                where.set("this", factored)
                self.binding = bind_columns(_root(select))  # new nodes: bind again
        items = _from_items(select)
        if not items:
            self.place_nested(select)
            return
        for item in items:
            if isinstance(item, exp.Subquery) and isinstance(item.this, exp.Query) and not self.whole(item.this):
                self.place(item.this)
        joins: list[exp.Join] = list(select.args.get("joins") or [])
        core_size = 1 + next((i for i, join in enumerate(joins) if not _is_inner(join)), len(joins))
        core, tail = items[:core_size], joins[core_size - 1:]
        protect_where = any((join.side or "").upper() in ("RIGHT", "FULL") for join in tail)

        where_pool = _conjuncts(select.args.get("where"))
        on_pool = [c for join in joins[: core_size - 1] for c in _conjuncts(join.args.get("on"))]
        owner = {id(item): item for item in items}
        leaf = {id(item): self.leaf_identity(item) for item in core}
        # Under a RIGHT/FULL join the core is NULL-extended, so WHERE must stay above it.
        pool = on_pool if protect_where else where_pool + on_pool
        implied = self.implied_equalities(leaf, pool, owner) + self.implied_by_disjunctions(core, pool, owner)
        components = self.components(core, leaf, where_pool + on_pool + implied, owner)
        pushed: set[int] = set()
        units: list[exp.Expr] = []
        item_unit: dict[int, int] = {}
        for component in components:
            identity = leaf[id(component[0])]
            if identity is None:
                units.append(component[0])
                item_unit[id(component[0])] = len(units) - 1
                continue
            candidates = on_pool + implied + ([] if protect_where else where_pool)
            mine = [c for c in candidates if id(c) not in pushed and self.pushable_into(c, component, owner, identity)]
            pushed.update(id(c) for c in mine)
            units.append(self.component_fragment(component, mine, identity[1]))
            for item in component:
                item_unit[id(item)] = len(units) - 1

        tail_units: list[exp.Expr] = []
        tail_on: list[list[exp.Expr]] = []
        for join in tail:
            item = join.this
            conditions = _conjuncts(join.args.get("on"))
            identity = self.leaf_identity(item)
            if identity is None:
                tail_units.append(item)
                tail_on.append(conditions)
                continue
            own: list[exp.Expr] = []
            side = (join.side or "").upper()
            if side in ("", "LEFT") and (join.kind or "").upper() not in ("SEMI", "ANTI"):
                own = [c for c in conditions if self.pushable_into(c, [item], owner, identity)]
            tail_units.append(self.component_fragment([item], own, identity[1]))
            tail_on.append([c for c in conditions if not any(c is o for o in own)])

        self.rebuild_from(select, units, item_unit, core, on_pool, where_pool, pushed, joins, core_size,
                          tail_units, tail_on)
        self.place_nested(select)

    def leaf_identity(self, item: exp.Expr) -> tuple[str, Connector] | None:
        if isinstance(item, exp.Table) and table_key(item) is not None:
            return self.identity(item)
        if isinstance(item, exp.Subquery) and isinstance(item.this, exp.Query) and self.whole(item.this):
            return self.identity(item.this)
        return None

    def components(self, core: list[exp.Expr], leaf: dict[int, tuple[str, Connector] | None],
                   pool: list[exp.Expr], owner: dict[int, exp.Expr]) -> list[list[exp.Expr]]:
        """Group core items that share an identity and are linked by a pushable predicate."""
        parent = {id(item): id(item) for item in core}

        def find(key: int) -> int:
            while parent[key] != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        for conjunct in pool:
            refs = self.references(conjunct, owner)
            identities = [leaf.get(id(item)) for item in refs]
            identity = identities[0] if identities else None
            if len(refs) < 2 or identity is None or any(i is None or i[0] != identity[0] for i in identities):
                continue
            if not self.pushable_into(conjunct, refs, owner, identity):
                continue
            first = find(id(refs[0]))
            for other in refs[1:]:
                parent[find(id(other))] = first
        groups: dict[int, list[exp.Expr]] = {}
        for item in core:
            groups.setdefault(find(id(item)), []).append(item)
        return list(groups.values())

    def implied_equalities(self, leaf: dict[int, tuple[str, Connector] | None],
                           pool: list[exp.Expr], owner: dict[int, exp.Expr]) -> list[exp.Expr]:
        """``a = b AND b = c`` implies ``a = c``: the new equalities linking two items of one identity.

        They exist only to be pushed into the fragment they link; the original predicates stay
        where they were, so nothing changes meaning.
        """
        classes: list[list[exp.Column]] = []
        for conjunct in pool:
            if not (isinstance(conjunct, exp.EQ) and isinstance(conjunct.left, exp.Column)
                    and isinstance(conjunct.right, exp.Column)):
                continue
            left, right = conjunct.left, conjunct.right
            if not all(self.binding.source_of(c) is not None and id(self.binding.source_of(c)) in owner
                       for c in (left, right)):
                continue
            merged = [cls for cls in classes if any(_same_column(self.binding, left, c) or
                                                    _same_column(self.binding, right, c) for c in cls)]
            new = [left, right] + [c for cls in merged for c in cls]
            classes = [cls for cls in classes if cls not in merged] + [new]
        implied: list[exp.Expr] = []
        for cls in classes:
            for a, b in itertools.combinations(cls, 2):
                source_a, source_b = self.binding.source_of(a), self.binding.source_of(b)
                if source_a is source_b or source_a is None or source_b is None:
                    continue
                ia, ib = leaf.get(id(source_a)), leaf.get(id(source_b))
                if ia is None or ib is None or ia[0] != ib[0]:
                    continue
                if any(self._links(c, source_a, source_b) for c in pool + implied):
                    continue
                left, right = a.copy(), b.copy()
                self.binding.bind(left, source_a)
                self.binding.bind(right, source_b)
                implied.append(exp.EQ(this=left, expression=right))
        return implied

    def implied_by_disjunctions(self, core: list[exp.Expr], pool: list[exp.Expr],
                                owner: dict[int, exp.Expr]) -> list[exp.Expr]:
        """From ``(a1 AND b1) OR (a2 AND b2)``, where each ``a`` reads only item A: ``a1 OR a2``.

        Every row the disjunction keeps satisfies one disjunct, hence that disjunct's A-part: the
        OR of the A-parts is implied, and can filter A inside its own fragment (TPC-H Q19). The
        disjunction itself stays in the residual.
        """
        implied: list[exp.Expr] = []
        for conjunct in pool:
            if not isinstance(conjunct, exp.Or) or len(self.references(conjunct, owner)) < 2:
                continue
            disjuncts = [d.unnest() if isinstance(d, exp.Paren) else d for d in conjunct.flatten()]
            for item in core:
                parts: list[exp.Expr] = []
                for disjunct in disjuncts:
                    mine = [c for c in _conjuncts(disjunct) if self._reads_only(c, item)]
                    if not mine:
                        break
                    parts.append(exp.and_(*[self._bound_copy(c) for c in mine], copy=False))
                else:
                    implied.append(exp.or_(*[exp.paren(p, copy=False) for p in parts], copy=False))
        return implied

    def _reads_only(self, conjunct: exp.Expr, item: exp.Expr) -> bool:
        columns = list(conjunct.find_all(exp.Column))
        return bool(columns) and not any(conjunct.find_all(exp.Query)) and all(
            self.binding.source_of(column) is item for column in columns)

    def _bound_copy(self, node: exp.Expr) -> exp.Expr:
        """A copy of ``node`` whose columns read what the original's read."""
        copy = node.copy()
        for original, column in zip(node.find_all(exp.Column), copy.find_all(exp.Column), strict=True):
            source = self.binding.source_of(original)
            if source is not None:
                self.binding.bind(column, source)
        return copy

    def _links(self, conjunct: exp.Expr, a: exp.Expr, b: exp.Expr) -> bool:
        if not isinstance(conjunct, exp.EQ):
            return False
        sources = {id(self.binding.source_of(c)) for c in conjunct.find_all(exp.Column)}
        return sources == {id(a), id(b)}

    def references(self, conjunct: exp.Expr, owner: dict[int, exp.Expr]) -> list[exp.Expr]:
        """The FROM items of the current SELECT that ``conjunct`` reads, in a stable order."""
        found: dict[int, exp.Expr] = {}
        for column in conjunct.find_all(exp.Column):
            source = self.binding.source_of(column)
            if source is not None and id(source) in owner:
                found.setdefault(id(source), source)
        return list(found.values())

    def pushable_into(self, conjunct: exp.Expr, items: Iterable[exp.Expr],
                      owner: dict[int, exp.Expr], identity: tuple[str, Connector]) -> bool:
        """Can ``conjunct`` run inside a fragment made of ``items`` on ``identity``?"""
        allowed = {id(item) for item in items}
        for column in conjunct.find_all(exp.Column):
            source = self.binding.source_of(column)
            if source is None:
                return False
            if id(source) in owner:
                if id(source) not in allowed:
                    return False
            elif not _within(source, conjunct):
                return False  # reads an outer query: correlation stays in the residual
        for table in conjunct.find_all(exp.Table):
            found = self.identity(table)
            if found is None or found[0] != identity[0]:
                return False
        return takes(identity[1].capabilities, conjunct)

    # -- building fragments ----------------------------------------------------------------------

    def component_fragment(self, items: list[exp.Expr], conjuncts: list[exp.Expr],
                           connector: Connector) -> exp.Table:
        """Detach ``items`` and ``conjuncts`` into one fragment; return the residual's reference."""
        name = self.new_name()
        select = exp.Select()
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
        return self.reference(name)

    def draft(self, query: exp.Query) -> FragmentDraft:
        """A whole query for one engine; its projections are its output."""
        found = self.identity(query)
        assert found is not None
        return FragmentDraft(name=self.new_name(), connector=found[1], tree=query, tables=self.tables_in([query]))

    def tables_in(self, nodes: Iterable[exp.Expr]) -> list[CatalogTable]:
        tables: list[CatalogTable] = []
        for node in nodes:
            for table_node in node.find_all(exp.Table):
                table = self.resolution.of(table_node)
                if table is not None and table not in tables:
                    tables.append(table)
        return tables

    def new_name(self) -> str:
        for index in itertools.count(len(self.fragments)):
            name = f"f{index}"
            if name not in self.taken_names:
                self.taken_names.add(name)
                return name
        raise AssertionError("unreachable")

    @staticmethod
    def reference(name: str) -> exp.Table:
        node = exp.Table(this=exp.to_identifier(name, quoted=True),
                         alias=exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
        node.meta[FRAGMENT_KEY] = name
        return node

    # -- the residual SELECT -----------------------------------------------------------------------

    def rebuild_from(self, select: exp.Select, units: list[exp.Expr], item_unit: dict[int, int],
                     core: list[exp.Expr], on_pool: list[exp.Expr], where_pool: list[exp.Expr],
                     pushed: set[int], joins: list[exp.Join], core_size: int,
                     tail_units: list[exp.Expr], tail_on: list[list[exp.Expr]]) -> None:
        self.finish_projections(select)
        owner = {id(item): item for item in core}
        leftover_on = [c for c in on_pool if id(c) not in pushed and _is_original(c, joins)]
        leftover_where = [c for c in where_pool if id(c) not in pushed]

        def units_of(conjunct: exp.Expr) -> set[int]:
            return {item_unit[id(item)] for item in self.references(conjunct, owner)}

        new_joins: list[exp.Join] = []
        placed: set[int] = set()
        for index in range(1, len(units)):
            available = set(range(index + 1))
            conditions = [c for c in leftover_on if id(c) not in placed and units_of(c) <= available]
            placed.update(id(c) for c in conditions)
            for condition in conditions:
                _detach(condition)
            join = exp.Join(this=units[index], on=exp.and_(*conditions, copy=False) if conditions else None)
            if not conditions:
                join.set("kind", "CROSS")
            new_joins.append(join)
        remaining_on = [c for c in leftover_on if id(c) not in placed]
        if remaining_on and any((j.side or "").upper() in ("RIGHT", "FULL") for j in joins[core_size - 1:]):
            raise UnsupportedQuery("this combination of joins across engines is not supported yet")
        for original, unit, conditions in zip(joins[core_size - 1:], tail_units, tail_on, strict=True):
            for condition in conditions:
                _detach(condition)
            join = exp.Join(this=unit, on=exp.and_(*conditions, copy=False) if conditions else None)
            for key in ("side", "kind", "method"):
                if original.args.get(key):
                    join.set(key, original.args[key])
            if not conditions and not original.args.get("side"):
                join.set("kind", "CROSS")
            elif not conditions:
                join.set("on", exp.true())
            new_joins.append(join)
        select.set("from_", exp.From(this=units[0]))
        select.set("joins", new_joins or None)
        for conjunct in leftover_where + remaining_on:
            _detach(conjunct)
        conditions = leftover_where + remaining_on
        select.set("where", exp.Where(this=exp.and_(*conditions, copy=False)) if conditions else None)

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
                mapping: dict[str, str] = {}
                for lowered, column in needed[id(item)].items():
                    out = _unique(column.name, used, prefix=item.alias_or_name)
                    mapping[lowered] = out
                    ref = exp.column(column.name, table=item.alias_or_name, quoted=True)
                    self.binding.bind(ref, item)
                    projections.append(exp.alias_(ref, out, quoted=True))
                self.moved[id(item)] = (draft.name, mapping)
            if not projections:
                # Nothing is read but the row count (count(*), EXISTS): one constant column.
                projections.append(exp.alias_(exp.Literal.number(1), _unique("one", used, prefix="f"), quoted=True))
            draft.tree.set("expressions", projections)

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


# -- helpers over sqlglot trees ----------------------------------------------------------------------


def _from_items(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    items = [from_.this] if from_ is not None else []
    items += [join.this for join in select.args.get("joins") or []]
    return items


def _is_inner(join: exp.Join) -> bool:
    side = (join.side or "").upper()
    kind = (join.kind or "").upper()
    if side in _OUTER_SIDES or kind in ("SEMI", "ANTI", "ASOF", "POSITIONAL"):
        return False
    return not isinstance(join.this, (exp.Lateral, exp.Unnest)) and not join.args.get("using")


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


def _root(node: exp.Expr) -> exp.Expr:
    while node.parent is not None:
        node = node.parent
    return node


def _orphan(node: exp.Expr) -> None:
    """Forget a replaced node's old parent (sqlglot's replace leaves it pointing there)."""
    node.parent = None
    node.arg_key = None
    node.index = None


def _within(node: exp.Expr, ancestor: exp.Expr) -> bool:
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
    return any(_within(conjunct, join) for join in joins)


def _columns_outside(select: exp.Select, fragment: exp.Expr) -> list[exp.Column]:
    return [column for column in select.find_all(exp.Column) if not _within(column, fragment)]


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


def _has_recursive_cte(tree: exp.Expr) -> bool:
    return any(with_.args.get("recursive") for with_ in tree.find_all(exp.With))


def _inline_ctes(tree: exp.Expr) -> None:
    """Replace each reference to a (non-recursive) CTE by a copy of its body, as a derived table."""
    for with_ in list(tree.find_all(exp.With)):
        query = with_.parent
        bodies: dict[str, exp.CTE] = {}
        for cte in with_.expressions:
            _replace_cte_refs(cte.this, bodies)
            bodies[cte.alias_or_name.lower()] = cte
        with_.pop()
        if query is not None:
            _replace_cte_refs(query, bodies)


def _replace_cte_refs(node: exp.Expr, bodies: dict[str, exp.CTE]) -> None:
    for table in list(node.find_all(exp.Table)):
        if table.db or table_key(table) is not None or table.name.lower() not in bodies:
            continue
        cte = bodies[table.name.lower()]
        alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name, quoted=True))
        columns = cte.args["alias"].args.get("columns") if cte.args.get("alias") else None
        if columns:
            alias.set("columns", [c.copy() for c in columns])
        table.replace(exp.Subquery(this=cte.this.copy(), alias=alias))
