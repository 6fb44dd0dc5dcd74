"""Row estimates for fragments: rough, cheap, and only used to rank join sides.

Table sizes come from the engines (``CatalogTable.row_estimate``); predicates scale them by
classic textbook selectivities. The numbers need only be right within an order of magnitude:
they decide which side of a cross-engine join runs first and lends its keys to the other.
"""

from __future__ import annotations

from sqlglot import exp

from .resolve import Resolution

__all__ = ["estimate_rows"]

_UNKNOWN_TABLE_ROWS = 100_000.0


def estimate_rows(tree: exp.Expr, resolution: Resolution) -> float:
    if isinstance(tree, exp.Subquery):
        return estimate_rows(tree.this, resolution)
    if isinstance(tree, exp.SetOperation):
        return estimate_rows(tree.this, resolution) + estimate_rows(tree.expression, resolution)
    if not isinstance(tree, exp.Select):
        return 1.0
    from_ = tree.args.get("from_")
    items = ([from_.this] if from_ is not None else []) + [join.this for join in tree.args.get("joins") or []]
    sizes = []
    for item in items:
        if isinstance(item, exp.Table):
            table = resolution.of(item)
            sizes.append(float(table.row_estimate) if table and table.row_estimate is not None
                         else _UNKNOWN_TABLE_ROWS)
        else:
            sizes.append(estimate_rows(item, resolution))
    # Joins inside one engine are mostly key/foreign-key joins: the largest input dominates.
    rows = max(sizes) if sizes else 1.0
    where = tree.args.get("where")
    if where is not None:
        for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            rows *= _selectivity(conjunct)
    if tree.args.get("group") is not None:
        rows = max(1.0, rows * 0.1)
    elif any(isinstance(e, exp.AggFunc) for p in tree.expressions for e in p.walk()):
        rows = 1.0
    limit = tree.args.get("limit")
    if limit is not None and isinstance(limit.expression, exp.Literal) and limit.expression.is_int:
        rows = min(rows, float(limit.expression.to_py()))
    return max(rows, 1.0)


def _conjunction(node: exp.Expr) -> float:
    node = node.unnest() if isinstance(node, exp.Paren) else node
    parts = node.flatten() if isinstance(node, exp.And) else [node]
    product = 1.0
    for part in parts:
        product *= _selectivity(part.unnest() if isinstance(part, exp.Paren) else part)
    return product


def _selectivity(conjunct: exp.Expr) -> float:
    # Columns of a subquery inside the predicate are the subquery's business, not a join.
    own = [node for node in conjunct.walk(prune=lambda n: isinstance(n, exp.Query)) if isinstance(node, exp.Column)]
    if len({column.table for column in own}) > 1:
        return 1.0  # a join predicate: accounted for by the join rule
    if isinstance(conjunct, exp.EQ):
        return 0.05
    if isinstance(conjunct, exp.In) and conjunct.args.get("query") is not None:
        return 0.1  # a semi-join: keeps the rows whose key the subquery returns
    if isinstance(conjunct, exp.In):
        return min(1.0, 0.05 * max(1, len(conjunct.expressions)))
    if isinstance(conjunct, (exp.Like, exp.ILike)):
        return 0.25
    if isinstance(conjunct, exp.Between):
        return 0.25
    if isinstance(conjunct, (exp.GT, exp.GTE, exp.LT, exp.LTE)):
        return 0.4
    if isinstance(conjunct, exp.Or):
        # Disjuncts of conjunctions (TPC-H Q19): the chance of any, at most the sum of each.
        return min(1.0, sum(_conjunction(d) for d in conjunct.flatten()))
    if isinstance(conjunct, exp.Not):
        return 0.9
    return 0.5
