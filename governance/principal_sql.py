"""The principal inside policy SQL: ``current_user``, ``user_attribute('k')``, ``has_role('r')``.

Row filters and masks are written once in the descriptor and hold for everyone; what makes them
personal is the principal, which they may name through three functions:

=========================== ============================================================
``current_user``            the principal's name (also ``session_user``, ``current_user()``)
``user_attribute('region')`` the value of the user's attribute ``region`` (``users.<u>.attributes``);
                            NULL when the user has no such attribute, so a comparison with it
                            is never true and a filter built on it shows nothing (fail closed).
                            A list attribute is allowed only as the whole list of an ``IN``:
                            ``region IN (user_attribute('regions'))``
``has_role('auditor')``     TRUE when the principal holds the role, else FALSE
=========================== ============================================================

``bind_principal`` replaces each by an AST literal, so the generator quotes the value: an
attribute holding ``x' OR '1'='1`` is compared as that string, never pasted into SQL. Example::

    >>> bind_principal(parse("region = user_attribute('region') OR owner = current_user"), alice)
    region = 'EMEA' OR owner = 'alice'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from flightmesh.mesh import Principal
from flightmesh.mesh.sqltypes import UnsupportedLiteral, sql_literal

__all__ = ["PRINCIPAL_FUNCTIONS", "PolicySqlError", "bind_principal", "literal_of"]

PRINCIPAL_FUNCTIONS = frozenset({"user_attribute", "has_role"})


class PolicySqlError(ValueError):
    """A policy expression uses the principal functions wrongly (a descriptor mistake)."""


def bind_principal(expression: exp.Expr, principal: Principal) -> exp.Expr:
    """A copy of ``expression`` with the principal's name, attributes and roles as literals."""
    holder = exp.Paren(this=expression.copy())  # so that the root itself can be replaced
    for node in list(holder.walk()):
        if isinstance(node, (exp.CurrentUser, exp.SessionUser)):
            node.replace(exp.Literal.string(principal.name))
        elif isinstance(node, exp.Anonymous) and node.name.lower() in PRINCIPAL_FUNCTIONS:
            _replace_call(node, principal)
    result: exp.Expr = holder.this
    result.parent = None
    return result


def _replace_call(node: exp.Anonymous, principal: Principal) -> None:
    name = node.name.lower()
    arguments = node.expressions
    if len(arguments) != 1 or not isinstance(arguments[0], exp.Literal) or not arguments[0].is_string:
        raise PolicySqlError(f"{name}() takes one string literal, e.g. {name}('region')")
    key = arguments[0].name
    if name == "has_role":
        node.replace(exp.Boolean(this=key in principal.roles))
        return
    value = _attribute(principal.attributes, key)
    if isinstance(value, (list, tuple)):
        parent = node.parent
        if not isinstance(parent, exp.In) or len(parent.expressions) != 1:
            raise PolicySqlError(f"attribute {key!r} is a list: use it as the whole list of an IN, "
                                 f"e.g. x IN (user_attribute('{key}'))")
        # An empty list would make ``x IN ()``: invalid SQL. ``x IN (NULL)`` is never true.
        parent.set("expressions", [literal_of(item) for item in value] or [exp.Null()])
        return
    node.replace(literal_of(value))


def _attribute(attributes: Mapping[str, Any], key: str) -> Any:
    return attributes.get(key)


def literal_of(value: Any) -> exp.Expr:
    """The SQL literal for an attribute value (``flightmesh.mesh.sqltypes.sql_literal``)."""
    try:
        return sql_literal(value)
    except UnsupportedLiteral:
        raise PolicySqlError(f"an attribute of type {type(value).__name__} cannot be used in SQL") from None
