"""A statement kept for planning again (prepared, cached) is copied before planning rewrites it;
one the caller owns (``parse_statement(..., owned=True)``: parsed to be planned once) is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.planner import PlanningContext, parse_statement, plan_statement
from tests.demo_fixtures import Demo, principal
from tests.planner.test_pushdown_golden import describe
from tests.planner.test_rule_goldens import CASES

# A query across engines from the rules' golden cases: its tree is rewritten in many places.
SQL = next(case.sql for _, case in CASES if "JOIN" in case.sql.upper())
USER = next(case.user for _, case in CASES if case.sql == SQL)


@pytest.fixture(scope="module")
def runtime(demo: Demo) -> Iterator[MeshRuntime]:
    with MeshRuntime.open(demo.descriptor) as opened:
        yield opened


def _plan(runtime: MeshRuntime, owned: bool) -> tuple[list[str], str, str]:
    context = PlanningContext(catalog=runtime.catalog, connectors=runtime.connectors, dialect=runtime.spec.sql_dialect)
    statement = parse_statement(SQL, runtime.spec.sql_dialect, owned=owned)
    before = statement.tree.sql()
    plan = describe(plan_statement(statement, SQL, principal(runtime, USER), context))
    return plan, before, statement.tree.sql()


def test_a_kept_statement_is_left_as_parsed_and_plans_the_same_again(runtime: MeshRuntime) -> None:
    context = PlanningContext(catalog=runtime.catalog, connectors=runtime.connectors, dialect=runtime.spec.sql_dialect)
    statement = parse_statement(SQL, runtime.spec.sql_dialect)
    before = statement.tree.sql()
    first = describe(plan_statement(statement, SQL, principal(runtime, USER), context))
    assert statement.tree.sql() == before
    assert describe(plan_statement(statement, SQL, principal(runtime, USER), context)) == first


def test_an_owned_statement_is_planned_in_place_to_the_same_plan(runtime: MeshRuntime) -> None:
    kept, _, _ = _plan(runtime, owned=False)
    owned, before, after = _plan(runtime, owned=True)
    assert owned == kept
    assert after != before  # no copy was made: planning qualified the parsed tree itself
