"""Policies run where the data lives: a governed table's policy must be inside its engine's fragment.

A governed table is a subquery that filters the raw rows and masks columns (``governance.
wrap_table``). Placement pushes it into the product's fragment whole when the engine computes
what the mesh dialect means for every node of it. When it cannot (a row filter or mask using a
construct the engine computes otherwise: a ``Difference``), the rules would leave the filter or
the mask in the merge, over hidden rows or raw values streamed out of the engine. The client
would still see only what the policy allows, but the promise is stronger: no hidden row and no
unmasked value leaves the product's engine. Such a query is refused, closed and clearly.

A governed subquery that only leaves columns out (a deny) may stay in the merge: the columns it
omits are never read from the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlglot import exp

from flightmesh.governance import POLICY_KEY
from flightmesh.governance.policies import POLICY_DISPLAY_KEY
from flightmesh.mesh import UnsupportedQuery

from .split import FRAGMENT_KEY, FragmentDraft

__all__ = ["check_policies_in_engines"]

log = logging.getLogger(__name__)


def check_policies_in_engines(residual: exp.Expr | None, drafts: Sequence[FragmentDraft], *, reveal: bool) -> None:
    """Raise UnsupportedQuery when a row filter or mask of a governed table would run in the merge.

    ``reveal`` (an administrator) adds which construct kept the policy out of the engine.
    """
    if residual is None:
        return
    by_name = {draft.name: draft for draft in drafts}
    for node in residual.find_all(exp.Subquery):
        if not node.meta.get(POLICY_KEY) or not _filters_or_masks(node.this):
            continue
        fragments = [by_name[name] for table in node.find_all(exp.Table)
                     if (name := table.meta.get(FRAGMENT_KEY)) in by_name]
        table = ", ".join(sorted({f"{t.product}.{t.name}" for draft in fragments for t in draft.tables})) \
            or "a governed table"
        reason = _why(node.this, fragments)
        shown = ", ".join(node.meta.get(POLICY_DISPLAY_KEY) or ())
        log.warning("refused: the policies on %s (%s) cannot run inside the engine: %s", table, shown, reason)
        detail = f" ({reason})" if reveal else ""
        raise UnsupportedQuery(
            f"the policies on {table} cannot run inside its product's engine{detail}, and flightmesh never "
            "streams hidden rows or unmasked values out of an engine; the product's owner can write the row "
            "filter or mask with constructs the engine computes as the mesh dialect does (flightmesh's log "
            "names the construct)")


def _filters_or_masks(query: exp.Expr) -> bool:
    """Does the governed subquery filter rows or compute a column (more than leaving columns out)?"""
    if not isinstance(query, exp.Select):
        return True  # not the shape wrap_table builds: assume the worst
    if query.args.get("where") is not None:
        return True
    return any(not isinstance(item.unalias(), exp.Column) for item in query.expressions)


def _why(query: exp.Expr, fragments: Sequence[FragmentDraft]) -> str:
    """The first construct of the policy an engine below refuses, in words."""
    for draft in fragments:
        capabilities = draft.connector.capabilities
        for item in query.walk():
            if capabilities.supports(item):
                continue
            difference = capabilities.difference(item)
            said = difference.reason if difference is not None else "the engine cannot evaluate it"
            return f"{item.sql(dialect='duckdb')[:80]}: {said}"
    return "the planner could not place it in one engine"
