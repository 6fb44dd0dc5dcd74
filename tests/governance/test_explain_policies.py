"""EXPLAIN respects policies: a policy appears by name and kind, never its SQL (issue 8).

``sam`` (support, EMEA) reads crm.customers through two row filters (``status <> 'deleted'``,
``region = 'EMEA'``), a phone mask and a denied ``ssn``. His EXPLAIN must not contain the
filters' literals (only hidden rows hold ``deleted`` and the other regions), the denied column's
name, nor the estimated rows of the filtered table (the gap to what he can count is the number
of hidden rows). A principal holding a role of ``auth.admin_roles`` sees the policy SQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import load_descriptor
from tests.governance.conftest import who
from tests.governance.govmesh import GovMesh

QUERY = ("SELECT c.customer_id, c.phone, o.amount FROM crm.customers c JOIN sales.orders o "
         "ON o.customer_id = c.customer_id WHERE c.phone LIKE '%1'")
SECRET_TEXT = ("deleted", "EMEA", "ssn", "substr", "region =", "status", "900")


def _explain(runtime: MeshRuntime, user: str, analyze: bool = False) -> list[dict[str, object]]:
    verb = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
    return runtime.query(f"{verb} {QUERY}", who(runtime, user)).read_all().to_pylist()


@pytest.mark.parametrize("analyze", [False, True])
def test_policy_text_and_filtered_estimates_are_hidden(gov_runtime: MeshRuntime, analyze: bool) -> None:
    rows = _explain(gov_runtime, "sam", analyze)
    text = " ".join(str(value) for row in rows for value in row.values() if value is not None)
    assert [word for word in SECRET_TEXT if word in text] == []
    assert '"governed crm.customers"' in text
    policies = [row["detail"] for row in rows if row["kind"] == "policy"]
    assert any("row filter" in str(p) and "crm.customers" in str(p) for p in policies), policies
    assert any("mask" in str(p) and "phone" in str(p) for p in policies), policies
    fragments = [row for row in rows if row["kind"] == "fragment"]
    assert len(fragments) == 2 and not any("estimated rows" in str(row["detail"]) for row in fragments)


def test_unfiltered_fragments_keep_their_estimates(gov_runtime: MeshRuntime) -> None:
    rows = _explain(gov_runtime, "ann")  # ann: no row filter on sales.orders
    orders = next(row for row in rows if row["kind"] == "fragment" and "sales" in str(row["products"]))
    assert "estimated rows" in str(orders["detail"])


@pytest.fixture(scope="module")
def admin_runtime(gov_mesh: GovMesh) -> Iterator[MeshRuntime]:
    spec = load_descriptor(gov_mesh.descriptor)
    spec = dataclasses.replace(spec, auth=dataclasses.replace(spec.auth, admin_roles=("support",)))
    runtime = MeshRuntime.open(spec)
    yield runtime
    runtime.close()


def test_admin_roles_see_policy_sql(admin_runtime: MeshRuntime) -> None:
    rows = _explain(admin_runtime, "sam")  # sam holds support, an admin role in this mesh
    text = " ".join(str(row["sql"]) for row in rows)
    assert "'deleted'" in text and "'EMEA'" in text
    assert "governed crm.customers" not in text
