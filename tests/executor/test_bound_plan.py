"""A bound plan is a finished value (DESIGN.md §10): frozen, cached as is, serializable, naming its policies."""

from __future__ import annotations

import dataclasses
import json

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.executor.bound import BoundPlan
from tests.demo_fixtures import principal

CROSS = ("SELECT c.country, count(*) AS orders FROM sales.orders o JOIN crm.customers c "
         "ON c.customer_id = o.customer_id WHERE o.status <> 'returned' GROUP BY c.country ORDER BY c.country")


def _bind(runtime: MeshRuntime, sql: str, user: str) -> BoundPlan:
    alice = principal(runtime, user)
    return runtime.bind(runtime.prepare(sql, alice), alice)


def test_plans_and_bound_plans_refuse_writes(demo_runtime: MeshRuntime) -> None:
    bound = _bind(demo_runtime, CROSS, "alice")
    with pytest.raises(dataclasses.FrozenInstanceError):
        bound.plan.residual = "SELECT 1"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        bound.schema = bound.result_schema  # type: ignore[misc]
    with pytest.raises(TypeError):
        bound.fragment_schemas["f0"] = bound.schema  # type: ignore[index]
    assert not hasattr(bound.plan, "schema") and not hasattr(bound.plan, "fragment_schemas")


def test_the_cache_hands_out_one_value_that_running_leaves_unchanged(demo_runtime: MeshRuntime) -> None:
    bound = _bind(demo_runtime, CROSS, "alice")
    before = json.dumps(bound.to_dict(demo_runtime.connectors), sort_keys=True)
    assert bound.plan.key_filters or bound.key_slots == {}
    for _ in range(2):
        demo_runtime.execute(bound).read_all()
        demo_runtime.query(CROSS, principal(demo_runtime, "alice")).read_all()
    assert _bind(demo_runtime, CROSS, "alice") is bound
    assert json.dumps(bound.to_dict(demo_runtime.connectors), sort_keys=True) == before


@pytest.mark.parametrize("sql", [CROSS, "SELECT * FROM crm.customers", "EXPLAIN " + CROSS,
                                 "SELECT name FROM crm.customers UNION ALL SELECT name FROM catalog.products"])
def test_a_bound_plan_survives_json_and_runs_the_same(demo_runtime: MeshRuntime, sql: str) -> None:
    bound = _bind(demo_runtime, sql, "alice")
    text = json.dumps(bound.to_dict(demo_runtime.connectors))
    restored = BoundPlan.from_dict(json.loads(text), demo_runtime.connectors)
    assert restored is not bound
    assert restored.schema.equals(bound.schema) and restored.result_schema.equals(bound.result_schema)
    assert restored.principal == bound.principal and restored.policies == bound.policies
    assert restored.explain_rows() == bound.explain_rows()
    assert [f.tree.sql() for f in restored.fragments] == [f.tree.sql() for f in bound.fragments]
    assert set(restored.key_slots) == set(bound.key_slots)
    expected = demo_runtime.execute(bound).read_all()
    actual = demo_runtime.execute(restored).read_all()
    if sql.startswith("EXPLAIN"):
        assert actual.column("sql").to_pylist() == expected.column("sql").to_pylist()
    else:
        assert actual.equals(expected)


def test_reading_the_catalog_does_no_io(demo_runtime: MeshRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    def refresh(product: str) -> object:
        raise AssertionError(f"reading the catalog asked {product}'s engine")

    catalog = demo_runtime.catalog
    unavailable = catalog.replaced("crm", None, unavailable="down for the test")
    monkeypatch.setattr(demo_runtime.catalogs, "_state",
                        dataclasses.replace(demo_runtime.catalogs.state, catalog=unavailable))
    monkeypatch.setattr(demo_runtime.catalogs, "_last_retry", 0.0)
    monkeypatch.setattr(demo_runtime.catalogs, "refresh", refresh)
    assert "crm" in demo_runtime.catalog.unavailable  # a property read: no refresh
    with pytest.raises(AssertionError, match="asked crm"):
        demo_runtime.retry_unavailable()  # the explicit call is the one that asks
