"""Governance: the closed language, policies as pure AST rewrites, identities, audit."""

from .language import ALLOWED_ANONYMOUS, VETTED, check_field_access, check_fragment, check_statement, integer_value
from .lockdown import lock_down
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
    "POLICY_KEY",
    "VETTED",
    "TablePolicy",
    "apply_policies",
    "check_field_access",
    "check_fragment",
    "check_policies",
    "check_statement",
    "integer_value",
    "lock_down",
    "policies_applied",
    "policy_for",
    "visible_schema",
]
