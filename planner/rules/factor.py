"""Factoring disjunctions: conjuncts common to every disjunct of an OR become conjuncts of their own.

    SELECT * FROM a JOIN b ON true WHERE (a.k = b.k AND a.x > 1) OR (a.k = b.k AND b.y < 2)
    ->  SELECT * FROM a JOIN b ON true WHERE a.k = b.k AND ((a.x > 1) OR (b.y < 2))

Equivalent by distributivity. It matters for federation because the common part is often a
join predicate (TPC-H Q19): once at the top level, it can join fragments and lend keys.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from ..split import SelectScope

__all__ = ["factor_disjunctions", "factor_where"]


def factor_where(select: exp.Select, scope: SelectScope) -> exp.Select:
    """Factor the disjunctions of ``select``'s WHERE (the rule placement runs on each SELECT)."""
    where = select.args.get("where")
    if where is not None:
        factored = factor_disjunctions(where.this, copy=scope.bound_copy)
        if factored is not where.this:
            where.set("this", factored)
    return select


def _copy(node: exp.Expr) -> exp.Expr:
    return node.copy()


def factor_disjunctions(condition: exp.Expr, copy: Callable[[exp.Expr], exp.Expr] = _copy) -> exp.Expr:
    """Pull conjuncts common to every disjunct of an OR out of it.

    ``(a = b AND x > 1) OR (a = b AND y < 2)``  ->  ``a = b AND (x > 1 OR y < 2)``

    Applied to every top-level conjunct of ``condition``; other shapes are returned unchanged.
    ``copy`` makes the new nodes (placement passes one that keeps the columns' binding).
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
        result.extend(copy(c) for c in common)
        if all(remainders):  # if some disjunct is only the common part, the OR is always true
            result.append(exp.paren(exp.or_(*[exp.paren(exp.and_(*[copy(c) for c in r], copy=False), copy=False)
                                             for r in remainders], copy=False), copy=False))
    if len(result) == len(conjuncts) and all(a is b for a, b in zip(result, conjuncts, strict=True)):
        return condition
    return exp.and_(*result, copy=False)


def _and_parts(node: exp.Expr) -> list[exp.Expr]:
    node = node.unnest() if isinstance(node, exp.Paren) else node
    parts = node.flatten() if isinstance(node, exp.And) else [node]
    return [part.unnest() if isinstance(part, exp.Paren) else part for part in parts]
