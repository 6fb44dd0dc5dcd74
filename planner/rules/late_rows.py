"""Late materialization for top-N: a keyed table's wide columns are read for the kept rows only.

    SELECT f0.c_custkey, f0.c_name, SUM(f1.v) AS revenue FROM f0, f1 WHERE f0.c_custkey = f1.k
    GROUP BY f0.c_custkey, f0.c_name ORDER BY revenue DESC LIMIT 20
    ->  residual:  SELECT f0.c_custkey, SUM(f1.v) AS revenue, f0.c_custkey AS __late_key FROM f0, f1
                   WHERE ... GROUP BY f0.c_custkey ORDER BY revenue DESC LIMIT 20
        f0         ships c_custkey only (not c_name, for 150,000 customers)
        f2 (late)  SELECT customer.c_custkey AS __late_key, customer.c_name AS c_name FROM customer
                   -- restricted to the residual's <= 20 keys when it runs, like a dynamic filter
        final      SELECT top.c_custkey, late.c_name, top.revenue FROM __late_top AS top
                   LEFT JOIN f2 AS late ON top.__late_key = late.__late_key ORDER BY top.__late_ord

Why it is the same answer. The table has an engine-reported single-column primary key in an
engine that enforces it (unique, NOT NULL): every row the fragment reads with a given key value
carries the columns of that one table row, so those columns are functionally dependent on the
key. Grouping by the key and by them forms the same groups as grouping by the key alone, and the
late read (the same FROM item: the governed subquery with its row filter and masks, so every
policy still applies) returns, for each key, that row's columns. A row the residual null-extends
has a NULL key and gets NULL columns from the LEFT JOIN, as it had. A masked key is not a key
(no rewrite); a mask on a wide column is applied again by the late read.

Only columns the residual reads as bare projections or GROUP BY items move to the late read;
one used anywhere else (an expression, an aggregate, ORDER BY, a join) stays in the first read.

Like the dynamic filters, the table is read twice: a row changed in between may make the answer
mix the two reads (a key deleted in between gets NULL columns).
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from flightmesh.mesh import CatalogTable

from ..dynamic import choose_key_filters, filters_rows, key_edges
from ..estimate import estimate_rows
from ..plan import LATE_KEY, LATE_ORDINAL, LATE_TOP
from ..preagg import own_nodes, reads_of
from ..split import FRAGMENT_KEY, FragmentDraft, fresh_name
from .base import Cut, LateDraft, RuleContext, scanned_rows

__all__ = ["late_rows"]

# Engines whose primary keys are enforced as unique and NOT NULL (SQLite allows NULL keys).
_ENFORCING = frozenset({"postgresql", "mysql", "duckdb"})
# Not a function of the row alone: a mask using these is not dependent on the key.
_NOT_OF_ROW = (exp.Subquery, exp.Query, exp.Window, exp.AggFunc, exp.Rand, exp.CurrentTimestamp,
               exp.CurrentDate, exp.CurrentTime, exp.Uuid)
_NOT_PLAIN = ("joins", "group", "having", "limit", "offset", "distinct", "qualify", "sample", "order", "with")
_WORTH = 4.0  # the fragment must be expected to ship this many times more rows than the limit


def late_rows(cut: Cut, context: RuleContext) -> Cut:
    if not cut.placed or not isinstance(cut.tree, exp.Select) or cut.late is not None:
        return cut
    top = cut.tree
    limit = _limit(top, context.late_rows_max_limit)
    if limit is None or top.args.get("distinct") or top.args.get("qualify") or \
            any(isinstance(p, exp.Star) or isinstance(getattr(p, "this", None), exp.Star) for p in top.expressions):
        return cut
    names = [p.alias_or_name.lower() for p in top.expressions]
    if len(set(names)) != len(names) or {LATE_KEY, LATE_ORDINAL} & set(names) or "" in names:
        return cut
    group = top.args.get("group")
    if group is None and own_nodes(top, exp.AggFunc):
        return cut  # one row: nothing to gain
    if group is not None and any(group.args.get(k) for k in group.args if k != "expressions"):
        return cut  # ROLLUP, CUBE, GROUPING SETS: each column shapes the groups, none may go
    if any(_positional(item) for key in ("group", "order") if top.args.get(key) is not None
           for item in top.args[key].expressions):
        return cut  # ordinals would shift once projections go
    reads = reads_of(top)
    drafts = {draft.name: draft for draft in cut.fragments}
    restricted = _restricted(cut, context)
    for item in _from_items(top):
        draft = drafts.get(item.meta.get(FRAGMENT_KEY) or "") if isinstance(item, exp.Table) else None
        if draft is None or reads.get(draft.name) != 1 or not _plain(draft.tree) or draft.name in restricted:
            continue
        if estimate_rows(draft.tree, context.resolution) < max(_WORTH * limit, context.pre_aggregate_min_rows):
            continue
        late = _rewrite(cut, top, item.alias_or_name, draft, limit, context)
        if late is not None:
            return late
    return cut


def _restricted(cut: Cut, context: RuleContext) -> set[str]:
    """Fragments a dynamic filter is expected to restrict, chosen as planning will choose them.

    Such a fragment ships only the rows whose keys another side lends (TPC-H Q18: 57 of 150,000
    customers); a late read would only add a wait for the residual and a second round trip.
    """
    assert cut.tree is not None
    filtered = {draft.name for draft in cut.fragments if filters_rows(draft.tree)}
    chosen = choose_key_filters(key_edges(cut.tree), scanned_rows(cut, context), context.dynamic_filter_max_keys,
                                context.dynamic_filter_min_probe_rows, filtered)
    return {key_filter.probe for key_filter in chosen}


def _rewrite(cut: Cut, top: exp.Select, alias: str, draft: FragmentDraft, limit: int,
             context: RuleContext) -> Cut | None:
    tree = draft.tree
    assert isinstance(tree, exp.Select)
    for source in _from_items(tree):
        keyed = _keyed(source, context)
        if keyed is None:
            continue
        key, table, dependent = keyed
        outputs = {p.alias_or_name: _bare(p) for p in tree.expressions}
        of_source = {name: column.name for name, column in outputs.items()
                     if column is not None and column.table == source.alias_or_name}
        key_output = next((name for name, column in of_source.items() if column.lower() == key.lower()), None)
        wide = {name for name, column in of_source.items() if name != key_output and column in dependent}
        wide &= _movable(top, alias, wide)
        shown = {c.name for c in map(_bare, top.expressions) if c is not None and c.table == alias}
        if not wide & shown or (top.args.get("group") is not None and
                        (key_output is None or not _grouped_by(top, alias, key_output))):
            continue
        return _apply(cut, top, alias, draft, source, key, key_output, wide, of_source, table, limit)
    return None


def _apply(cut: Cut, top: exp.Select, alias: str, draft: FragmentDraft, source: exp.Expr, key: str,
           key_output: str | None, wide: set[str], of_source: dict[str, str], table: CatalogTable,
           limit: int) -> Cut:
    tree = draft.tree
    assert isinstance(tree, exp.Select)
    source_alias = source.alias_or_name
    if key_output is None:  # the fragment reads the key without shipping it: it ships it now
        key_output = LATE_KEY
        tree.append("expressions", exp.alias_(exp.column(key, table=source_alias, quoted=True), LATE_KEY,
                                              quoted=True))
    tree.set("expressions", [p for p in tree.expressions if p.alias_or_name not in wide])
    # The residual: the wide projections go, the key is shipped as LATE_KEY, GROUP BY narrows.
    shown: list[tuple[str, str | None]] = []   # per user column: (name, the late output or None)
    kept = []
    for projection in top.expressions:
        column = _bare(projection)
        if column is not None and column.table == alias and column.name in wide:
            shown.append((projection.alias_or_name, column.name))
        else:
            shown.append((projection.alias_or_name, None))
            kept.append(projection)
    kept.append(exp.alias_(exp.column(key_output, table=alias, quoted=True), LATE_KEY, quoted=True))
    top.set("expressions", kept)
    group = top.args.get("group")
    if group is not None:
        group.set("expressions", [g for g in group.expressions
                                  if not (isinstance(g, exp.Column) and g.table == alias and g.name in wide)])
    names = set(cut.names)
    name = fresh_name(names, len(cut.fragments))
    late_tree = exp.select(
        exp.alias_(exp.column(key, table=source_alias, quoted=True), LATE_KEY, quoted=True),
        *[exp.alias_(exp.column(of_source[output], table=source_alias, quoted=True), output, quoted=True)
          for output in sorted({late_output for _, late_output in shown if late_output is not None})],
    ).from_(source.copy())
    late = FragmentDraft(name=name, connector=draft.connector, tree=late_tree, tables=[table])
    final = exp.select(*[
        exp.alias_(exp.column(late_output, table="late", quoted=True) if late_output is not None
                   else exp.column(shown_name, table="top", quoted=True), shown_name, quoted=True)
        for shown_name, late_output in shown
    ]).from_(exp.Table(this=exp.to_identifier(LATE_TOP, quoted=True),
                       alias=exp.TableAlias(this=exp.to_identifier("top", quoted=True)))).join(
        exp.Table(this=exp.to_identifier(name, quoted=True),
                  alias=exp.TableAlias(this=exp.to_identifier("late", quoted=True))),
        on=exp.EQ(this=exp.column(LATE_KEY, table="top", quoted=True),
                  expression=exp.column(LATE_KEY, table="late", quoted=True)),
        join_type="LEFT").order_by(exp.column(LATE_ORDINAL, table="top", quoted=True))
    moved = ", ".join(sorted({late_output for _, late_output in shown if late_output is not None}))
    note = (f"{draft.name} ships {key_output} for the top {limit} rows; {name} reads {moved} "
            f"for those keys only (late materialization)")
    return replace(cut, late=LateDraft(fragment=late, final=final, limit=limit), names=frozenset(names),
                   notes=(*cut.notes, note))


def _keyed(source: exp.Expr, context: RuleContext) -> tuple[str, CatalogTable, set[str]] | None:
    """(the key as ``source`` exposes it, its table, the columns dependent on it) or None.

    ``source`` is a table of the fragment's FROM, or a subquery over one table (a governed table:
    row filter and masks) whose columns are each a function of that table's row.
    """
    if isinstance(source, exp.Table):
        table = context.resolution.of(source)
        key = _primary_key(table, context) if source.args.get("sample") is None else None
        if table is None or key is None:
            return None
        return key, table, {item.name for item in table.schema}
    if not isinstance(source, exp.Subquery) or not isinstance(source.this, exp.Select):
        return None
    inner = source.this
    base = _from_items(inner)
    if any(inner.args.get(k) for k in _NOT_PLAIN if k != "order") or len(base) != 1 or \
            not isinstance(base[0], exp.Table) or base[0].args.get("sample") is not None:
        return None
    table = context.resolution.of(base[0])
    key = _primary_key(table, context)
    if table is None or key is None:
        return None
    exposed_key = None
    dependent = set()
    where = inner.args.get("where")
    for projection in inner.expressions:
        column = _bare(_unguarded(projection, where.this if where is not None else None))
        if column is not None and column.name.lower() == key.lower():
            exposed_key = projection.alias_or_name  # the key itself, unmasked
        if not any(isinstance(node, _NOT_OF_ROW) for node in projection.walk()):
            dependent.add(projection.alias_or_name)
    if exposed_key is None:
        return None  # masked or left out: not a key any more
    return exposed_key, table, dependent


def _unguarded(projection: exp.Expr, guard: exp.Expr | None) -> exp.Expr:
    """A governed column's value: ``CASE WHEN <row filter> THEN v END`` is ``v`` on the rows that
    pass the subquery's WHERE, which is that same row filter (governance.policies.wrap_table)."""
    node = projection.this if isinstance(projection, exp.Alias) else projection
    if guard is not None and isinstance(node, exp.Case) and node.args.get("default") is None \
            and node.this is None and len(node.args.get("ifs") or []) == 1:
        branch = node.args["ifs"][0]
        value = branch.args.get("true")
        if branch.this == guard and isinstance(value, exp.Expr):
            return value
    return node


