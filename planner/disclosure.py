"""What EXPLAIN may show of a fragment: policies by name, never their SQL.

A governed table reaches its engine as a subquery holding the row filter and the masks. Printed
as is, EXPLAIN would hand the user the policy's text: the names of columns it reads (denied ones
too) and literals only hidden rows hold (legal-hold ids, status values). So, unless the
principal holds one of ``auth.admin_roles``, EXPLAIN shows each governed subquery as the
table's name in the form ``"governed crm.customers"`` and lists the policies that applied by
name and kind::

    SELECT "c"."name" FROM (SELECT CASE WHEN "customers"."region" = 'EMEA' THEN ... ) AS "c"
    ->
    SELECT "c"."name" FROM "governed crm.customers" AS "c"
    policies: row filter `by_region` on crm.customers, deny crm.customers.ssn

Denied columns are not listed at all: for everyone else they do not exist (README, deny_columns).
The estimated rows of a fragment that reads a row-filtered table are not shown to a principal
the filter applies to either: the estimate comes from the whole table, and the difference
between it and what the user can count is the number of hidden rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from flightmesh.governance import POLICY_KEY
from flightmesh.governance.policies import POLICY_DISPLAY_KEY

from .plan import governed_table
from .treecopy import copy_tree

__all__ = ["Disclosure", "disclose"]




@dataclass(frozen=True)
class Disclosure:
    sql: str                      # the statement as EXPLAIN shows it
    policies: tuple[str, ...]     # the policies that applied, by name and kind
    row_filtered: bool            # reads a table whose rows a filter restricts for this principal


def disclose(tree: exp.Expr, sql: str, dialect: str, *, reveal: bool) -> Disclosure:
    """How EXPLAIN shows ``tree`` (rendered as ``sql``) to a principal; ``reveal``: an admin."""
    governed = [node for node in tree.find_all(exp.Subquery) if node.meta.get(POLICY_KEY)]
    policies: list[str] = []
    row_filtered = False
    for node in governed:
        labels = tuple(node.meta.get(POLICY_KEY) or ())
        names = tuple(node.meta.get(POLICY_DISPLAY_KEY) or labels)
        row_filtered |= any(label.startswith("row_filter") for label in labels)
        for label, name in zip(labels, names, strict=False):
            # A deny names a column the principal must not learn exists: only admins see it.
            if (reveal or not label.startswith("deny")) and name not in policies:
                policies.append(name)
    if reveal or not governed:
        return Disclosure(sql, tuple(policies), row_filtered)
    shown = copy_tree(tree)  # the nodes' types shared, not deep-copied: only the text is wanted
    for node in list(shown.find_all(exp.Subquery)):
        if node.meta.get(POLICY_KEY):
            node.replace(exp.Table(this=exp.to_identifier(f"governed {governed_table(node) or 'table'}", quoted=True),
                                   alias=node.args.get("alias")))
    return Disclosure(shown.sql(dialect=dialect, identify=True, copy=False), tuple(policies), row_filtered)

