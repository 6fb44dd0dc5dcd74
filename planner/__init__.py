"""The planner: SQL + principal + catalog -> an explainable Plan of fragments and a residual."""

from .plan import EXPLAIN_SCHEMA, LATE_KEY, LATE_ORDINAL, LATE_TOP, Fragment, KeyFilter, LateRead, Partition, Plan
from .planning import PlanningContext, output_names, plan_query, plan_statement
from .statement import Statement, bind_parameters, count_parameters, parse_statement

__all__ = [
    "EXPLAIN_SCHEMA",
    "LATE_KEY",
    "LATE_ORDINAL",
    "LATE_TOP",
    "Fragment",
    "KeyFilter",
    "LateRead",
    "Partition",
    "Plan",
    "PlanningContext",
    "Statement",
    "bind_parameters",
    "count_parameters",
    "output_names",
    "parse_statement",
    "plan_query",
    "plan_statement",
]