def _primary_key(table: CatalogTable | None, context: RuleContext) -> str | None:
    """The table's single-column primary key, when its engine reported and enforces it."""
    if table is None or table.spec.primary_key is not None:   # declared in the descriptor: not enforced
        return None
    if len(table.keys.primary_key) != 1 or context.engine_kind(table) not in _ENFORCING:
        return None
    return table.keys.primary_key[0]


def _movable(top: exp.Select, alias: str, candidates: set[str]) -> set[str]:
    """The ``candidates`` the residual reads only as bare projections or GROUP BY items of ``top``."""
    allowed = {id(_bare(p)) for p in top.expressions}
    group = top.args.get("group")
    allowed |= {id(g) for g in group.expressions} if group is not None else set()
    movable = set(candidates)
    for column in top.find_all(exp.Column):
        if column.table == alias and column.name in movable and id(column) not in allowed:
            movable.discard(column.name)
    # ORDER BY naming a projection by its alias (unqualified) reads that projection.
    order = top.args.get("order")
    ordered_names = {c.name.lower() for c in order.find_all(exp.Column) if not c.table} if order else set()
    for projection in top.expressions:
        bare = _bare(projection)
        if bare is not None and bare.table == alias and projection.alias_or_name.lower() in ordered_names:
            movable.discard(bare.name)
    return movable


