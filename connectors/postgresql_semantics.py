"""Where PostgreSQL computes something other than the mesh dialect (DuckDB SQL) means.

``DIFFERENCES`` are the typed nodes a fragment for PostgreSQL must leave to the residual;
``faithful`` rewrites a fragment so PostgreSQL computes the mesh's meaning where a plain rendering
would not. Each entry is verified on the real engine (tests/connectors/test_semantics_postgresql.py).
"""

from __future__ import annotations

from sqlglot import exp

from .base import Difference

__all__ = ["DIFFERENCES", "faithful"]

DIFFERENCES: tuple[Difference, ...] = ()


def faithful(tree: exp.Expr) -> exp.Expr:
    """``tree`` rendered to mean in PostgreSQL what it means in the mesh dialect."""
    return tree
