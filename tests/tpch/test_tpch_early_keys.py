"""Early keys (planner/early_keys.py, settings.dynamic_filter_early_keys) over the four-engine TPC-H mesh.

With the setting on, a build that joins tables in its engine lends a dynamic filter's keys from a
keys-only statement on the key column's own table. Every query must still return the one-file
oracle's rows; the plans that take early keys must read them from one table, the keys-only
fragment must never reach the residual, and it must survive a plan's trip through a ticket.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from benchmarks.tpch_mesh import TpchMesh
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import Principal, load_descriptor
from flightmesh.planner import Plan
from flightmesh.planner.serial import plan_from_dict, plan_to_dict

QUERIES = range(1, 23)
# SF 0.01 is small: every fragment may wait for keys (as tests/tpch/test_federated.py's EAGER).
EARLY = {"dynamic_filter_early_keys": 1, "dynamic_filter_min_probe_rows": 0}


@pytest.fixture(scope="module")
def runtime(tpch_mesh: TpchMesh) -> Iterator[MeshRuntime]:
    spec = load_descriptor(tpch_mesh.descriptor)
    with MeshRuntime.open(replace(spec, settings=replace(spec.settings, **EARLY))) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def analyst(runtime: MeshRuntime) -> Principal:
    return _analyst(runtime)


def _analyst(runtime: MeshRuntime) -> Principal:
    principal = runtime.principal_for("analyst")
    assert principal is not None
    return principal


def planned(runtime: MeshRuntime, analyst: Principal, sql: str) -> Plan:
    return runtime.bind(runtime.prepare(sql, analyst), analyst).plan


@pytest.mark.parametrize("number", QUERIES, ids=[f"q{n:02d}" for n in QUERIES])
def test_result_equals_oracle(number, runtime, analyst, tpch_mesh, tpch_queries, tpch_check) -> None:  # type: ignore[no-untyped-def]
    sql = tpch_mesh.qualify(tpch_queries[number])
    tpch_check(number, runtime.query(sql, analyst).read_all())


@pytest.mark.parametrize(("number", "table"), [(2, "supply.part"), (9, "supply.part"), (7, "customers.nation")],
                         ids=["q02", "q09", "q07"])
def test_keys_come_early_from_one_table(number, table, runtime, analyst, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    plan = planned(runtime, analyst, tpch_mesh.qualify(tpch_queries[number]))
    lenders = [fragment for fragment in plan.fragments if fragment.keys_only]
    assert [fragment.tables for fragment in lenders] == [(table,)]
    lender = lenders[0].name
    assert lender in {key_filter.build for key_filter in plan.key_filters}
    assert plan.residual is not None and f'"{lender}"' not in plan.residual
    # The build it replaces is a join of several tables (else nothing would be gained).
    build = plan.fragment(lender.removesuffix("_keys"))
    assert len(build.tables) > 1


def test_q09_does_not_wait_for_the_join(runtime, analyst, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    # partsupp's suppliers of the green parts are nearly all of lineitem's: that filter would keep
    # lineitem waiting for the whole SQLite join; every filter on lineitem comes from the early read.
    plan = planned(runtime, analyst, tpch_mesh.qualify(tpch_queries[9]))
    assert {key_filter.build for key_filter in plan.key_filters if key_filter.probe == "f1"} == {"f0_keys"}


def test_explain_analyze_shows_the_keys_only_read(runtime, analyst, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    rows = runtime.query("EXPLAIN ANALYZE " + tpch_mesh.qualify(tpch_queries[9]), analyst).read_all().to_pylist()
    lender = next(row for row in rows if row["kind"] == "fragment" and row["name"] == "f0_keys")
    assert "keys only" in lender["detail"]
    assert lender["rows"] > 0


def test_a_plan_keeps_its_keys_only_fragment_through_a_ticket(runtime, analyst, tpch_mesh, tpch_queries,  # type: ignore[no-untyped-def]
                                                               tpch_check) -> None:
    plan = planned(runtime, analyst, tpch_mesh.qualify(tpch_queries[9]))
    restored = plan_from_dict(plan_to_dict(plan, runtime.connectors), runtime.connectors)
    assert [f.keys_only for f in restored.fragments] == [f.keys_only for f in plan.fragments]
    tpch_check(9, runtime.execute(runtime.executor.bind(restored, analyst)).read_all())


def test_off_by_default(tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    with MeshRuntime.open(tpch_mesh.descriptor) as runtime:
        plan = planned(runtime, _analyst(runtime), tpch_mesh.qualify(tpch_queries[9]))
        assert not any(fragment.keys_only for fragment in plan.fragments)
