"""Governance: policies as pure AST rewrites, the function allow-list, identities, audit."""

from .lockdown import ALLOWED_ANONYMOUS, DENIED, lock_down
from .policies import (
    POLICY_KEY,
    TablePolicy,
    apply_policies,
    check_policies,
    policies_applied,
    policy_for,
    visible_schema,
)

__all__ = [
    "ALLOWED_ANONYMOUS",
    "DENIED",
    "POLICY_KEY",
    "TablePolicy",
    "apply_policies",
    "check_policies",
    "lock_down",
    "policies_applied",
    "policy_for",
    "visible_schema",
]
