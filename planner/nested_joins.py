"""Parenthesized join trees, flattened where that keeps the answer, refused elsewhere.

    SELECT ... FROM a JOIN (b LEFT JOIN c ON b.k = c.k) ON a.k = b.k
    ->  SELECT ... FROM a JOIN b ON a.k = b.k LEFT JOIN c ON b.k = c.k

sqlglot keeps ``(b LEFT JOIN c ...)`` as table ``b`` carrying its own joins, a shape the rest of
the planner does not walk: name resolution, policies and placement read a FROM item's joins
only at the SELECT. So each statement is flattened right after parsing, before any name is
resolved. A nest that is the first FROM item is simply unwrapped (joins run left to right
either way). An inner join of a nest of inner and LEFT joins equals joining the nest's first
table and then the rest in order, as long as the outer ON reads no table the nest NULL-extends
(inner joins associate; a LEFT join commutes with an inner join that does not read its right
side). Any other nest is refused: an outer join of a nest, RIGHT/FULL joins inside, an alias on
the parentheses, or an outer ON whose columns do not say which table they read.
"""

from __future__ import annotations

from sqlglot import exp

from flightmesh.mesh import UnsupportedQuery

__all__ = ["flatten_nested_joins"]

REFUSAL = ("a parenthesized join tree is supported as the right side of an inner join, holding inner and LEFT "
           "joins whose NULL-extended tables the outer ON does not read (columns qualified by their table); "
           "write the joins without parentheses")


def flatten_nested_joins(tree: exp.Expr) -> None:
    """Flatten every nested join tree of ``tree`` in place; raise UnsupportedQuery for the rest."""
    for wrapped in list(tree.find_all(exp.Subquery)):
        if isinstance(wrapped.this, exp.Table) and not wrapped.alias and not wrapped.args.get("joins") \
                and not wrapped.this.args.get("joins") and isinstance(wrapped.parent, (exp.From, exp.Join)):
            wrapped.replace(wrapped.this)  # (a) AS a FROM item is just a
    for select in list(tree.find_all(exp.Select)):
        while _flatten_one(select):
            pass
    for table in tree.find_all(exp.Table):
        if table.args.get("joins"):
            raise UnsupportedQuery(REFUSAL)


def _nest(item: exp.Expr) -> exp.Table | None:
    """The first table of a parenthesized join tree standing as a FROM item, or None."""
    if isinstance(item, exp.Subquery) and isinstance(item.this, exp.Table) and not item.alias:
        item = item.this
    return item if isinstance(item, exp.Table) and item.args.get("joins") else None


def _flatten_one(select: exp.Select) -> bool:
    joins: list[exp.Join] = list(select.args.get("joins") or [])
    from_ = select.args.get("from_")
    first = _nest(from_.this) if from_ is not None else None
    if from_ is not None and first is not None:  # FROM (a JOIN b ...) JOIN c: joins run left to right either way
        inner = list(first.args["joins"])
        first.set("joins", None)
        from_.set("this", first)
        select.set("joins", [*inner, *joins])
        return True
    for position, join in enumerate(joins):
        base = _nest(join.this)
        if base is None or not _flattens(join, base):
            continue
        inner = list(base.args["joins"])
        base.set("joins", None)
        join.set("this", base)
        select.set("joins", [*joins[:position + 1], *inner, *joins[position + 1:]])
        return True
    return False


def _flattens(join: exp.Join, base: exp.Table) -> bool:
    if (join.side or "") or (join.kind or "").upper() not in ("", "INNER", "CROSS") or join.args.get("method") \
            or join.args.get("using"):
        return False
    nullable: set[str] = set()
    for inner in base.args["joins"]:
        side = (inner.side or "").upper()
        if side not in ("", "LEFT") or (inner.kind or "").upper() in ("SEMI", "ANTI") or inner.args.get("method") \
                or _nest(inner.this) is not None:
            return False
        if side == "LEFT":
            nullable.add(inner.this.alias_or_name.lower())
    on = join.args.get("on")
    columns = list(on.find_all(exp.Column)) if on is not None else []
    if nullable and any(not column.table for column in columns):
        return False  # which table an unqualified column reads is known only after resolution
    return not {column.table.lower() for column in columns} & nullable
