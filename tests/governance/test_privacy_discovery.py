"""Privacy mode in discovery and in the descriptor: mesh.privacy_budget, mesh.my_access, key checks,
and a privacy plan that travels as data (signed tickets) still charges its principal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from flightmesh.executor import MeshRuntime
from flightmesh.executor.bound import BoundPlan
from flightmesh.mesh import DescriptorError, PrivacyBudgetExhausted, load_descriptor
from tests.governance.privacy_mesh import build_privacy_mesh


def test_privacy_budget_shows_what_is_left_and_when_it_resets(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0, per="day")
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita, ana = mesh.authenticate("rita", "r"), mesh.authenticate("ana", "a")
        for _ in range(3):
            mesh.query("SELECT COUNT(*) FROM sales.orders", rita).read_all()
        (row,) = mesh.query("SELECT * FROM mesh.privacy_budget", rita).read_all().to_pylist()
        today = datetime.now(UTC)
        assert row["product"] == "sales" and row["per"] == "day" and row["period"] == today.strftime("%Y-%m-%d")
        assert row["spent"] == pytest.approx(0.15) and row["remaining"] == pytest.approx(0.85)
        assert row["queries_left"] == 17
        assert row["resets_at"].date() > today.date()
        # sam's budget is his own; ana reads fully: no budget applies to her
        (sams,) = mesh.query("SELECT remaining FROM mesh.privacy_budget", mesh.authenticate("sam", "s")).read_all() \
            .to_pylist()
        assert sams["remaining"] == 1.0
        assert mesh.query("SELECT * FROM mesh.privacy_budget", ana).read_all().num_rows == 0


def test_my_access_marks_the_privacy_mode(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        (rita,) = mesh.query("SELECT access, summary FROM mesh.my_access WHERE product = 'sales'",
                               mesh.authenticate("rita", "r")) \
            .read_all().to_pylist()
        assert rita["access"] == "privacy mode"
        assert "noisy aggregates only" in rita["summary"] and "epsilon 0.1 per query of 1 per day" in rita["summary"]
        ana_sees = mesh.query("SELECT access FROM mesh.my_access WHERE product = 'sales'",
                              mesh.authenticate("ana", "a"))
        (ana,) = ana_sees.read_all().to_pylist()
        assert ana["access"] == "full read"


def test_a_privacy_plan_restored_from_its_serialized_form_still_charges(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.5, budget=1.0)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        prepared = mesh.prepare("SELECT region, AVG(amount) AS mean FROM sales.orders GROUP BY region", rita)
        bound = mesh.bind(prepared, rita)
        restored = BoundPlan.from_dict(json.loads(json.dumps(bound.to_dict(mesh.connectors))), mesh.connectors)
        assert restored.plan.privacy == bound.plan.privacy
        assert restored.schema.equals(bound.schema, check_metadata=True)
        assert mesh.execute(restored).read_all().num_rows == 4
        mesh.execute(bound).read_all()
        with pytest.raises(PrivacyBudgetExhausted):
            mesh.execute(restored).read_all()


def _descriptor(tmp_path: Path, privacy: object, state: object = None) -> Path:
    build_privacy_mesh(tmp_path)
    path = tmp_path / "mesh.yaml"
    data = yaml.safe_load(path.read_text())
    data["products"]["sales"]["privacy"] = privacy
    if state is not None:
        data["state"] = state
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


BAD = [
    ({"for": [], "epsilon_per_query": 0.1, "budget": {"epsilon": 1}, "tables": {}},
     ["products.sales.privacy.for: expected at least one role",
      "products.sales.privacy.tables: expected at least one"]),
    ({"for": ["r"], "epsilon_per_query": -1, "budget": {"epsilon": 1, "per": "year"}, "tables": {}},
     ["epsilon_per_query: expected a positive number", "budget.per: expected one of day, week, month, total"]),
    ({"for": ["r"], "epsilon_per_query": 2, "budget": {"epsilon": 1}, "tables": {"orders": {"unit": "customer_id",
                                                                                             "max_rows_per_unit": 1}}},
     ["is more than the whole budget"]),
    ({"for": ["r"], "epsilon_per_query": 0.1, "budget": {"epsilon": 1},
      "tables": {"nope": {}, "orders": {"max_rows_per_unit": 0, "bounds": {"amount": [5, 1]},
                                        "public_keys": {"region": []}, "colour": 1}}},
     ["tables.nope: no table 'nope' in this product", "orders.unit: is required",
      "max_rows_per_unit: expected a whole number of at least 1", "the lower bound 5 is above the upper bound 1",
      "public_keys.region: expected a non-empty list", "orders.colour: unknown key"]),
]


@pytest.mark.parametrize(("privacy", "problems"), BAD)
def test_bad_privacy_keys_are_reported_with_their_place(tmp_path: Path, privacy: object,
                                                         problems: list[str]) -> None:
    path = _descriptor(tmp_path, privacy)
    with pytest.raises(DescriptorError) as refused:
        load_descriptor(path)
    for problem in problems:
        assert any(problem in reported and reported.startswith("mesh.yaml:") for reported in refused.value.problems), \
            (problem, refused.value.problems)


def test_state_keys(tmp_path: Path) -> None:
    good = {"for": ["researcher"], "epsilon_per_query": 0.1, "budget": {"epsilon": 1},
            "tables": {"orders": {"unit": "customer_id", "max_rows_per_unit": 3}}}
    spec = load_descriptor(_descriptor(tmp_path, good))
    assert spec.state.kind == "sqlite" and spec.state.path == (tmp_path / "state" / "flightmesh.sqlite").resolve()
    assert spec.products["sales"].privacy is not None and spec.products["sales"].privacy.per == "total"
    with pytest.raises(DescriptorError, match=r"state\.kind: unknown state kind 'redis'"):
        load_descriptor(_descriptor(tmp_path, good, {"kind": "redis"}))
    with pytest.raises(DescriptorError, match=r"state\.uri: is required"):
        load_descriptor(_descriptor(tmp_path, good, {"kind": "postgresql"}))


def test_the_mesh_does_not_open_when_privacy_names_a_missing_or_non_numeric_column(tmp_path: Path) -> None:
    privacy = {"for": ["researcher"], "epsilon_per_query": 0.1, "budget": {"epsilon": 1},
               "tables": {"orders": {"unit": "client", "max_rows_per_unit": 3, "bounds": {"region": [0, 1]},
                                     "public_keys": {"colour": ["red"], "year": ["last year"]}}}}
    with pytest.raises(DescriptorError) as refused:
        MeshRuntime.open(_descriptor(tmp_path, privacy))
    problems = "\n".join(refused.value.problems)
    assert "the unit 'client' is not a column of sales.orders" in problems
    assert "the public key 'colour' is not a column of sales.orders" in problems
    assert "the bounded column 'region' is not a number" in problems
    assert "the public key 'year' lists values that are not of its column's type (int64)" in problems
