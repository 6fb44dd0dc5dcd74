"""Dynamic filtering's delivery forms, each run on its real engine.

For every form the filtered fragment must return exactly the unfiltered fragment's rows whose
probe column is among the keys (computed here with pyarrow, independently of the SQL), except
ranges, which may keep more (the residual's join removes the rest) but never fewer.
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlglot import exp

from flightmesh.connectors import FragmentQuery
from flightmesh.executor import MeshRuntime
from flightmesh.executor.bound import BoundPlan, bound_plan
from flightmesh.executor.keys import KeyFilterRun
from flightmesh.mesh import CancelScope, Settings
from flightmesh.planner import Fragment, KeyFilter
from tests.demo_fixtures import principal

Plan = BoundPlan  # what the runtime's bind returns

ORDERS_JOIN = ("SELECT o.order_id, c.name FROM sales.orders o JOIN crm.customers c "
               "ON c.customer_id = o.customer_id WHERE o.channel = 'store'")
GROUPED = ("SELECT c.name FROM crm.customers c WHERE c.customer_id IN "
           "(SELECT count(*) AS n FROM sales.orders GROUP BY customer_id)")
UNIONED = ("SELECT c.name FROM crm.customers c WHERE c.customer_id IN "
           "(SELECT customer_id FROM sales.orders WHERE channel = 'web' UNION SELECT customer_id FROM sales.orders)")


def plan_of(runtime: MeshRuntime, sql: str) -> Plan:
    alice = principal(runtime, "alice")
    return runtime.bind(runtime.prepare(sql, alice), alice)


def keyed_run(plan: BoundPlan, key_filter: KeyFilter, settings: Settings) -> KeyFilterRun:
    """A key exchange for ``plan`` as if the planner had chosen only ``key_filter``."""
    rebound = bound_plan(replace(plan.plan, key_filters=(key_filter,)), schema=plan.schema,
                         result_schema=plan.result_schema, fragment_schemas=plan.fragment_schemas,
                         principal=plan.principal, policies=plan.policies)
    return KeyFilterRun(rebound.key_slots, settings, CancelScope())


def run(runtime: MeshRuntime, plan: Plan, fragment: Fragment, column: str, keys: pa.Array,
        **settings: int) -> tuple[pa.Table, pa.Table, FragmentQuery]:
    """(filtered result, unfiltered result, the query sent) for ``fragment`` with ``keys``."""
    key_filter = KeyFilter(build="build", build_column="key", probe=fragment.name, probe_column=column)
    run = keyed_run(plan, key_filter, replace(runtime.settings, **settings))
    run.publish("build", pa.table({"key": keys}))
    schema = plan.fragment_schemas[fragment.name]
    query = run.query_for(fragment, schema, 30.0)
    filtered = fragment.connector.execute(query, CancelScope()).read_all()
    whole = fragment.connector.execute(FragmentQuery(fragment.sql, expected_schema=schema), CancelScope()).read_all()
    return filtered, whole, query


def expected(whole: pa.Table, column: str, keys: pa.Array) -> list[dict[str, object]]:
    return sorted(whole.filter(pc.is_in(whole[column], value_set=keys)).to_pylist(), key=repr)


def engine_fragment(plan: Plan, engine: str) -> Fragment:
    return next(fragment for fragment in plan.fragments if fragment.engine == engine)


def test_key_table_joined_inside_a_duckdb_fragment(demo_runtime: MeshRuntime) -> None:
    plan = plan_of(demo_runtime, ORDERS_JOIN)
    fragment = engine_fragment(plan, "duckdb")
    keys = pa.array([3, 5, 8, 13, 21, 34, 55], pa.int64())
    filtered, whole, query = run(demo_runtime, plan, fragment, "customer_id", keys)
    assert '"__keys_' in query.sql and "keyed" not in query.sql  # joined in the fragment itself
    assert sorted(filtered.to_pylist(), key=repr) == expected(whole, "customer_id", keys)
    assert 0 < filtered.num_rows < whole.num_rows


def test_key_table_around_a_fragment_whose_column_is_an_aggregate(demo_runtime: MeshRuntime) -> None:
    plan = plan_of(demo_runtime, GROUPED)
    fragment = engine_fragment(plan, "duckdb")
    keys = pa.array([1, 2, 3], pa.int64())
    filtered, whole, query = run(demo_runtime, plan, fragment, "n", keys)
    assert '"keyed"' in query.sql  # the aggregate's output can only be filtered around the fragment
    assert sorted(filtered.to_pylist(), key=repr) == expected(whole, "n", keys)
    assert 0 < filtered.num_rows < whole.num_rows


def test_key_table_around_a_set_operation(demo_runtime: MeshRuntime) -> None:
    plan = plan_of(demo_runtime, UNIONED)
    fragment = engine_fragment(plan, "duckdb")
    column = fragment.output[0]
    keys = pa.array([7, 70, 700], pa.int64())
    filtered, whole, _ = run(demo_runtime, plan, fragment, column, keys)
    assert sorted(filtered.to_pylist(), key=repr) == expected(whole, column, keys)


@pytest.mark.parametrize("count", [3, 200])  # a weak (guarded) and a strong filter
def test_literal_keys_in_sqlite(demo_runtime: MeshRuntime, count: int) -> None:
    plan = plan_of(demo_runtime, ORDERS_JOIN)
    fragment = engine_fragment(plan, "sqlite")
    keys = pa.array(range(1, 2 * count, 2), pa.int64())
    filtered, whole, query = run(demo_runtime, plan, fragment, "customer_id", keys)
    assert ("COALESCE" in query.sql) == (count <= 64)
    assert sorted(filtered.to_pylist(), key=repr) == expected(whole, "customer_id", keys)


def test_many_literal_keys_become_a_range(demo_runtime: MeshRuntime) -> None:
    plan = plan_of(demo_runtime, ORDERS_JOIN)
    fragment = engine_fragment(plan, "sqlite")
    keys = pa.array([100, 150, 300], pa.int64())
    filtered, whole, query = run(demo_runtime, plan, fragment, "customer_id", keys, dynamic_filter_max_literal_keys=2)
    assert "BETWEEN 100 AND 300" in query.sql
    kept = {row["customer_id"] for row in filtered.to_pylist()}
    assert set(keys.to_pylist()) <= kept <= set(range(100, 301))
    assert filtered.num_rows == pc.sum(pc.and_(pc.greater_equal(whole["customer_id"], 100),
                                               pc.less_equal(whole["customer_id"], 300))).as_py()


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_no_keys_means_no_rows(demo_runtime: MeshRuntime, engine: str) -> None:
    plan = plan_of(demo_runtime, ORDERS_JOIN)
    fragment = engine_fragment(plan, engine)
    filtered, whole, _ = run(demo_runtime, plan, fragment, "customer_id", pa.array([], pa.int64()))
    assert filtered.num_rows == 0 < whole.num_rows


def test_too_many_keys_are_not_sent(demo_runtime: MeshRuntime) -> None:
    plan = plan_of(demo_runtime, ORDERS_JOIN)
    fragment = engine_fragment(plan, "duckdb")
    keys = pa.array(range(50), pa.int64())
    filtered, whole, query = run(demo_runtime, plan, fragment, "customer_id", keys, dynamic_filter_max_keys=10)
    assert query.sql == fragment.sql
    assert filtered.num_rows == whole.num_rows


SHARED = """
    WITH spend AS (SELECT customer_id, count(*) AS n FROM sales.orders GROUP BY customer_id)
    SELECT c.name, s.n, (SELECT max(n) FROM spend) AS top
    FROM spend s JOIN crm.customers c ON c.customer_id = s.customer_id
    WHERE c.country = 'Kenya' ORDER BY c.name, s.n
