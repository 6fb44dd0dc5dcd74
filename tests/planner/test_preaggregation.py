"""Pre-aggregation below cross-engine joins: applied where correct, refused elsewhere, and the
results always equal the oracle's (DuckDB over the same rows in one database)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import load_descriptor
from tests.demo_fixtures import Demo, principal
from tests.oracle import assert_same_result

JOIN = ("FROM sales.order_items i JOIN sales.orders o ON o.order_id = i.order_id "
        "JOIN crm.customers c ON c.customer_id = o.customer_id")

APPLIES = {
    "sum count avg min max": f"SELECT c.country, sum(i.quantity * i.unit_price) AS revenue, count(*) AS lines, "
                             f"count(i.discount) AS discounted, avg(i.unit_price) AS avg_price, "
                             f"min(i.unit_price) AS low, max(i.quantity) AS most {JOIN} GROUP BY c.country",
    "no group by": f"SELECT sum(i.quantity) AS units, count(*) AS lines {JOIN} WHERE c.segment = 'enterprise'",
    "no rows": f"SELECT count(*) AS n, sum(i.quantity) AS s, avg(i.quantity) AS a {JOIN} WHERE c.country = 'Nowhere'",
    "having and order": f"SELECT c.segment, sum(i.quantity) AS units {JOIN} GROUP BY c.segment "
                        f"HAVING sum(i.quantity) > 10 ORDER BY units DESC",
    "outer join's NULL-extended side": "SELECT c.country, sum(o.order_id) AS s FROM crm.customers c "
                                       "LEFT JOIN sales.orders o ON o.customer_id = c.customer_id GROUP BY c.country",
    "group key from the fragment": f"SELECT o.channel, c.segment, count(*) AS n {JOIN} GROUP BY o.channel, c.segment",
}
REFUSED = {
    "distinct aggregate": f"SELECT c.country, count(DISTINCT i.product_id) AS products {JOIN} GROUP BY c.country",
    "aggregate over two products": f"SELECT c.country, sum(i.quantity * c.customer_id) AS x {JOIN} GROUP BY c.country",
    "count star over an outer join": "SELECT c.country, count(*) AS n FROM crm.customers c LEFT JOIN sales.orders o "
                                     "ON o.customer_id = c.customer_id GROUP BY c.country",
    "filtered aggregate": f"SELECT c.country, sum(i.quantity) FILTER (WHERE i.discount > 0) AS s {JOIN} "
                          "GROUP BY c.country",
    "not decomposable": f"SELECT c.country, median(i.quantity) AS m {JOIN} GROUP BY c.country",
}


@pytest.fixture(scope="module")
def eager(demo: Demo) -> Iterator[MeshRuntime]:
    spec = load_descriptor(demo.descriptor)
    with MeshRuntime.open(replace(spec, settings=replace(spec.settings, pre_aggregate_min_rows=0))) as runtime:
        yield runtime


def run(runtime: MeshRuntime, sql: str):  # type: ignore[no-untyped-def]
    alice = principal(runtime, "alice")
    return runtime.bind(runtime.prepare(sql, alice), alice), runtime.query(sql, alice).read_all()


@pytest.mark.parametrize("sql", APPLIES.values(), ids=APPLIES.keys())
def test_pre_aggregates_and_agrees(eager: MeshRuntime, demo_oracle, sql: str) -> None:  # type: ignore[no-untyped-def]
    plan, actual = run(eager, sql)
    assert any("aggregates before the join" in note for note in plan.notes)
    duckdb_fragment = next(f for f in plan.fragments if f.engine == "duckdb")
    assert "GROUP BY" in duckdb_fragment.sql or "group by" not in sql.lower()
    assert_same_result(actual, demo_oracle.sql(sql).to_arrow_table(), ordered="ORDER BY" in sql)


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_refused_where_it_would_be_wrong(eager: MeshRuntime, demo_oracle, sql: str) -> None:  # type: ignore[no-untyped-def]
    plan, actual = run(eager, sql)
    assert not plan.notes
    assert_same_result(actual, demo_oracle.sql(sql).to_arrow_table(), ordered=False)


def test_types_match_the_plain_plan(eager: MeshRuntime, demo_runtime: MeshRuntime) -> None:
    sql = APPLIES["sum count avg min max"]
    assert run(eager, sql)[1].schema.equals(run(demo_runtime, sql)[1].schema)


SEMI = {
    "exists": "SELECT c.name FROM crm.customers c WHERE EXISTS "
              "(SELECT * FROM sales.orders o WHERE o.customer_id = c.customer_id AND o.status = 'returned') "
              "ORDER BY c.name",
    "not exists": "SELECT count(*) AS n FROM crm.customers c WHERE NOT EXISTS "
                  "(SELECT 1 FROM sales.orders o WHERE o.customer_id = c.customer_id)",
    "in": "SELECT p.name FROM catalog.products p WHERE p.product_id IN "
          "(SELECT i.product_id FROM sales.order_items i WHERE i.quantity >= 3) ORDER BY p.name",
}


@pytest.mark.parametrize("sql", SEMI.values(), ids=SEMI.keys())
def test_semi_joins_ship_distinct_values(eager: MeshRuntime, demo_oracle, sql: str) -> None:  # type: ignore[no-untyped-def]
    plan, actual = run(eager, sql)
    assert any("only tested for existence" in note for note in plan.notes)
    assert "SELECT DISTINCT" in next(f.sql for f in plan.fragments if f.engine == "duckdb")
    assert_same_result(actual, demo_oracle.sql(sql).to_arrow_table(), ordered="ORDER BY" in sql)


def test_an_already_grouped_subquery_is_left_alone(eager: MeshRuntime, demo_oracle) -> None:  # type: ignore[no-untyped-def]
    sql = ("SELECT c.name FROM crm.customers c WHERE c.customer_id IN "
           "(SELECT o.customer_id FROM sales.orders o GROUP BY o.customer_id HAVING count(*) > 5) ORDER BY c.name")
    plan, actual = run(eager, sql)
    assert not any("existence" in note for note in plan.notes)
    assert_same_result(actual, demo_oracle.sql(sql).to_arrow_table(), ordered=True)
