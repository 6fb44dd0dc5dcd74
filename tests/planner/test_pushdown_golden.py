"""Golden pushdown decisions: for each query, the fragments each engine receives and the residual.

``golden/pushdown.txt`` holds blocks::

    == a name
    user: alice
    sql:
      SELECT ...
    plan:
      fragment f0 [sales duckdb] SELECT ...
      residual SELECT ...

Each block is checked twice: the plan must equal the file (the pushdown decision), and the
query's result must equal DuckDB's over the same rows in one database (the plan is right).
After an intended planner change, ``FLIGHTMESH_UPDATE_GOLDEN=1 pytest tests/planner`` rewrites
the plans; read the diff before committing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.planner import Plan
from tests.demo_fixtures import principal
from tests.oracle import assert_same_result, order_keys, query_limit

GOLDEN = Path(__file__).parent / "golden" / "pushdown.txt"
UPDATE = os.environ.get("FLIGHTMESH_UPDATE_GOLDEN") == "1"


@dataclass
class Case:
    name: str
    user: str
    sql: str
    plan: list[str]


def read_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    section = ""
    for raw in path.read_text().splitlines():
        if raw.startswith("== "):
            cases.append(Case(raw[3:].strip(), "alice", "", []))
            section = ""
        elif raw.startswith("user:"):
            cases[-1].user = raw.split(":", 1)[1].strip()
        elif raw.strip() in ("sql:", "plan:"):
            section = raw.strip()[:-1]
        elif raw.startswith("  ") and section == "sql":
            cases[-1].sql += raw[2:] + "\n"
        elif raw.startswith("  ") and section == "plan":
            cases[-1].plan.append(raw[2:])
    return cases


def write_cases(path: Path, cases: list[Case]) -> None:
    lines: list[str] = []
    for case in cases:
        lines += [f"== {case.name}", f"user: {case.user}", "sql:"]
        lines += [f"  {line}" for line in case.sql.rstrip("\n").splitlines()]
        lines += ["plan:"] + [f"  {line}" for line in case.plan] + [""]
    path.write_text("\n".join(lines))


def describe(plan: Plan) -> list[str]:
    lines = [f"fragment {f.name} [{', '.join(f.products)} {f.engine}] {f.sql}" for f in plan.fragments]
    lines += [f"filter {k.probe}.{k.probe_column} <- {k.build}.{k.build_column}" for k in plan.key_filters]
    if plan.residual is not None:
        lines.append(f"residual {plan.residual}")
    if plan.late is not None:
        lines.append(f"late {plan.late.fragment}.{plan.late.key} <- top {plan.late.limit}: {plan.late.final}")
    return lines


CASES = read_cases(GOLDEN)


@pytest.fixture(scope="module")
def planned(demo_runtime: MeshRuntime) -> dict[str, list[str]]:
    results = {}
    for case in CASES:
        user = principal(demo_runtime, case.user)
        results[case.name] = describe(demo_runtime.bind(demo_runtime.prepare(case.sql, user), user))
    if UPDATE:
        write_cases(GOLDEN, [Case(c.name, c.user, c.sql, results[c.name]) for c in CASES])
    return results


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pushdown_decision(case: Case, planned: dict[str, list[str]]) -> None:
    assert planned[case.name] == case.plan


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_result_equals_one_engine(case: Case, demo_runtime: MeshRuntime, demo_oracle) -> None:  # type: ignore[no-untyped-def]
    user = principal(demo_runtime, case.user)
    actual = demo_runtime.query(case.sql, user).read_all()
    expected = demo_oracle.sql(case.sql).to_arrow_table()
    keys = order_keys(case.sql)
    assert_same_result(actual, expected, ordered=keys is not None, order_by=keys, limit=query_limit(case.sql))
