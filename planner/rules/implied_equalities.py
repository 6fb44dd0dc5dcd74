"""Implied equalities: ``a = b AND b = c`` implies ``a = c``, which can join a and c in one engine.

    -- orders (o) and lineitem (l) in DuckDB, customer (c) in PostgreSQL
    SELECT * FROM o JOIN c ON o.k = c.k JOIN l ON c.k = l.k
    ->  SELECT * FROM o JOIN c ON o.k = c.k JOIN l ON c.k = l.k WHERE o.k = l.k   -- (implied)

Only equalities linking two FROM items of one engine are added, and only so that placement can
push them into the fragment they link (TPC-H Q5, Q9); one that is not pushed is dropped, so the
residual keeps the query's own predicates and nothing changes meaning.
"""

from __future__ import annotations

import itertools

from sqlglot import exp

from ..split import SelectScope

__all__ = ["implied_equalities"]


def implied_equalities(select: exp.Select, scope: SelectScope) -> exp.Select:
    pool = scope.pool(select)
    implied: list[exp.Expr] = []
    for cls in _classes(pool, scope):
        for a, b in itertools.combinations(cls, 2):
            source_a, source_b = scope.binding.source_of(a), scope.binding.source_of(b)
            if source_a is source_b or source_a is None or source_b is None:
                continue
            ia, ib = scope.leaf.get(id(source_a)), scope.leaf.get(id(source_b))
            if ia is None or ib is None or ia[0] != ib[0]:
                continue
            if any(_links(scope, c, source_a, source_b) for c in pool + implied):
                continue
            left, right = a.copy(), b.copy()
            scope.binding.bind(left, source_a)
            scope.binding.bind(right, source_b)
            implied.append(exp.EQ(this=left, expression=right))
    return scope.attach(select, implied)


def _classes(pool: list[exp.Expr], scope: SelectScope) -> list[list[exp.Column]]:
    """Columns the pool's column = column predicates make equal, as equivalence classes."""
    classes: list[list[exp.Column]] = []
    for conjunct in pool:
        if not (isinstance(conjunct, exp.EQ) and isinstance(conjunct.left, exp.Column)
                and isinstance(conjunct.right, exp.Column)):
            continue
        left, right = conjunct.left, conjunct.right
        if not all(_read_here(scope, c) for c in (left, right)):
            continue
        merged = [cls for cls in classes if any(_same_column(scope, left, c) or _same_column(scope, right, c)
                                                for c in cls)]
        new = [left, right] + [c for cls in merged for c in cls]
        classes = [cls for cls in classes if cls not in merged] + [new]
    return classes


def _read_here(scope: SelectScope, column: exp.Column) -> bool:
    source = scope.binding.source_of(column)
    return source is not None and id(source) in scope.owner


def _same_column(scope: SelectScope, a: exp.Column, b: exp.Column) -> bool:
    return scope.binding.source_of(a) is scope.binding.source_of(b) and a.name.lower() == b.name.lower()


def _links(scope: SelectScope, conjunct: exp.Expr, a: exp.Expr, b: exp.Expr) -> bool:
    if not isinstance(conjunct, exp.EQ):
        return False
    sources = {id(scope.binding.source_of(c)) for c in conjunct.find_all(exp.Column)}
    return sources == {id(a), id(b)}
