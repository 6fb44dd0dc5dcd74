"""Eager aggregation in the merge (planner/eager_residual.py): the aggregated fragment and the
fragments that only filter it are grouped before the other joins, where that is exact; the
answers equal the oracle's (DuckDB over the same rows in one database) either way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlglot
from sqlglot import exp

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import load_descriptor
from flightmesh.planner import rules
from flightmesh.planner.eager_residual import eager_residual
from flightmesh.planner.split import FRAGMENT_KEY, FragmentDraft
from tests.demo_fixtures import Demo
from tests.oracle import assert_same_result
from tests.planner.test_preaggregation import run

NOTE = "aggregates in the merge"
# order lines (DuckDB) filtered by customers (SQLite), grouped by products' category (Parquet)
JOIN = ("FROM sales.order_items i JOIN crm.customers c ON c.customer_id = i.order_id "
        "JOIN catalog.products p ON p.product_id = i.product_id")

APPLIES = {
    "sum count avg min max": f"SELECT p.category, sum(i.quantity * i.unit_price) AS revenue, count(*) AS lines, "
                             f"count(i.discount) AS discounted, avg(i.unit_price) AS avg_price, "
                             f"min(i.unit_price) AS low, max(i.quantity) AS most {JOIN} "
                             f"WHERE c.segment = 'enterprise' GROUP BY p.category",
    "rollup": f"SELECT p.category, p.name, avg(i.quantity) AS q {JOIN} WHERE c.country <> 'Japan' "
              f"GROUP BY ROLLUP (p.category, p.name)",
    "having and order": f"SELECT p.category, sum(i.quantity) AS units {JOIN} GROUP BY p.category "
                        f"HAVING sum(i.quantity) > 10 ORDER BY units DESC, p.category",
    "no rows": f"SELECT p.category, count(*) AS n, avg(i.quantity) AS a {JOIN} WHERE c.country = 'Nowhere' "
               f"GROUP BY p.category",
    "group key from the fragment": f"SELECT i.line_no, p.category, count(*) AS n, max(i.quantity) AS m {JOIN} "
                                   f"GROUP BY i.line_no, p.category",
    "window over the groups": f"SELECT p.category, sum(i.quantity) AS units, "
                              f"sum(sum(i.quantity)) OVER () AS everything {JOIN} GROUP BY p.category",
}
REFUSED = {
    # the filtering side is NULL-extended: an unmatched line still counts
    "left join": "SELECT p.category, count(*) AS n, sum(i.quantity) AS s FROM sales.order_items i "
                 "LEFT JOIN crm.customers c ON c.customer_id = i.order_id "
                 "JOIN catalog.products p ON p.product_id = i.product_id GROUP BY p.category",
    "distinct aggregate": f"SELECT p.category, count(DISTINCT i.quantity) AS q {JOIN} GROUP BY p.category",
    "aggregate over two fragments": f"SELECT p.category, sum(i.quantity * c.customer_id) AS x {JOIN} "
                                    f"GROUP BY p.category",
    "the filter's column is read": f"SELECT p.category, c.segment, sum(i.quantity) AS s {JOIN} "
                                   f"GROUP BY p.category, c.segment",
    "a subquery reads the filter": f"SELECT p.category, sum(i.quantity) AS s {JOIN} WHERE c.customer_id IN "
                                   f"(SELECT o.customer_id FROM sales.orders o WHERE o.status = 'returned') "
                                   f"GROUP BY p.category",
    "a correlated subquery reads the grouped fragment": f"SELECT i.line_no, sum(i.quantity) AS s, "
        f"(SELECT count(*) FROM sales.orders o WHERE o.order_id = i.line_no) AS k {JOIN} GROUP BY i.line_no",
}


@pytest.fixture(scope="module")
def eager(demo: Demo) -> Iterator[MeshRuntime]:
    spec = load_descriptor(demo.descriptor)
    # no plan cache: a test plans again with a rule taken out of the pipeline
    settings = replace(spec.settings, pre_aggregate_min_rows=0, plan_cache_size=0, merge_pre_aggregate_percent=25)
    with MeshRuntime.open(replace(spec, settings=settings)) as runtime:
        yield runtime


@pytest.mark.parametrize("sql", APPLIES.values(), ids=APPLIES.keys())
def test_groups_in_the_merge_and_agrees(eager: MeshRuntime, demo_oracle, sql: str) -> None:  # type: ignore[no-untyped-def]
    plan, actual = run(eager, sql)
    assert any(NOTE in note for note in plan.notes)
    assert_same_result(actual, demo_oracle.sql(sql).to_arrow_table(), ordered="ORDER BY" in sql)


@pytest.mark.parametrize("sql", APPLIES.values(), ids=APPLIES.keys())
def test_alone_without_the_fragment_rule(eager: MeshRuntime, demo_oracle, sql: str,  # type: ignore[no-untyped-def]
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Over raw fragment rows (no partials below it), the answer is still the oracle's."""
    monkeypatch.setattr(rules, "RULES", tuple(r for r in rules.RULES if r.__name__ != "pre_aggregate"))
    plan, actual = run(eager, sql)
    assert any(NOTE in note for note in plan.notes)
    assert not any("aggregates before the join" in note for note in plan.notes)
    assert_same_result(actual, demo_oracle.sql(sql).to_arrow_table(), ordered="ORDER BY" in sql)


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_refused_where_it_would_be_wrong(eager: MeshRuntime, demo_oracle, sql: str) -> None:  # type: ignore[no-untyped-def]
    plan, actual = run(eager, sql)
    assert not any(NOTE in note for note in plan.notes)
    assert_same_result(actual, demo_oracle.sql(sql).to_arrow_table(), ordered=False)


