"""What the planner's rules take and return: the query being cut, and what they may know.

A rule is ``rule(cut, context) -> cut``: it reads the tree and fragments of ``cut`` and returns
the next ``Cut``. It does no I/O and touches nothing outside the planning run: the trees it
rewrites belong to this run alone (``plan_statement`` copies the statement first), so rules
rewrite them where they stand instead of copying, which also keeps the column binding (keyed by
node) valid. A rule over one SELECT, ``rule(select, scope) -> select``, is run by placement on
each SELECT it is about to cut, with that SELECT's ``SelectScope``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlglot import exp

from flightmesh.connectors import Connector
from flightmesh.mesh import CatalogTable

from ..binding import Binding
from ..estimate import estimate_rows
from ..resolve import Resolution
from ..split import IMPLIED_KEY, FragmentDraft, Identity, SelectRule, SelectScope

__all__ = ["IMPLIED_KEY", "Cut", "Identity", "Rule", "RuleContext", "SelectRule", "SelectScope"]



@dataclass(frozen=True)
class Cut:
    """The query under planning: the tree still to place (then the residual) and its fragments."""

    tree: exp.Query | None                      # None once one fragment is the whole query
    fragments: tuple[FragmentDraft, ...] = ()
    placed: bool = False                        # placement ran: ``tree`` is the residual
    names: frozenset[str] = frozenset()         # identifiers a new fragment name must avoid
    notes: tuple[str, ...] = ()
    # Rows each fragment reads before any pre-aggregation (what key filters act on): recorded
    # by the first rule that rewrites fragments, so later estimates see the original reads.
    scanned: Mapping[str, float] | None = None
    binding: Binding | None = None              # of ``tree``, when a rule left it valid


@dataclass(frozen=True)
class RuleContext:
    resolution: Resolution
    connector_for: Callable[[CatalogTable], Connector]
    pre_aggregate_min_rows: float = 0.0
    select_rules: tuple[SelectRule, ...] = ()   # what placement runs on each SELECT it cuts


Rule = Callable[[Cut, RuleContext], Cut]


def scanned_rows(cut: Cut, context: RuleContext) -> Mapping[str, float]:
    """``cut.scanned``, or the fragments' row estimates now (before any rule reduced them)."""
    if cut.scanned is not None:
        return cut.scanned
    return {draft.name: estimate_rows(draft.tree, context.resolution) for draft in cut.fragments}
