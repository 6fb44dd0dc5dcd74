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

__all__ = ["IMPLIED_KEY", "Cut", "Identity", "LateDraft", "Rule", "RuleContext", "SelectRule", "SelectScope"]


@dataclass(frozen=True)
class LateDraft:
    """A late read (rules/late_rows.py): a fragment run for the residual's keys, and the join back."""

    fragment: FragmentDraft     # not read by the residual: the executor runs it after it
    final: exp.Query            # DuckDB over LATE_TOP (the residual's rows) and ``fragment``
    limit: int


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
    late: LateDraft | None = None               # wide columns read for the top rows only


@dataclass(frozen=True)
class RuleContext:
    resolution: Resolution
    connector_for: Callable[[CatalogTable], Connector]
    pre_aggregate_min_rows: float = 0.0
    select_rules: tuple[SelectRule, ...] = ()   # what placement runs on each SELECT it cuts
    merge_pre_aggregate_percent: int = 0        # settings of that name (0: no eager aggregation in the merge)
    late_rows_max_limit: int = 0                # settings.late_rows_max_limit (0: no late reads)
    dynamic_filter_max_keys: int = 0            # the settings of that name: which fragments a
    dynamic_filter_min_probe_rows: int = 0      # dynamic filter will restrict
    engine_kind: Callable[[CatalogTable], str] = lambda table: ""   # descriptor kind of its engine


Rule = Callable[[Cut, RuleContext], Cut]


def scanned_rows(cut: Cut, context: RuleContext) -> Mapping[str, float]:
    """``cut.scanned``, or the fragments' row estimates now (before any rule reduced them)."""
    if cut.scanned is not None:
        return cut.scanned
    return {draft.name: estimate_rows(draft.tree, context.resolution) for draft in cut.fragments}