def _grouped_by(top: exp.Select, alias: str, output: str) -> bool:
    group = top.args["group"]
    return any(isinstance(g, exp.Column) and g.table == alias and g.name == output for g in group.expressions)


def _limit(top: exp.Select, most: int) -> int | None:
    """LIMIT plus OFFSET, when both are literal, there is an ORDER BY, and it is at most ``most``."""
    limit, offset = top.args.get("limit"), top.args.get("offset")
    if limit is None or top.args.get("order") is None or most <= 0:
        return None
    count = _integer(limit.expression)
    skip = _integer(offset.expression) if offset is not None else 0
    if count is None or skip is None or count + skip > most:
        return None
    return count + skip


def _integer(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            value = int(node.this)
        except ValueError:
            return None
        return value if value >= 0 else None
    return None


def _positional(item: exp.Expr) -> bool:
    node = item.this if isinstance(item, exp.Ordered) else item
    return isinstance(node, exp.Literal)


def _plain(tree: exp.Query) -> bool:
    return isinstance(tree, exp.Select) and not any(tree.args.get(k) for k in _NOT_PLAIN if k != "joins") and \
        not own_nodes(tree, exp.AggFunc) and not own_nodes(tree, exp.Window)


def _bare(projection: exp.Expr) -> exp.Column | None:
    node = projection.this if isinstance(projection, exp.Alias) else projection
    return node if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier) else None


def _from_items(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    return ([from_.this] if from_ is not None else []) + [join.this for join in select.args.get("joins") or []]
