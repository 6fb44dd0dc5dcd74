"""The policy matrix: users with different roles x queries, against hand-written policy oracles.

For every user the expected result comes from DuckDB over the raw rows with that user's policy
written by hand as views (``govmesh.ORACLE_VIEWS``), never from flightmesh. Where the oracle has
no such table (the user may not read the product), flightmesh must answer "does not exist".
"""

from __future__ import annotations

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import FlightmeshError, UnknownTable
from tests.governance.conftest import who
from tests.governance.govmesh import USERS, GovMesh, oracle_for
from tests.oracle import assert_same_result

QUERIES = {
    "customers_all": "SELECT * FROM crm.customers ORDER BY customer_id",
    "customers_by_region": "SELECT region, count(*) AS n, sum(score) AS s FROM crm.customers "
    "GROUP BY region ORDER BY region",
    "orders_join_customers": "SELECT o.order_id, c.name, c.phone, o.amount FROM sales.orders o "
    "JOIN crm.customers c ON c.customer_id = o.customer_id ORDER BY o.order_id",
    "orders_all": "SELECT * FROM sales.orders ORDER BY order_id",
    "orders_by_region": "SELECT region, count(*) AS n, sum(amount) AS total FROM sales.orders "
    "GROUP BY region ORDER BY region",
    "employees_all": "SELECT * FROM hr.employees ORDER BY emp_id",
    "predicate_on_masked": "SELECT count(*) AS n FROM crm.customers WHERE phone LIKE '%1%'",
    "pii_not_null": "SELECT email FROM crm.customers WHERE email IS NOT NULL ORDER BY email",
    "cte_join": "WITH x AS (SELECT customer_id FROM crm.customers WHERE score > 100) "
    "SELECT count(*) AS n FROM x JOIN sales.orders o ON o.customer_id = x.customer_id",
    "in_subquery": "SELECT c.customer_id FROM crm.customers c WHERE c.customer_id IN "
    "(SELECT customer_id FROM sales.orders WHERE amount > 500) ORDER BY 1",
    "self_join": "SELECT a.customer_id, b.customer_id AS other FROM crm.customers a JOIN crm.customers b "
    "ON a.region = b.region AND a.customer_id + 3 = b.customer_id ORDER BY 1",
    "left_join_count": "SELECT c.region, count(o.order_id) AS n FROM crm.customers c "
    "LEFT JOIN sales.orders o ON o.customer_id = c.customer_id GROUP BY c.region ORDER BY 1",
    "union": "SELECT region FROM crm.customers UNION SELECT region FROM sales.orders ORDER BY 1",
    "payments_all": "SELECT * FROM finance.payments ORDER BY payment_id",
    "payments_join_customers": "SELECT p.region, count(*) AS n, sum(p.amount) AS total "
    "FROM finance.payments p "
    "JOIN crm.customers c ON c.customer_id = p.customer_id "
    "GROUP BY p.region ORDER BY p.region",
    # ``code`` is numeric text only on rows the row filters leave: the cast must never meet the others.
    "employees_code_cast": "SELECT count(*) AS n FROM hr.employees WHERE CAST(code AS INTEGER) > 0",
    "orders_code_cast": "SELECT count(*) AS n FROM sales.orders WHERE CAST(code AS INTEGER) > 0",
    "payments_code_cast": "SELECT count(*) AS n FROM finance.payments WHERE CAST(code AS INTEGER) > 0",
}

MATRIX_USERS = ("ann", "sam", "pia", "nora", "rita", "mike", "rob", "zed")


@pytest.fixture(scope="module")
def oracles(gov_mesh: GovMesh) -> dict[str, duckdb.DuckDBPyConnection]:
    found = {user: oracle_for(gov_mesh, user) for user in USERS}
    yield found  # type: ignore[misc]
    for oracle in found.values():
        oracle.close()


