"""A bound plan: a plan plus everything needed to run it, fixed once, never written to afterwards.

The planner's ``Plan`` says what to run; binding adds what only the engines can tell and what the
audit needs, so that executing a cached plan recomputes nothing (DESIGN.md §10):

* the exact schemas: what the client receives (for EXPLAIN, the plan's rows), the query's own
  result, each fragment's (asked of the engines once, over empty inputs);
* the principal it was planned for and the audit labels of the policies the planner applied;
* each probe fragment's dynamic-filter slots, and each of its partitions' (the executor supplies
  only key arrays).

``to_dict``/``from_dict`` give a JSON-ready form without connector objects: fragments name the
product whose connector runs them, and the restoring runtime resolves them (signed tickets that
any replica can serve carry this).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from flightmesh.connectors import Connector
from flightmesh.mesh import Principal
from flightmesh.planner import Fragment, KeyFilter, LateRead, Plan
from flightmesh.planner.key_slots import KeySlots, prepare_key_slots
from flightmesh.planner.serial import plan_from_dict, plan_to_dict, schema_from_text, schema_to_text

__all__ = ["BoundPlan", "bound_plan"]


@dataclass(frozen=True, eq=False)  # identity equality: the plan cache hands out the same object
class BoundPlan:
    plan: Plan
    schema: pa.Schema                           # exactly what ``execute`` streams
    result_schema: pa.Schema                    # the query's own result (EXPLAIN ANALYZE runs it)
    fragment_schemas: Mapping[str, pa.Schema]   # read-only view
    principal: Principal | None                 # who it was planned for (None: not known)
    policies: tuple[str, ...]                   # audit labels of the policies the planner applied
    key_slots: Mapping[str, KeySlots] = field(default_factory=lambda: MappingProxyType({}))

    # What callers read of the plan, without reaching through ``.plan``.
    @property
    def sql(self) -> str:
        return self.plan.sql

    @property
    def fragments(self) -> tuple[Fragment, ...]:
        return self.plan.fragments

    @property
    def residual(self) -> str | None:
        return self.plan.residual

    @property
    def key_filters(self) -> tuple[KeyFilter, ...]:
        return self.plan.key_filters

    @property
    def materialize(self) -> frozenset[str]:
        return self.plan.materialize

    @property
    def late(self) -> LateRead | None:
        return self.plan.late

    @property
    def explain(self) -> str | None:
        return self.plan.explain

    @property
    def notes(self) -> tuple[str, ...]:
        return self.plan.notes

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.plan.output_names

    @property
    def planning_ms(self) -> float:
        return self.plan.planning_ms

    @property
    def shown_residual(self) -> str | None:
        return self.plan.shown_residual

    @property
    def reveal_policies(self) -> bool:
        return self.plan.reveal_policies

    def fragment(self, name: str) -> Fragment:
        found: Fragment = self.plan.fragment(name)
        return found

    def explain_rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = self.plan.explain_rows()
        return rows

    # -- serialized form -------------------------------------------------------------------------

    def to_dict(self, connectors: Mapping[str, Connector]) -> dict[str, Any]:
        """JSON-ready; ``connectors`` (product -> connector) names each fragment's connector."""
        return {
            "plan": plan_to_dict(self.plan, connectors),
            "schema": schema_to_text(self.schema),
            "result_schema": schema_to_text(self.result_schema),
            "fragment_schemas": {name: schema_to_text(s) for name, s in self.fragment_schemas.items()},
            "principal": None if self.principal is None else {
                "name": self.principal.name, "roles": sorted(self.principal.roles),
                "attributes": dict(self.principal.attributes)},
            "policies": list(self.policies),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], connectors: Mapping[str, Connector]) -> BoundPlan:
        plan = plan_from_dict(data["plan"], connectors)
        who = data["principal"]
        principal = None if who is None else Principal(name=who["name"], roles=frozenset(who["roles"]),
                                                       attributes=dict(who["attributes"]))
        return bound_plan(plan, schema=schema_from_text(data["schema"]),
                          result_schema=schema_from_text(data["result_schema"]),
                          fragment_schemas={k: schema_from_text(v) for k, v in data["fragment_schemas"].items()},
                          principal=principal, policies=tuple(data["policies"]))


def bound_plan(plan: Plan, *, schema: pa.Schema, result_schema: pa.Schema, fragment_schemas: Mapping[str, pa.Schema],
               principal: Principal | None, policies: tuple[str, ...]) -> BoundPlan:
    """Assemble a BoundPlan; the dynamic-filter slots are derived from the plan here."""
    filters: dict[str, list[KeyFilter]] = {}
    # A late read waits for the residual's keys the way a probe waits for its build's.
    for key_filter in plan.key_filters + ((plan.late.key_filter,) if plan.late is not None else ()):
        filters.setdefault(key_filter.probe, []).append(key_filter)
    slots = {}
    for name, probing in filters.items():
        fragment = plan.fragment(name)
        slots[name] = prepare_key_slots(fragment, probing, fragment.connector.capabilities)
        # Each partition takes the keys in its own statement (its tree has the range inside).
        for partition in fragment.partition_fragments():
            slots[partition.name] = prepare_key_slots(partition, probing, fragment.connector.capabilities)
    return BoundPlan(plan=plan, schema=schema, result_schema=result_schema,
                     fragment_schemas=MappingProxyType(dict(fragment_schemas)), principal=principal,
                     policies=policies, key_slots=MappingProxyType(slots))
