"""Filters implied by OR-ed conditions: each FROM item gets the OR of its own parts.

    -- lineitem (l) in DuckDB, part (p) in SQLite
    SELECT * FROM l JOIN p ON p.k = l.k
    WHERE (p.brand = 'A' AND l.qty < 5) OR (p.brand = 'B' AND l.qty > 20)
    ->  ... WHERE (p.brand = 'A' AND l.qty < 5) OR (p.brand = 'B' AND l.qty > 20)
            AND ((p.brand = 'A') OR (p.brand = 'B')) AND ((l.qty < 5) OR (l.qty > 20))   -- (implied)

Every row the disjunction keeps satisfies one disjunct, hence that disjunct's part over item A:
the OR of the A-parts is implied, and can filter A inside its own fragment (TPC-H Q19). The
disjunction itself stays in the residual; an implied filter that is not pushed is dropped.
"""

from __future__ import annotations

from sqlglot import exp

from ..split import SelectScope, conjuncts

__all__ = ["or_implied_filters"]


def or_implied_filters(select: exp.Select, scope: SelectScope) -> exp.Select:
    implied: list[exp.Expr] = []
    for conjunct in scope.pool(select):
        if not isinstance(conjunct, exp.Or) or len(scope.references(conjunct)) < 2:
            continue
        disjuncts = [d.unnest() if isinstance(d, exp.Paren) else d for d in conjunct.flatten()]
        for item in scope.core:
            implied += _implied_for(item, disjuncts, scope)
    return scope.attach(select, implied)


def _implied_for(item: exp.Expr, disjuncts: list[exp.Expr], scope: SelectScope) -> list[exp.Expr]:
    """``[OR of each disjunct's conjuncts over item]``, or nothing if one disjunct has none."""
    parts: list[exp.Expr] = []
    for disjunct in disjuncts:
        mine = [c for c in conjuncts(disjunct) if _reads_only(scope, c, item)]
        if not mine:
            return []
        parts.append(exp.and_(*[scope.bound_copy(c) for c in mine], copy=False))
    return [exp.or_(*[exp.paren(p, copy=False) for p in parts], copy=False)]


def _reads_only(scope: SelectScope, conjunct: exp.Expr, item: exp.Expr) -> bool:
    columns = list(conjunct.find_all(exp.Column))
    return bool(columns) and not any(conjunct.find_all(exp.Query)) and all(
        scope.binding.source_of(column) is item for column in columns)
