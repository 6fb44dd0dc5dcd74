"""Which source each column reads: the binding the splitter and the renderer rely on.

After qualification every column names a table alias, but aliases can repeat across scopes
(TPC-H Q2's subquery reuses the outer query's table names). A column belongs to the nearest
enclosing scope that has a source with its alias — SQL's rule — so binding is computed per
scope, innermost first, and keyed by the column node itself rather than by its alias.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

__all__ = ["Binding", "bind_columns", "bind_scopes"]


class Binding:
    """Column node -> the node it reads: an ``exp.Table`` or a derived-table ``exp.Subquery``."""

    def __init__(self) -> None:
        self._sources: dict[int, exp.Expr] = {}
        self._columns: dict[int, exp.Column] = {}

    def source_of(self, column: exp.Column) -> exp.Expr | None:
        return self._sources.get(id(column))

    def bind(self, column: exp.Column, source: exp.Expr) -> None:
        if id(column) not in self._sources:
            self._sources[id(column)] = source
            self._columns[id(column)] = column  # keeps the node alive, so its id stays unique



def bind_columns(tree: exp.Expr) -> Binding:
    return bind_scopes(traverse_scope(tree))


def bind_scopes(scopes: Iterable[Scope]) -> Binding:
    """The binding of a tree whose scopes (``traverse_scope``) are already built."""
    binding = Binding()
    for scope in scopes:
        for column in scope.columns:
            if not column.table:
                continue
            source = _lookup(scope, column.table)
            if source is not None:
                binding.bind(column, source)
    return binding


def _lookup(scope: Scope | None, alias: str) -> exp.Expr | None:
    while scope is not None:
        source = scope.sources.get(alias)
        if isinstance(source, exp.Table):
            return source
        if isinstance(source, Scope):
            node = source.expression
            # A derived table's scope is its query; the FROM item is the Subquery around it.
            return node.parent if isinstance(node.parent, exp.Subquery) else node
        scope = scope.parent
    return None
