"""The function allow-list: what a query may call, checked before anything reaches an engine.

sqlglot parses functions it knows into typed nodes (``exp.Sum``, ``exp.Substring`` ...) and the
rest into ``exp.Anonymous``. Typed functions are allowed except those that read files or
reveal or change the engine behind a product (``DENIED``). Anonymous functions are engine escape
hatches as often as not (``getenv``, ``pg_read_file``, ``dblink``, ``load_extension``,
``pg_sleep``) and are refused unless listed in ``ALLOWED_ANONYMOUS``.

``current_user`` / ``session_user`` name the principal, not the engine's service account: they
are replaced by the principal's name as a literal.
"""

from __future__ import annotations

from sqlglot import exp

from flightmesh.mesh import ForbiddenFunction, Principal

__all__ = ["ALLOWED_ANONYMOUS", "DENIED", "lock_down"]

# Typed sqlglot functions that touch files, sequences or the engine's own identity.
DENIED: frozenset[type[exp.Expr]] = frozenset({
    exp.ReadCSV, exp.ReadParquet, exp.ToFile, exp.Secret, exp.NextValueFor,
    exp.CurrentAccount, exp.CurrentAccountName, exp.CurrentAvailableRoles, exp.CurrentCatalog,
    exp.CurrentClient, exp.CurrentDatabase, exp.CurrentIpAddress, exp.CurrentOrganizationName,
    exp.CurrentOrganizationUser, exp.CurrentRegion, exp.CurrentRole, exp.CurrentRoleType,
    exp.CurrentSchema, exp.CurrentSchemas, exp.CurrentSecondaryRoles, exp.CurrentSession,
    exp.CurrentStatement, exp.CurrentTransaction, exp.CurrentUserId, exp.CurrentVersion,
    exp.CurrentWarehouse,
})

# Functions sqlglot does not model that are known to be pure computations in every engine we
# push to. Lower-case names.
ALLOWED_ANONYMOUS: frozenset[str] = frozenset({"now"})

_PRINCIPAL_FUNCTIONS = (exp.CurrentUser, exp.SessionUser)


def lock_down(tree: exp.Expression, principal: Principal) -> None:
    """Refuse forbidden functions in ``tree``; make ``current_user`` the principal's name (in place)."""
    for node in list(tree.walk()):
        if isinstance(node, _PRINCIPAL_FUNCTIONS):
            node.replace(exp.Literal.string(principal.name))
        elif isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name not in ALLOWED_ANONYMOUS:
                raise ForbiddenFunction(f"function {name} is not allowed")
        elif isinstance(node, exp.SessionParameter):
            raise ForbiddenFunction(f"session variable @@{node.name} is not allowed")
        elif isinstance(node, exp.Func) and type(node) in DENIED:
            raise ForbiddenFunction(f"function {node.sql_name().lower()} is not allowed")
