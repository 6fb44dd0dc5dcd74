"""Small rewrite rules the splitter applies before it cuts: each pure, each with its example."""

from __future__ import annotations

from sqlglot import exp

__all__ = ["exists_select_one", "factor_disjunctions"]


def exists_select_one(tree: exp.Expr) -> exp.Expr:
    """An EXISTS subquery's select list does not matter: make it ``SELECT 1`` (in place).

    ``EXISTS (SELECT * FROM orders WHERE o_custkey = c_custkey)``
    ->  ``EXISTS (SELECT 1 FROM orders WHERE o_custkey = c_custkey)``

    Run before qualification, so the star is never expanded into columns that a fragment would
    then have to read and ship (TPC-H Q21, Q22). Not applied when the select list aggregates
    without GROUP BY: ``EXISTS (SELECT max(x) FROM t WHERE false)`` is true, because an
    aggregate returns a row even over no rows.
    """
    for exists in list(tree.find_all(exp.Exists)):
        select = exists.this
        if not isinstance(select, exp.Select):
            continue
        aggregates = any(isinstance(node, exp.AggFunc) for projection in select.expressions
                         for node in projection.walk(prune=lambda n: isinstance(n, exp.Query)))
        if aggregates and select.args.get("group") is None:
            continue
        select.set("expressions", [exp.Literal.number(1)])
    return tree


def factor_disjunctions(condition: exp.Expr) -> exp.Expr:
    """Pull conjuncts common to every disjunct out of an OR.

    ``(a = b AND x > 1) OR (a = b AND y < 2)``  ->  ``a = b AND (x > 1 OR y < 2)``

    Equivalent by distributivity. It matters for federation because the common part is often
    a join predicate (TPC-H Q19): once at the top level, it can join fragments and lend keys.
    Applied to every top-level conjunct of ``condition``; other shapes are returned unchanged.
    """
    conjuncts = list(condition.flatten()) if isinstance(condition, exp.And) else [condition]
    result: list[exp.Expr] = []
    for conjunct in conjuncts:
        inner = conjunct.unnest() if isinstance(conjunct, exp.Paren) else conjunct
        if not isinstance(inner, exp.Or):
            result.append(conjunct)
            continue
        disjuncts = [_and_parts(disjunct) for disjunct in inner.flatten()]
        common = [c for c in disjuncts[0] if all(any(c == other for other in rest) for rest in disjuncts[1:])]
        if not common:
            result.append(conjunct)
            continue
        remainders = [[c for c in d if not any(c == k for k in common)] for d in disjuncts]
        result.extend(c.copy() for c in common)
        if all(remainders):  # if some disjunct is only the common part, the OR is always true
            result.append(exp.paren(exp.or_(*[exp.paren(exp.and_(*[c.copy() for c in r], copy=False), copy=False)
                                             for r in remainders], copy=False), copy=False))
    if len(result) == len(conjuncts) and all(a is b for a, b in zip(result, conjuncts, strict=True)):
        return condition
    return exp.and_(*result, copy=False)


def _and_parts(node: exp.Expr) -> list[exp.Expr]:
    node = node.unnest() if isinstance(node, exp.Paren) else node
    parts = node.flatten() if isinstance(node, exp.And) else [node]
    return [part.unnest() if isinstance(part, exp.Paren) else part for part in parts]