"""


def test_a_shared_fragment_takes_only_keys_every_reader_accepts(demo, demo_oracle) -> None:  # type: ignore[no-untyped-def]
    from flightmesh.mesh import load_descriptor
    from tests.oracle import assert_same_result

    spec = load_descriptor(demo.descriptor)
    eager = replace(spec, settings=replace(spec.settings, dynamic_filter_min_probe_rows=0))
    with MeshRuntime.open(eager) as runtime:
        plan = plan_of(runtime, SHARED)
        shared = [f for f in plan.fragments if f.engine == "duckdb"]
        assert len(shared) == 1 and shared[0].name in plan.materialize  # computed once, read twice
        assert not [k for k in plan.key_filters if k.probe == shared[0].name]  # max(n) reads it unjoined
        actual = runtime.query(SHARED, principal(runtime, "alice")).read_all()
    assert_same_result(actual, demo_oracle.sql(SHARED).to_arrow_table(), ordered=True)


@pytest.mark.parametrize(("keys", "distinct", "guarded"), [
    (1, 25, False),     # one nation of 25: selective, let the engine use its index
    (5, 25, True),      # a fifth of the values: weak, keep it out of the engine's plan choice
    (747, 200_000, False),
    (3, None, True),    # no statistics: a handful of keys is taken as weak
    (200, None, False),
])
def test_weak_filters_are_guarded_on_index_driven_engines(demo_runtime: MeshRuntime, keys: int,
                                                          distinct: int | None, guarded: bool) -> None:
    plan = plan_of(demo_runtime, ORDERS_JOIN)
    fragment = engine_fragment(plan, "sqlite")
    key_filter = KeyFilter(build="build", build_column="key", probe=fragment.name, probe_column="customer_id",
                           probe_distinct=distinct)
    run = keyed_run(plan, key_filter, demo_runtime.settings)
    run.publish("build", pa.table({"key": pa.array(range(1, keys + 1), pa.int64())}))
    query = run.query_for(fragment, plan.fragment_schemas[fragment.name], 30.0)
    assert ("COALESCE" in query.sql) == guarded


def test_keys_reach_the_innermost_select_of_a_pre_aggregated_fragment(demo) -> None:  # type: ignore[no-untyped-def]
    from flightmesh.mesh import load_descriptor

    spec = load_descriptor(demo.descriptor)
    with MeshRuntime.open(replace(spec, settings=replace(spec.settings, pre_aggregate_min_rows=0))) as runtime:
        plan = plan_of(runtime, "SELECT c.country, max(o.ordered_on) AS last FROM sales.orders o JOIN crm.customers c "
                                "ON c.customer_id = o.customer_id WHERE o.channel = 'web' GROUP BY c.country")
        fragment = engine_fragment(plan, "duckdb")
        assert "GROUP BY" in fragment.sql  # pre-aggregated: SELECT ... FROM (SELECT ... ) AS pre GROUP BY
        keys = pa.array([2, 4, 6, 8, 10, 12], pa.int64())
        filtered, whole, query = run(runtime, plan, fragment, "customer_id", keys)
        inner = query.sql[query.sql.index("FROM (") :]
        assert '"__keys_' in inner.split(") AS")[0]  # joined inside the derived table, not around it
        assert sorted(filtered.to_pylist(), key=repr) == expected(whole, "customer_id", keys)


def _renders_of_selects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements key_slots renders from here on that contain a whole SELECT (not a lone condition)."""
    from flightmesh.planner import key_slots

    rendered: list[str] = []
    real = key_slots.render

    def counting(tree, dialect, *, owned=False):  # type: ignore[no-untyped-def]
        text = real(tree, dialect, owned=owned)
        if tree.find(exp.Select) is not None:
            rendered.append(text)
        return text

    monkeypatch.setattr(key_slots, "render", counting)
    return rendered


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])  # a key table, literals
def test_a_probe_renders_its_fragment_once_per_pattern_of_arrivals(demo_runtime: MeshRuntime, engine: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # A probe's statement is on the query's critical path (it is made once its builds are in):
    # the fragment is rendered once per plan and pattern, later executions fill in conditions.
    plan = plan_of(demo_runtime, ORDERS_JOIN)
    fragment = engine_fragment(plan, engine)
    key_filter = KeyFilter(build="build", build_column="key", probe=fragment.name, probe_column="customer_id")
    rebound = bound_plan(replace(plan.plan, key_filters=(key_filter,)), schema=plan.schema,
                         result_schema=plan.result_schema, fragment_schemas=plan.fragment_schemas,
                         principal=plan.principal, policies=plan.policies)
    schema = plan.fragment_schemas[fragment.name]
    whole = fragment.connector.execute(FragmentQuery(fragment.sql, expected_schema=schema), CancelScope()).read_all()
    rendered = _renders_of_selects(monkeypatch)
    for keys in ([2, 4, 6], [1, 3, 5, 7, 9, 11], list(range(1, 120, 3))):  # weak, weak, strong (literals)
        run = KeyFilterRun(rebound.key_slots, demo_runtime.settings, CancelScope())
        run.publish("build", pa.table({"key": pa.array(keys, pa.int64())}))
        query = run.query_for(fragment, schema, 30.0)
        filtered = fragment.connector.execute(query, CancelScope()).read_all()
        assert sorted(filtered.to_pylist(), key=repr) == expected(whole, "customer_id", pa.array(keys, pa.int64()))
    assert len(rendered) == 1  # the template, made by the first execution


def test_a_marker_the_fragment_already_holds_falls_back_to_rendering_it_whole(
        demo_runtime: MeshRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    # The template marks each condition's place with an identifier that has a random part; should
    # the fragment hold that text already (here: forced into a string literal), the place is not
    # certain and the statement is rendered whole, as without templates.
    from flightmesh.planner import key_slots

    monkeypatch.setattr(key_slots.secrets, "token_hex", lambda size: "feed")
    sql = ORDERS_JOIN + " AND c.name <> '\"__flightmesh_keys_0_feed\"'"
    plan = plan_of(demo_runtime, sql)
    fragment = engine_fragment(plan, "sqlite")
    assert '"__flightmesh_keys_0_feed"' in fragment.sql
    keys = pa.array([1, 3, 5, 8], pa.int64())
    for _ in range(2):
        filtered, whole, query = run(demo_runtime, plan, fragment, "customer_id", keys)
        assert query.sql.count("__flightmesh_keys_0_feed") == 1  # only the user's literal
        assert sorted(filtered.to_pylist(), key=repr) == expected(whole, "customer_id", keys)
        assert 0 < filtered.num_rows < whole.num_rows
