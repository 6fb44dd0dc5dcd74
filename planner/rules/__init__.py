"""The planner's rewrite rules, in the order they run: ``RULES`` over the query, ``SELECT_RULES``
on each SELECT placement cuts. Each rule is a small function in its own module with an example
of what it does, and its own golden cases under ``tests/planner/golden/rules/``.

    tree (resolved, qualified)
      expand_all         GROUP BY ALL / ORDER BY ALL spelled out for every engine
      whole_query        one engine takes it all: one fragment, done
      share_ctes         a CTE read twice becomes one fragment
      inline_ctes        other CTEs become derived tables
      place              cut fragments per engine component; before each SELECT is cut:
          factor_where           (a AND x) OR (a AND y)  ->  a AND (x OR y)
          implied_equalities     a = b AND b = c  ->  a = c, for a and c in one engine
          or_implied_filters     (a1 AND b1) OR (a2 AND b2)  ->  a1 OR a2, for a's fragment
      share_fragments    identical fragments run once
      pre_aggregate      a fragment aggregates below a cross-engine join
      eager_residual     ... or in the merge, with the fragments that only filter it
      reduce_semi_joins  a fragment read only by EXISTS / IN ships distinct keys
      late_rows          ORDER BY ... LIMIT n: a keyed table's wide columns read for the top n keys only
      scalar_subquery_as_window  x > (SELECT avg(y) FROM t ...) over the fragment's own t: one scan, a window
      cheap_filters_first  a fragment's plain comparisons listed first, for engines testing them in that order

``exists_select_one`` runs earlier, before names are resolved, and ``privacy_mode`` (the
differential-privacy rewrite) right after, before policies wrap tables (see ``planner/planning.py``).
"""

from __future__ import annotations

from .base import Cut, LateDraft, Rule, RuleContext, SelectRule, SelectScope, scanned_rows
from .eager_residual import eager_residual
from .exists import exists_select_one
from .expand_all import expand_all
from .factor import factor_disjunctions, factor_where
from .filter_order import cheap_filters_first
from .implied_equalities import implied_equalities
from .inline_ctes import inline_ctes
from .late_rows import late_rows
from .or_implied import or_implied_filters
from .placement import place
from .pre_aggregate import pre_aggregate
from .privacy import privacy_mode
from .scalar_window import scalar_subquery_as_window
from .semi_joins import reduce_semi_joins
from .share_ctes import share_ctes
from .share_fragments import share_fragments
from .whole import whole_query

__all__ = [
    "RULES",
    "SELECT_RULES",
    "Cut",
    "LateDraft",
    "Rule",
    "RuleContext",
    "SelectRule",
    "SelectScope",
    "cheap_filters_first",
    "eager_residual",
    "exists_select_one",
    "expand_all",
    "factor_disjunctions",
    "factor_where",
    "implied_equalities",
    "inline_ctes",
    "late_rows",
    "or_implied_filters",
    "place",
    "pre_aggregate",
    "privacy_mode",
    "reduce_semi_joins",
    "run_rules",
    "scalar_subquery_as_window",
    "scanned_rows",
    "share_ctes",
    "share_fragments",
    "whole_query",
]

RULES: tuple[Rule, ...] = (
    expand_all,
    whole_query,
    share_ctes,
    inline_ctes,
    place,
    share_fragments,
    pre_aggregate,
    eager_residual,
    reduce_semi_joins,
    late_rows,
    scalar_subquery_as_window,
    cheap_filters_first,
)

SELECT_RULES: tuple[SelectRule, ...] = (
    factor_where,
    implied_equalities,
    or_implied_filters,
)


def run_rules(cut: Cut, context: RuleContext, rules: tuple[Rule, ...] | None = None) -> Cut:
    """Run ``rules`` (``RULES`` by default, read when called) over ``cut`` in order."""
    for rule in RULES if rules is None else rules:
        cut = rule(cut, context)
    return cut
