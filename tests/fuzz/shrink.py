"""Reduce a failing query to a small one that still fails the same way (greedy delta debugging).

``shrink(sql, still_fails)`` parses the query with sqlglot (DuckDB dialect) and tries, biggest
cuts first, every one-step reduction:

- drop an optional clause: WHERE, HAVING, ORDER BY (with its LIMIT), LIMIT, DISTINCT, GROUP BY, a CTE
  list, a join;
- drop one item of a list: a projection (and the ORDER BY terms naming it), a GROUP BY or
  ORDER BY term, a PARTITION BY, an IN-list value;
- a set operation -> one of its sides; a FULL/LEFT join -> a LEFT/INNER one;
- a predicate AND/OR -> one side, NOT p -> p;
- any expression -> one of its sub-expressions (a function call to an argument, ``a + b`` to
  ``a``, a CASE to a branch, a cast to its operand, a subquery comparison to TRUE).

A reduction is kept when ``still_fails(candidate_sql)`` is true (the caller checks that the
*same* signature comes back, see differential.py); the search restarts from the smaller query
and stops when no reduction is kept or ``budget`` evaluations are spent. A reduction that makes
the query invalid makes the oracle refuse it, so its signature changes and it is not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlglot
from sqlglot import exp

__all__ = ["shrink"]

_CLAUSES = ("with", "where", "having", "order", "limit", "distinct", "group", "qualify")
_LISTS = ("expressions", "joins", "partition_by")


def shrink(sql: str, still_fails: Callable[[str], bool], *, budget: int = 400) -> tuple[str, int]:
    """The smallest failing query found, and the number of candidates evaluated."""
    current = sqlglot.parse_one(sql, read="duckdb")
    current_sql = current.sql("duckdb")
    spent = 0
    seen: set[str] = {current_sql}
    improved = True
    while improved and spent < budget:
        improved = False
        candidates = sorted(_candidates(current), key=len)
        for candidate in candidates:
            if candidate in seen or len(candidate) > len(current_sql):
                continue
            seen.add(candidate)
            spent += 1
            if still_fails(candidate):
                current = sqlglot.parse_one(candidate, read="duckdb")
                current_sql = candidate
                improved = True
                break
            if spent >= budget:
                break
    return current_sql, spent


def _candidates(tree: exp.Expression) -> Iterator[str]:
    """Every one-step reduction of ``tree``, as SQL."""
    nodes = list(tree.walk())
    for index, node in enumerate(nodes):
        for change in _changes(node):
            copy = tree.copy()
            target = list(copy.walk())[index]
            try:
                rendered = change(target, copy).sql("duckdb")
                sqlglot.parse_one(rendered, read="duckdb")  # a reduction must stay a statement
                yield rendered
            except Exception:
                continue


Change = Callable[[exp.Expression, exp.Expression], exp.Expression]


def _replace(node: exp.Expression, root: exp.Expression, replacement: exp.Expression) -> exp.Expression:
    if node is root:
        return replacement
    node.replace(replacement)
    return root


def _changes(node: exp.Expression) -> Iterator[Change]:
    for clause in _CLAUSES:
        if node.args.get(clause) is not None:
            yield lambda n, root, clause=clause: _drop_clause(n, root, clause)
    for name in _LISTS:
        items = node.args.get(name)
        if isinstance(items, list) and (len(items) > 1 or (name != "expressions" and items)):
            for position in range(len(items)):
                yield lambda n, root, name=name, position=position: _drop_item(n, root, name, position)
    if isinstance(node, (exp.Order, exp.Group)) and len(node.expressions) > 1:
        for position in range(len(node.expressions)):
            yield lambda n, root, position=position: _drop_item(n, root, "expressions", position)
    if isinstance(node, exp.In) and len(node.expressions) > 1:
        for position in range(len(node.expressions)):
            yield lambda n, root, position=position: _drop_item(n, root, "expressions", position)
    if isinstance(node, exp.SetOperation):
        for side in ("this", "expression"):
            yield lambda n, root, side=side: _replace(n, root, _with_order(n, n.args[side].copy()))
    if isinstance(node, exp.Join) and node.args.get("side"):
        yield lambda n, root: (n.set("side", "LEFT" if n.side == "FULL" else None), root)[1]
    if isinstance(node, (exp.Subquery, exp.Exists)) or (isinstance(node, exp.In) and node.args.get("query")):
        yield lambda n, root: _replace(n, root, exp.true())
    if not isinstance(node, _VALUES) or isinstance(node, exp.Query):
        return
    condition = _is_condition(node)
    for child in _sub_expressions(node):
        # A condition stays a condition: `WHERE 't'` or `ON t1.k` would test how engines coerce
        # a string or a number to a boolean, another bug than the one being shrunk.
        if condition and not isinstance(_args_child(node, child), _PREDICATES):
            continue
        yield lambda n, root, child=child: _replace(n, root, _args_child(n, child).copy())


# Value expressions: the ones that may be replaced by one of their operands.
_VALUES = (exp.Func, exp.Binary, exp.Unary, exp.Cast, exp.Case, exp.If, exp.Between, exp.In, exp.Window)


_PREDICATES = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.Exists, exp.In, exp.Between)


def _is_condition(node: exp.Expression) -> bool:
    """Is ``node`` where SQL wants a boolean: a WHERE/HAVING/ON condition or an AND/OR/NOT operand?"""
    parent = node.parent
    while isinstance(parent, exp.Paren):
        node, parent = parent, parent.parent
    if isinstance(parent, (exp.Where, exp.Having, exp.Connector, exp.Not)):
        return True
    return isinstance(parent, exp.Join) and node.arg_key == "on"


def _sub_expressions(node: exp.Expression) -> list[tuple[str, int | None]]:
    found: list[tuple[str, int | None]] = []
    for key, value in node.args.items():
        values = value if isinstance(value, list) else [value]
        for position, item in enumerate(values):
            if isinstance(item, exp.Expression) and not isinstance(
                    item, (exp.Identifier, exp.DataType, exp.Var, exp.Query, exp.Subquery, exp.WindowSpec,
                           exp.Order, exp.Interval)) and key not in ("partition_by", "order"):
                found.append((key, position if isinstance(value, list) else None))
    return found


def _args_child(node: exp.Expression, where: tuple[str, int | None]) -> exp.Expression:
    key, position = where
    value = node.args[key]
    return value[position] if position is not None else value


def _drop_clause(node: exp.Expression, root: exp.Expression, clause: str) -> exp.Expression:
    node.set(clause, None)
    if clause == "order":  # a LIMIT without its ORDER BY has no one answer to compare
        node.set("limit", None)
    return root


def _drop_item(node: exp.Expression, root: exp.Expression, name: str, position: int) -> exp.Expression:
    items = list(node.args[name])
    removed = items.pop(position)
    node.set(name, items)
    if name == "expressions" and isinstance(node, exp.Select) and isinstance(removed, exp.Alias):
        order = node.args.get("order")
        if order is not None:  # ORDER BY terms naming the dropped output go with it
            kept = [term for term in order.expressions
                    if not (isinstance(term.this, exp.Column) and term.this.name == removed.alias)]
            node.set("order", exp.Order(expressions=kept) if kept else None)
    return root


def _with_order(operation: exp.Expression, side: exp.Expression) -> exp.Expression:
    """One side of a set operation, keeping the operation's ORDER BY and LIMIT."""
    for clause in ("order", "limit"):
        if operation.args.get(clause) is not None and isinstance(side, exp.Select):
            side.set(clause, operation.args[clause].copy())
    return side
