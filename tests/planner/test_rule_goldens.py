"""Each planner rule's golden cases: the plan with every rule, the plan without this one, the answer.

``golden/rules/<rule>.txt`` holds blocks in the format of ``golden/pushdown.txt`` (a query, then
the plan: fragments with the SQL each engine receives, key filters, the residual). Each case is
checked three ways:

- the plan of ``RULES`` / ``SELECT_RULES`` equals the file (the rule's SQL in -> SQL out);
- without the rule the plan differs (the case exercises the rule; deleting the rule from the
  pipeline fails the first check);
- the query's result through the mesh equals the one-file DuckDB oracle's (the plan is right).

Pre-aggregation and semi-join reduction apply only above ``pre_aggregate_min_rows`` rows: the
runtime here sets it to 0, the demo tables being small; eager aggregation in the merge is
turned on (``merge_pre_aggregate_percent``, off by default). The demo has no PostgreSQL, the one
engine declaring ``scalar_subquery_rescans``: its SQLite connector declares it here too, so that
``scalar_subquery_as_window``'s rewrites run on a real engine against the oracle (no other case
has the shape it rewrites). ``FLIGHTMESH_UPDATE_GOLDEN=1`` rewrites the plans; read the diff
before committing it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import FlightmeshError, load_descriptor
from flightmesh.planner import PlanningContext, plan_query, rules
from tests.demo_fixtures import Demo, principal
from tests.oracle import assert_same_result, order_keys, query_limit
from tests.planner.test_pushdown_golden import Case, describe, read_cases, write_cases

GOLDEN = Path(__file__).parent / "golden" / "rules"
UPDATE = os.environ.get("FLIGHTMESH_UPDATE_GOLDEN") == "1"

ALL_RULES = {rule.__name__: rule for rule in (*rules.RULES, *rules.SELECT_RULES)}
CASES = [(path.stem, case) for path in sorted(GOLDEN.glob("*.txt")) for case in read_cases(path)]


@pytest.fixture(scope="module")
def runtime(demo: Demo) -> Iterator[MeshRuntime]:
    spec = load_descriptor(demo.descriptor)
    settings = replace(spec.settings, pre_aggregate_min_rows=0, merge_pre_aggregate_percent=25)
    with MeshRuntime.open(replace(spec, settings=settings)) as opened:
        crm = opened.connectors["crm"]
        setattr(crm, "capabilities", replace(crm.capabilities, scalar_subquery_rescans=True))  # noqa: B010
        yield opened


def plan_lines(runtime: MeshRuntime, case: Case) -> list[str]:
    context = PlanningContext(catalog=runtime.catalog, connectors=runtime.connectors, dialect=runtime.spec.sql_dialect)
    return describe(plan_query(case.sql, principal(runtime, case.user), context))


def without(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Plan as if rule ``name`` had been deleted from the pipeline."""
    monkeypatch.setattr(rules, "RULES", tuple(r for r in rules.RULES if r.__name__ != name))
    monkeypatch.setattr(rules, "SELECT_RULES", tuple(r for r in rules.SELECT_RULES if r.__name__ != name))


def test_every_rule_has_golden_cases() -> None:
    assert sorted(ALL_RULES) == sorted({rule for rule, _ in CASES})


@pytest.fixture(scope="module")
def planned(runtime: MeshRuntime) -> dict[tuple[str, str], list[str]]:
    results = {(rule, case.name): plan_lines(runtime, case) for rule, case in CASES}
    if UPDATE:
        for path in GOLDEN.glob("*.txt"):
            write_cases(path, [Case(c.name, c.user, c.sql, results[(path.stem, c.name)]) for c in read_cases(path)])
    return results


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{rule}: {case.name}" for rule, case in CASES])
def test_plan_with_the_rule(rule: str, case: Case, planned: dict[tuple[str, str], list[str]]) -> None:
    assert planned[(rule, case.name)] == case.plan


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{rule}: {case.name}" for rule, case in CASES])
def test_plan_without_the_rule_differs(rule: str, case: Case, runtime: MeshRuntime,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch, rule)
    try:
        lines = plan_lines(runtime, case)
    except (FlightmeshError, AssertionError, AttributeError, TypeError):
        return  # the pipeline cannot even finish without it
    assert lines != case.plan


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{rule}: {case.name}" for rule, case in CASES])
def test_result_equals_the_oracle(rule: str, case: Case, runtime: MeshRuntime, demo_oracle) -> None:  # type: ignore[no-untyped-def]
    actual = runtime.query(case.sql, principal(runtime, case.user)).read_all()
    expected = demo_oracle.sql(case.sql).to_arrow_table()
    keys = order_keys(case.sql)
    assert_same_result(actual, expected, ordered=keys is not None, order_by=keys, limit=query_limit(case.sql))
