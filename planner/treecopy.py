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
    while stack:
        node, copy = stack.pop()
        if node.comments is not None:
            copy.comments = list(node.comments)
        if node._type is not None:
            copy._type = node._type
        if node._meta is not None:
            copy._meta = {key: value if isinstance(value, _PLAIN) else deepcopy(value)
                          for key, value in node._meta.items()}
        if node._hash is not None:
            copy._hash = node._hash
        for key, value in node.args.items():
            if isinstance(value, exp.Expr):
                child = value.__class__()
                stack.append((value, child))
                copy.set(key, child)
            elif type(value) is list:
                copy.args[key] = []
                for item in value:
                    if isinstance(item, exp.Expr):
                        child = item.__class__()
                        stack.append((item, child))
                        copy.append(key, child)
                    else:
                        copy.append(key, item)
            else:
                copy.args[key] = value
    return root
