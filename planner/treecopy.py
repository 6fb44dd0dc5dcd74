"""Copies of query trees that share the nodes' inferred types instead of copying them.

sqlglot's ``copy()`` deep-copies every node's inferred type (a ``DataType`` tree) and its meta
through ``copy.deepcopy``; once the planner has annotated every node, that is most of the cost of
a copy, and the planner copies each fragment to name it for its engine and again to render it.
Types are values here: the planner and sqlglot's annotator assign new ones and never change one in
place (the annotator itself hands one ``DataType`` to every column of a type), so a copy may share
them. Everything else is copied as sqlglot copies it.
"""

from __future__ import annotations

from copy import deepcopy
from typing import TypeVar

from sqlglot import exp

__all__ = ["copy_tree"]

E = TypeVar("E", bound=exp.Expr)

_PLAIN = (str, int, float, bool, type(None))  # meta values a copy can share as they are


def copy_tree(tree: E) -> E:
    """A copy of ``tree`` (no parent), its nodes new, their types shared with ``tree``'s."""
    root = tree.__class__()
    stack: list[tuple[exp.Expr, exp.Expr]] = [(tree, root)]
    push, pop, expr = stack.append, stack.pop, exp.Expr
    while stack:
        node, copy = pop()
        if node.comments is not None:
            copy.comments = list(node.comments)
        if node._type is not None:
            copy._type = node._type
        meta = node._meta
        if meta is not None:
            copy._meta = {key: value if isinstance(value, _PLAIN) else deepcopy(value) for key, value in meta.items()}
        if node._hash is not None:
            copy._hash = node._hash
        # The links ``Expr.set`` / ``append`` would make (parent, arg_key, index), made directly:
        # the copy is new, so none of their other work (replacing, clearing hashes) applies.
        args = copy.args
        for key, value in node.args.items():
            if isinstance(value, expr):
                child = value.__class__()
                child.parent, child.arg_key = copy, key
                push((value, child))
                args[key] = child
            elif type(value) is list:
                items: list[object] = []
                for index, item in enumerate(value):
                    if isinstance(item, expr):
                        child = item.__class__()
                        child.parent, child.arg_key, child.index = copy, key, index
                        push((item, child))
                        items.append(child)
                    else:
                        items.append(item)
                args[key] = items
            else:
                args[key] = value
    return root
