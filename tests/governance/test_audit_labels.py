"""The audit's policies come from the plan: the labels the planner applied, not governance asked again."""

from __future__ import annotations

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.governance import policies_applied
from flightmesh.governance.audit import touched
from flightmesh.mesh import FlightmeshError
from tests.governance.conftest import who

GOVERNED = [
    "SELECT * FROM crm.customers",
    "SELECT count(*) AS n FROM crm.customers c JOIN sales.orders o ON o.customer_id = c.customer_id",
    "SELECT * FROM sales.orders",
    "SELECT * FROM hr.employees",
]


@pytest.mark.parametrize("user", ["sam", "ann", "zed", "auditor", "mallory"])
def test_the_plan_names_the_policies_governance_would_name(gov_runtime: MeshRuntime, user: str) -> None:
    """The audit reads the planner's labels; they are those ``policies_applied`` finds for the same tables."""
    person = who(gov_runtime, user)
    for sql in GOVERNED:
        try:
            bound = gov_runtime.bind(gov_runtime.prepare(sql, person), person)
        except FlightmeshError:  # not granted to this user: nothing to compare
            continue
        _, tables = touched(table for fragment in bound.fragments for table in fragment.tables)
        assert bound.policies == tuple(policies_applied(gov_runtime.catalog, person, tables)), (user, sql)
        assert bound.principal == person
