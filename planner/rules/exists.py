"""EXISTS reads no columns: its subquery's select list becomes ``SELECT 1`` (run before resolution).

    SELECT a FROM t WHERE EXISTS (SELECT * FROM u WHERE u.b = t.a)
    ->  SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.b = t.a)
"""

from __future__ import annotations

from sqlglot import exp

__all__ = ["exists_select_one"]


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
