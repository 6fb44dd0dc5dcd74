"""Governance: policies as pure AST rewrites, the function allow-list, identities, audit."""

from .lockdown import ALLOWED_ANONYMOUS, DENIED, lock_down

__all__ = ["ALLOWED_ANONYMOUS", "DENIED", "lock_down"]
