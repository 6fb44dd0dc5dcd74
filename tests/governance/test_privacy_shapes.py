"""What a privacy-mode principal may run, what is refused (and how it says so), and the
contribution bound, compared with the bound written by hand over the raw data.

The bound tests remove our noise (``laplace_sampler`` made the identity) so the exact bounded
aggregate the engine computed is what comes back; everything else runs as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flightmesh.executor import MeshRuntime, privacy_release
from flightmesh.mesh import Principal, PrivacyBudgetExhausted, UnknownTable, UnsupportedQuery
from tests.governance.privacy_mesh import BIG_UNIT, build_privacy_mesh, raw


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dp_shapes")
    build_privacy_mesh(folder, epsilon_per_query=0.001, budget=1000.0, per="total")
    return folder


@pytest.fixture(scope="module")
def runtime(folder: Path) -> Iterator[MeshRuntime]:
    with MeshRuntime.open(folder / "mesh.yaml") as mesh:
        yield mesh


def principal(runtime: MeshRuntime, user: str) -> Principal:
    found = runtime.principal_for(user)
    assert found is not None
    return found


@pytest.fixture
def exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """No noise: each mechanism releases its exact bounded value."""
    monkeypatch.setattr(privacy_release, "laplace_sampler", lambda kind, scale: lambda value: value)


def rows(runtime: MeshRuntime, sql: str, user: str = "rita") -> list[dict[str, Any]]:
    return runtime.query(sql, principal(runtime, user)).read_all().to_pylist()


REFUSED = [
    ("SELECT * FROM sales.orders", "selecting rows (SELECT *)"),
    ("SELECT o.* FROM sales.orders o", "selecting rows (SELECT *)"),
    ("SELECT amount FROM sales.orders", "row-level"),
    ("SELECT customer_id, COUNT(*) FROM sales.orders GROUP BY customer_id", "GROUP BY customer_id"),
    ("SELECT MIN(amount) FROM sales.orders", "MIN"),
    ("SELECT MAX(amount) FROM sales.orders", "MAX"),
    ("SELECT SUM(order_id) FROM sales.orders", "no declared bounds"),
    ("SELECT AVG(year) FROM sales.orders", "no declared bounds"),
    ("SELECT COUNT(DISTINCT customer_id) FROM sales.orders", "DISTINCT"),
    ("SELECT DISTINCT region FROM sales.orders", "DISTINCT"),
    ("SELECT region, COUNT(*) FROM sales.orders GROUP BY region HAVING COUNT(*) > 5", "HAVING"),
    ("SELECT COUNT(*) OVER () FROM sales.orders", "window function"),
    ("SELECT SUM(amount * 2) FROM sales.orders", "over an expression"),
    ("SELECT COUNT(*) + 1 FROM sales.orders", "result expression"),
    ("SELECT STDDEV(amount) FROM sales.orders", "aggregate"),
    ("SELECT COUNT(*) FROM sales.orders a JOIN sales.orders b ON a.customer_id = b.customer_id", "more than once"),
    ("SELECT COUNT(*) FROM sales.orders WHERE amount > (SELECT AVG(amount) FROM sales.orders)", "more than once"),
    ("SELECT COUNT(*) FROM sales.orders WHERE customer_id IN (SELECT customer_id FROM crm.customers)", "subquery"),
    ("SELECT COUNT(*) FROM sales.orders o JOIN crm.customers c ON o.region = c.segment", "on its primary key"),
    ("SELECT COUNT(*) FROM sales.orders o RIGHT JOIN crm.customers c ON o.customer_id = c.customer_id",
     "on its primary key"),
    ("SELECT COUNT(*) FROM crm.customers c LEFT JOIN sales.orders o ON o.customer_id = c.customer_id",
     "LEFT JOIN from the privacy table"),
    ("SELECT COUNT(*) FROM sales.orders JOIN crm.customers USING (customer_id)", "on its primary key"),
    ("SELECT COUNT(*) FROM sales.orders o, crm.customers c", "on its primary key"),
    ("SELECT COUNT(*) FROM sales.orders o JOIN crm.customers c ON o.customer_id = c.customer_id "
     "JOIN crm.customers d ON o.customer_id = d.customer_id", "more than one join"),
    ("SELECT SUM(c.customer_id) FROM sales.orders o JOIN crm.customers c ON o.customer_id = c.customer_id",
     "only the privacy table's bounded columns"),
    ("SELECT c.segment, COUNT(*) FROM sales.orders o JOIN crm.customers c ON o.customer_id = c.customer_id "
     "GROUP BY c.segment", "GROUP BY c.segment"),
    ("SELECT COUNT(*) FROM (SELECT * FROM sales.orders) AS t", "a subquery"),
    ("WITH t AS (SELECT * FROM sales.orders) SELECT COUNT(*) FROM t", "WITH"),
    ("SELECT COUNT(*) FROM sales.orders UNION ALL SELECT COUNT(*) FROM sales.orders", "more than once"),
    ("SELECT COUNT(*) FROM sales.orders UNION ALL SELECT COUNT(*) FROM crm.customers", "set operation"),
    ("SELECT region, COUNT(*) AS n FROM sales.orders GROUP BY region ORDER BY SUM(amount)", "ORDER BY"),
    ("SELECT COUNT(*) FROM sales.orders LIMIT 1 OFFSET 1", "OFFSET"),
    ("SELECT region FROM sales.orders GROUP BY region", "without an aggregate"),
    ("EXPLAIN ANALYZE SELECT COUNT(*) FROM sales.orders", "EXPLAIN ANALYZE"),
    # Conditions whose failure could depend on one row's value (privacy_conditions)
    ("SELECT COUNT(*) FROM sales.orders WHERE CAST(region AS INTEGER) = 1", "WHERE CAST(region AS INT) is not"),
    ("SELECT COUNT(*) FROM sales.orders WHERE customer_id = 5 AND region = 5", "WHERE region = 5 is not"),
    ("SELECT COUNT(*) FROM sales.orders WHERE region IN ('EMEA', 1)", "WHERE region IN ('EMEA', 1) is not"),
    ("SELECT COUNT(*) FROM sales.orders WHERE region = customer_id", "WHERE region = customer_id is not"),
    ("SELECT COUNT(*) FROM sales.orders WHERE NOT region", "WHERE region is not"),
    ("SELECT COUNT(*) FROM sales.orders WHERE upper(region) = 'EMEA'", "WHERE UPPER(region) is not"),
    ("SELECT COUNT(*) FROM sales.orders WHERE amount / (customer_id - 5) > 1", "is not allowed in privacy mode"),
    ("SELECT COUNT(*) FROM sales.orders o JOIN crm.customers c ON o.customer_id = c.customer_id "
     "AND c.segment = 1", "ON c.segment = 1 is not"),
]


@pytest.mark.parametrize(("sql", "says"), REFUSED, ids=[sql for sql, _ in REFUSED])
def test_disallowed_shapes_are_refused_saying_what_is_allowed(runtime: MeshRuntime, sql: str, says: str) -> None:
    rita = principal(runtime, "rita")
    before = runtime.privacy.ledger.state("rita", "sales", 1000.0, "total").spent
    with pytest.raises(UnsupportedQuery) as refused:
        runtime.query(sql, rita).read_all()
    message = str(refused.value)
    assert says in message
    assert "privacy mode" in message, message
    # a refused query spends nothing
    assert runtime.privacy.ledger.state("rita", "sales", 1000.0, "total").spent == before


def test_a_refusal_lists_what_is_allowed(runtime: MeshRuntime) -> None:
    with pytest.raises(UnsupportedQuery, match=r"allows only COUNT\(\*\), COUNT\(column\), and SUM or AVG"):
        runtime.query("SELECT MAX(amount) FROM sales.orders", principal(runtime, "rita")).read_all()
    with pytest.raises(UnsupportedQuery, match=r"declared public keys of sales.orders \(region, year\)"):
        runtime.query("SELECT amount, COUNT(*) FROM sales.orders GROUP BY amount", principal(runtime, "rita"))


def test_the_product_is_in_metadata_for_the_privacy_principal_but_not_to_others(runtime: MeshRuntime) -> None:
    tables = [t.qualified_name for t in runtime.catalog.tables_for(principal(runtime, "rita"))]
    assert "sales.orders" in tables
    stranger = Principal(name="eve", roles=frozenset({"nobody"}))
    with pytest.raises(UnknownTable):
        runtime.query("SELECT COUNT(*) FROM sales.orders", stranger)


def test_a_full_reader_is_not_in_privacy_mode(runtime: MeshRuntime) -> None:
    assert len(rows(runtime, "SELECT * FROM sales.orders LIMIT 3", user="ana")) == 3


def test_every_declared_key_appears_and_undeclared_groups_do_not(runtime: MeshRuntime, exact: None) -> None:
    released = rows(runtime, "SELECT region, COUNT(*) AS n FROM sales.orders GROUP BY region")
    # NORDICS has no rows; LATAM has rows but is not declared
    assert [r["region"] for r in released] == ["EMEA", "AMER", "APAC", "NORDICS"]
    by_hand = dict(raw(runtime_folder(runtime), """
        SELECT region, SUM(LEAST(n, 10)) FROM (SELECT customer_id, region, COUNT(*) AS n FROM orders
        GROUP BY customer_id, region) GROUP BY region"""))
    assert {r["region"]: r["n"] for r in released} == {"EMEA": by_hand["EMEA"], "AMER": by_hand["AMER"],
                                                       "APAC": by_hand["APAC"], "NORDICS": 0}


def runtime_folder(runtime: MeshRuntime) -> Path:
    assert runtime.descriptor is not None
    return runtime.descriptor.parent


def test_a_unit_with_a_thousand_rows_moves_a_count_by_at_most_the_bound(runtime: MeshRuntime, exact: None) -> None:
    folder = runtime_folder(runtime)
    assert raw(folder, f"SELECT COUNT(*) FROM orders WHERE customer_id = {BIG_UNIT}") == [(1000,)]
    with_unit = rows(runtime, "SELECT COUNT(*) AS n FROM sales.orders")[0]["n"]
    without = rows(runtime, f"SELECT COUNT(*) AS n FROM sales.orders WHERE customer_id <> {BIG_UNIT}")[0]["n"]
    assert with_unit - without == 10
    # the bound by hand: each customer's rows, at most 10 of them
    (by_hand,), = raw(folder, "SELECT SUM(LEAST(n, 10)) FROM (SELECT COUNT(*) AS n FROM orders GROUP BY customer_id)")
    assert with_unit == by_hand


def test_sums_are_clamped_and_bounded_per_unit(runtime: MeshRuntime, exact: None) -> None:
    folder = runtime_folder(runtime)
    released = rows(runtime, "SELECT SUM(amount) AS s, COUNT(amount) AS c, AVG(amount) AS a FROM sales.orders")[0]
    # Every other customer has at most 5 rows (all kept); the big unit's 10 kept rows are 500 each.
    (by_hand,), = raw(folder, "SELECT SUM(LEAST(GREATEST(amount, 0), 1000)) FROM orders "
                              f"WHERE customer_id <> {BIG_UNIT}")
    assert released["s"] == pytest.approx(by_hand + 10 * 500.0)
    assert released["a"] == pytest.approx(released["s"] / released["c"])
    (unclamped,), = raw(folder, f"SELECT SUM(amount) FROM orders WHERE customer_id <> {BIG_UNIT}")
    assert unclamped > by_hand   # the data has amounts above the bound: the clamp did something


def test_where_applies_before_the_bound(runtime: MeshRuntime, exact: None) -> None:
    released = rows(runtime, "SELECT year, COUNT(*) AS n FROM sales.orders WHERE region = 'APAC' GROUP BY year "
                             "ORDER BY year DESC")
    by_hand = dict(raw(runtime_folder(runtime), "SELECT year, SUM(LEAST(n, 10)) FROM (SELECT customer_id, year, "
                       "COUNT(*) AS n FROM orders WHERE region = 'APAC' GROUP BY customer_id, year) GROUP BY year"))
    assert [(r["year"], r["n"]) for r in released] == [(2024, by_hand[2024]), (2023, by_hand[2023])]


def test_conditions_comparing_columns_with_values_apply_before_the_bound(runtime: MeshRuntime, exact: None) -> None:
    where = ("region IN ('EMEA', 'AMER') AND amount BETWEEN 100 AND 900 AND NOT region LIKE 'A%' "
             "AND (year = CAST('2024' AS INTEGER) OR order_id IS NULL) AND customer_id <> '17'")
    released = rows(runtime, f"SELECT COUNT(*) AS n FROM sales.orders WHERE {where}")
    (by_hand,), = raw(runtime_folder(runtime), "SELECT SUM(LEAST(n, 10)) FROM (SELECT COUNT(*) AS n FROM orders "
                      f"WHERE {where} GROUP BY customer_id)")
    assert released == [{"n": by_hand}] and by_hand > 10


def test_explain_shows_the_cost_and_spends_nothing(runtime: MeshRuntime) -> None:
    before = runtime.privacy.ledger.state("rita", "sales", 1000.0, "total").spent
    plan = rows(runtime, "EXPLAIN SELECT region, AVG(amount) FROM sales.orders GROUP BY region")
    details = " ".join(str(r["detail"]) for r in plan)
    assert "costs epsilon 0.001" in details
    assert "SUM(amount) gets Laplace noise of scale 2e+07" in details   # 10 * 1000 / (0.001 / 2)
    assert "COUNT(amount) for AVG(amount) gets Laplace noise of scale 20000" in details
    assert runtime.privacy.ledger.state("rita", "sales", 1000.0, "total").spent == before
    assert "estimated rows" not in details   # the statistics are exact counts


def test_the_row_estimate_is_hidden_from_a_privacy_reader(runtime: MeshRuntime) -> None:
    sql = "SELECT row_estimate FROM mesh.tables WHERE product = 'sales'"
    assert rows(runtime, sql) == [{"row_estimate": None}]
    (full,) = rows(runtime, sql, user="ana")
    assert full["row_estimate"] is not None   # a full reader sees the statistics


def test_results_carry_what_was_spent(runtime: MeshRuntime) -> None:
    schema = runtime.query("SELECT COUNT(*) AS n, SUM(amount) AS s FROM sales.orders",
                           principal(runtime, "sam")).read_all().schema
    metadata = schema.metadata
    assert metadata[b"flightmesh.privacy.epsilon"] == b"0.001"
    assert metadata[b"flightmesh.privacy.remaining"] == b"999.999"
    assert schema.field("n").metadata[b"flightmesh.privacy.noise_scale"] == b"20000"     # 10 / 0.0005
    assert schema.field("s").metadata[b"flightmesh.privacy.noise_scale"] == b"2e+07"     # 10 * 1000 / 0.0005


def test_budget_exhaustion_says_what_remains(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.4, budget=1.0, per="week")
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        mesh.query("SELECT COUNT(*) FROM sales.orders", rita).read_all()
        mesh.query("SELECT COUNT(*) FROM sales.orders", rita).read_all()
        with pytest.raises(PrivacyBudgetExhausted, match=r"costs epsilon 0.4, 0.2 of 1 remains; it resets at \d{4}"):
            mesh.query("SELECT COUNT(*) FROM sales.orders", rita).read_all()


JOINED = ("SELECT o.region, COUNT(*) AS n, COUNT(c.segment) AS known FROM sales.orders AS o "
          "JOIN crm.customers AS c ON o.customer_id = c.customer_id WHERE c.segment = 'retail' GROUP BY o.region")


def test_a_join_on_the_other_tables_primary_key_keeps_the_bound(runtime: MeshRuntime, exact: None) -> None:
    released = rows(runtime, JOINED)
    # crm.customers holds customer 9999 twice although its declared key says otherwise: the big unit
    # still counts 10 rows, not 20.
    by_hand = dict(raw(runtime_folder(runtime), """
        SELECT region, SUM(LEAST(n, 10)) FROM (SELECT customer_id, region, COUNT(*) AS n FROM orders
        WHERE customer_id IN (SELECT customer_id FROM crm.customers WHERE segment = 'retail')
        GROUP BY customer_id, region) GROUP BY region"""))
    assert {r["region"]: r["n"] for r in released} == {"EMEA": by_hand["EMEA"], "AMER": by_hand["AMER"],
                                                       "APAC": by_hand["APAC"], "NORDICS": 0}
    assert [r["known"] for r in released] == [r["n"] for r in released]


def test_a_left_join_from_the_privacy_table_is_allowed(runtime: MeshRuntime, exact: None) -> None:
    (released,) = rows(runtime, "SELECT COUNT(*) AS n, COUNT(c.segment) AS known FROM sales.orders AS o "
                                "LEFT JOIN crm.customers AS c ON o.customer_id = c.customer_id")
    (by_hand,), = raw(runtime_folder(runtime),
                      "SELECT SUM(LEAST(n, 10)) FROM (SELECT COUNT(*) AS n FROM orders GROUP BY customer_id)")
    assert released == {"n": by_hand, "known": by_hand}   # every customer of orders is in crm.customers
