"""The principal in the client's SQL: ``current_user`` / ``session_user`` name the Flight SQL user.

Engines would answer with their own service account; flightmesh replaces both by the
principal's name as a literal before any fragment is cut. What a statement may contain at all
is decided by the closed language (``governance/language.py``), which runs first.
"""

from __future__ import annotations

from sqlglot import exp

from flightmesh.mesh import Principal

from .language import PRINCIPAL_FUNCTIONS

__all__ = ["lock_down"]


def lock_down(tree: exp.Expr, principal: Principal) -> None:
    """Make ``current_user`` and ``session_user`` the principal's name (in place)."""
    for node in list(tree.find_all(*PRINCIPAL_FUNCTIONS)):
        node.replace(exp.Literal.string(principal.name))