def test_off_by_default(demo: Demo) -> None:
    spec = load_descriptor(demo.descriptor)
    with MeshRuntime.open(replace(spec, settings=replace(spec.settings, pre_aggregate_min_rows=0))) as runtime:
        plan, _ = run(runtime, APPLIES["rollup"])
    assert any("aggregates before the join" in note for note in plan.notes)
    assert not any(NOTE in note for note in plan.notes)


def test_types_match_the_plain_plan(eager: MeshRuntime, demo_runtime: MeshRuntime) -> None:
    sql = APPLIES["sum count avg min max"]
    assert run(eager, sql)[1].schema.equals(run(demo_runtime, sql)[1].schema)


def _residual(sql: str) -> tuple[exp.Select, dict[str, FragmentDraft]]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Select)
    for table in tree.find_all(exp.Table):
        table.meta[FRAGMENT_KEY] = table.name
    drafts = {name: FragmentDraft(name, None, sqlglot.parse_one("SELECT 1"))  # type: ignore[arg-type]
              for name in ("f0", "f1", "f2", "f3")}
    return tree, drafts


B17 = ("SELECT f2.cat, AVG(f0.qty) AS q FROM f0 AS f0 CROSS JOIN f1 AS f1 CROSS JOIN f2 AS f2 CROSS JOIN f3 AS f3 "
       "WHERE f0.day = f1.day AND f0.item = f2.item AND f0.wh = f3.wh GROUP BY ROLLUP (f2.cat)")


def test_the_rewrite_of_b17s_shape() -> None:
    tree, drafts = _residual(B17)
    assert eager_residual(tree, drafts, 0, None) == [
        "f0 aggregates in the merge with f1, f3 before the other joins, grouped by item"]
    assert tree.sql(dialect="duckdb").replace('"', "") == (
        "SELECT f2.cat, CAST(SUM(__eager0.__p0) AS DOUBLE) / NULLIF(SUM(__eager0.__p1), 0) AS q "
        "FROM (SELECT f0.item AS item, SUM(f0.qty) AS __p0, COUNT(f0.qty) AS __p1 "
        "FROM f0 AS f0 CROSS JOIN f1 AS f1 CROSS JOIN f3 AS f3 WHERE f0.day = f1.day AND f0.wh = f3.wh "
        "GROUP BY f0.item) AS __eager0 CROSS JOIN f2 AS f2 WHERE __eager0.item = f2.item GROUP BY ROLLUP (f2.cat)")


def test_without_statistics_only_when_forced() -> None:
    tree, drafts = _residual(B17)
    assert eager_residual(tree, drafts, 10_000, None) == []
    assert "__eager" not in tree.sql()


def test_a_filtering_joins_other_conditions_stay_outside() -> None:
    tree, drafts = _residual(
        "SELECT f2.cat, SUM(f0.qty) AS q FROM f0 AS f0 CROSS JOIN f2 AS f2 "
        "JOIN f3 AS f3 ON f0.wh = f3.wh AND f0.item = f2.item GROUP BY f2.cat")
    assert eager_residual(tree, drafts, 0, None)
    assert tree.sql(dialect="duckdb").replace('"', "") == (
        "SELECT f2.cat, SUM(__eager0.__p0) AS q FROM (SELECT f0.item AS item, SUM(f0.qty) AS __p0 FROM f0 AS f0 "
        "CROSS JOIN f3 AS f3 WHERE f0.wh = f3.wh GROUP BY f0.item) AS __eager0 CROSS JOIN f2 AS f2 "
        "WHERE __eager0.item = f2.item GROUP BY f2.cat")
