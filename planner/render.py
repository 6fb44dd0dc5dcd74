"""Rendering a fragment in its engine's dialect.

The fragment's tree speaks the mesh's canonical names (``"product"."table"``, lower-cased
columns). Rendering swaps in the engine's own names — the table's source as the connector
spells it, each column as the engine spells it — and prints with sqlglot in the connector's
dialect, quoting every identifier and refusing (``unsupported_level=RAISE``) anything the
dialect cannot express. No client text survives to here: every string is printed by the generator.
"""

from __future__ import annotations

import weakref

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from flightmesh.connectors import Connector
from flightmesh.mesh import UnsupportedQuery

from .binding import bind_columns
from .resolve import Resolution
from .treecopy import copy_tree

__all__ = ["engine_tree", "render"]


def engine_tree(tree: exp.Expr, connector: Connector, resolution: Resolution) -> exp.Expr:
    """A copy of ``tree`` naming tables and columns the way ``connector``'s engine does."""
    tree = copy_tree(tree)
    # One walk for what the respelling check and the table swap each read.
    tables: list[exp.Table] = []
    columns: list[exp.Column] = []
    for node in tree.walk():
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.Column):
            columns.append(node)
    if _respells(tables, columns, resolution):
        _respell_columns(tree, resolution)
    for node in tables:
        table = resolution.of(node)
        if table is None:
            continue
        replacement = _table_expression(connector, table.spec.source)
        replacement.set("alias", node.args.get("alias"))
        replacement.meta.update(node.meta)  # which catalog table it is (EXPLAIN names governed ones)
        node.replace(replacement)
    return tree


# connector -> source -> how it names the table. ``table_expression`` parses the name (sqlglot's
# ``to_table``) on every call, once per table of every fragment planned; the answer depends on the
# source alone, so each connector's is kept while the connector lives (a reload makes new ones).
_TABLES: weakref.WeakKeyDictionary[Connector, dict[str, exp.Table]] = weakref.WeakKeyDictionary()


def _table_expression(connector: Connector, source: str) -> exp.Table:
    """A new copy of ``connector.table_expression(source)``."""
    try:
        known = _TABLES.get(connector)
        if known is None:
            known = _TABLES.setdefault(connector, {})
    except TypeError:  # a connector that cannot be weakly referenced: asked every time
        return connector.table_expression(source)
    table = known.get(source)
    if table is None:
        table = known[source] = connector.table_expression(source)
    return copy_tree(table)


def _respells(tables: list[exp.Table], columns: list[exp.Column], resolution: Resolution) -> bool:
    """Would naming columns the engine's way change any? Not when every column of the fragment's
    ``tables`` is spelled in lower case (the mesh's form) and every column reference is that form,
    quoted: then the binding (a scope walk) is not worth building."""
    for node in tables:
        table = resolution.of(node)
        if table is not None and any(item.name != item.name.lower() for item in table.schema):
            return True
    return any(not (isinstance(column.this, exp.Identifier) and column.this.quoted
                    and column.name == column.name.lower()) for column in columns)


def _respell_columns(tree: exp.Expr, resolution: Resolution) -> None:
    binding = bind_columns(tree)
    for column in list(tree.find_all(exp.Column)):
        source = binding.source_of(column)
        table = resolution.of(source) if source is not None else None
        if table is None:
            continue
        field = table.field_named(column.name)
        if field is not None:
            column.set("this", exp.to_identifier(field.name, quoted=True))


def render(tree: exp.Expr, dialect: str, *, owned: bool = False) -> str:
    """SQL text for ``tree`` in ``dialect``; raises UnsupportedQuery instead of guessing.

    ``owned``: the caller's own throwaway copy, which the generator may rewrite as it renders.
    """
    try:
        # A copy sharing the nodes' types: the generator rewrites what it is given.
        subject = tree if owned else copy_tree(tree)
        return subject.sql(dialect=dialect, identify=True, unsupported_level=ErrorLevel.RAISE, copy=False)
    except UnsupportedError as error:
        raise UnsupportedQuery(f"cannot express part of the query in {dialect}: {error}") from None