@pytest.mark.parametrize("query", sorted(QUERIES))
@pytest.mark.parametrize("user", MATRIX_USERS)
def test_matrix(
    gov_runtime: MeshRuntime,
    gov_mesh: GovMesh,
    oracles: dict[str, duckdb.DuckDBPyConnection],
    user: str,
    query: str,
) -> None:
    sql = QUERIES[query]
    if "finance." in sql and not gov_mesh.has_postgres:
        pytest.skip("PostgreSQL is not reachable: the finance product is not in the mesh")
    principal = who(gov_runtime, user)
    try:
        expected = oracles[user].sql(sql).to_arrow_table()
    except duckdb.CatalogException:
        with pytest.raises(UnknownTable):
            gov_runtime.query(sql, principal).read_all()
        return
    except duckdb.ConversionException:
        # The user may see a row whose code is not a number: the query fails for them too.
        with pytest.raises(FlightmeshError) as caught:
            gov_runtime.query(sql, principal).read_all()
        assert "X-" not in str(caught.value)
        return
    actual = gov_runtime.query(sql, principal).read_all()
    assert_same_result(actual, expected, ordered="ORDER BY" in sql)


def test_matrix_is_not_trivial(gov_mesh: GovMesh, oracles: dict[str, duckdb.DuckDBPyConnection]) -> None:
    """The hand-written policies give different users different answers (the matrix can fail)."""
    counts = {}
    for user in ("ann", "sam", "pia", "nora"):
        counts[user] = oracles[user].sql("SELECT count(*) FROM crm.customers").fetchall()[0][0]
    assert len(set(counts.values())) == 4, counts
    masked = oracles["sam"].sql("SELECT count(*) FROM crm.customers WHERE phone LIKE '***-%'").fetchall()[0]
    assert masked is not None and masked[0] == counts["sam"] > 0


@pytest.mark.parametrize(
    ("user", "sql", "engine", "must_contain"),
    [
        ("sam", "SELECT * FROM crm.customers", "sqlite", ["'EMEA'", "'deleted'", "SUBSTRING(", "CASE WHEN"]),
        ("rita", "SELECT * FROM sales.orders", "parquet", ["'EMEA'", "'APAC'", "CAST(NULL AS"]),
        ("mike", "SELECT * FROM hr.employees", "duckdb", ["'mike'", "CAST(NULL AS"]),
        ("rob", "SELECT * FROM finance.payments", "postgresql", ["'APAC'", "CAST(NULL AS"]),
        (
            "sam",
            "SELECT o.amount, c.name FROM sales.orders o "
            "JOIN crm.customers c ON c.customer_id = o.customer_id",
            "sqlite",
            ["'EMEA'", "'deleted'"],
        ),
    ],
)
def test_explain_shows_the_policy_inside_the_fragment(
    gov_runtime: MeshRuntime, gov_mesh: GovMesh, user: str, sql: str, engine: str, must_contain: list[str]
) -> None:
    if engine == "postgresql" and not gov_mesh.has_postgres:
        pytest.skip("PostgreSQL is not reachable")
    # The statements the engines run (EXPLAIN shows policies by name only: test_explain_policies).
    principal = who(gov_runtime, user)
    plan = gov_runtime.bind(gov_runtime.prepare(sql, principal), principal)
    fragments = [fragment.sql for fragment in plan.fragments if fragment.engine == engine]
    assert len(fragments) == 1, plan.fragments
    for text in must_contain:
        assert text in fragments[0], (text, fragments[0])
    if plan.residual is not None:  # nothing of the policy is left for the merge engine
        assert "'EMEA'" not in plan.residual and "'APAC'" not in plan.residual


def test_ungoverned_table_stays_unwrapped(gov_runtime: MeshRuntime) -> None:
    rows = (
        gov_runtime.query("EXPLAIN SELECT * FROM hr.employees", who(gov_runtime, "ann"))
        .read_all()
        .to_pylist()
    )
    fragment = next(row for row in rows if row["kind"] == "fragment")
    assert "CASE" not in fragment["sql"] and fragment["sql"].count("SELECT") == 1
