"""Where MariaDB/MySQL computes something other than the mesh dialect (DuckDB SQL) means.

``DIFFERENCES`` are the typed nodes a fragment for MariaDB/MySQL must leave to the residual;
``faithful`` rewrites a fragment so MariaDB/MySQL computes the mesh's meaning where a plain rendering
would not. Each entry is verified on the real engine (tests/connectors/test_semantics_mysql.py).
"""

from __future__ import annotations

from sqlglot import exp

from .base import Difference

__all__ = ["DIFFERENCES", "faithful"]

DIFFERENCES: tuple[Difference, ...] = ()


def faithful(tree: exp.Expr) -> exp.Expr:
    """``tree`` rendered to mean in MariaDB/MySQL what it means in the mesh dialect."""
    return tree
