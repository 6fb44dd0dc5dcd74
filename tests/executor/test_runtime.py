"""The embedded runtime over the demo mesh: results, names, access, refusals, failures, cancellation.

Expected results come from the oracle (DuckDB over the same rows in one database) or from the
demo's own definition (which user reads which product), never from flightmesh's output.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import (
    AuthenticationError,
    CancelScope,
    EngineUnavailable,
    ForbiddenFunction,
    QueryCancelled,
    QueryError,
    QueryTimeout,
    UnknownColumn,
    UnknownTable,
    load_descriptor,
)
from flightmesh.planner import EXPLAIN_SCHEMA
from tests.demo_fixtures import Demo, principal
from tests.oracle import assert_same_result

CROSS = """
    SELECT c.country, count(*) AS orders, sum(i.quantity * i.unit_price) AS revenue
    FROM sales.orders o JOIN crm.customers c ON c.customer_id = o.customer_id
    JOIN sales.order_items i ON i.order_id = o.order_id
    GROUP BY c.country ORDER BY c.country
"""


def test_cross_product_join_equals_one_engine(demo_runtime: MeshRuntime, demo_oracle) -> None:  # type: ignore[no-untyped-def]
    alice = principal(demo_runtime, "alice")
    actual = demo_runtime.query(CROSS, alice).read_all()
    assert_same_result(actual, demo_oracle.sql(CROSS).to_arrow_table(), ordered=True)
    assert actual.column_names == ["country", "orders", "revenue"]


def test_stream_schema_equals_announced_schema(demo_runtime: MeshRuntime) -> None:
    alice = principal(demo_runtime, "alice")
    for sql in (CROSS, "SELECT * FROM crm.customers", "SELECT count(*) FROM sales.orders",
                "SELECT name FROM crm.customers UNION ALL SELECT name FROM catalog.products"):
        prepared = demo_runtime.prepare(sql, alice)
        plan = demo_runtime.bind(prepared, alice)
        reader = demo_runtime.execute(plan)
        assert reader.schema.equals(prepared.schema)
        table = reader.read_all()
        assert table.schema.equals(prepared.schema)
        assert all(field.nullable for field in table.schema)


def test_sqlite_values_arrive_with_declared_types(demo_runtime: MeshRuntime) -> None:
    table = demo_runtime.query("SELECT customer_id, signed_up_on FROM crm.customers LIMIT 3",
                               principal(demo_runtime, "alice")).read_all()
    assert table.schema.field("customer_id").type == pa.int64()
    assert table.schema.field("signed_up_on").type == pa.date32()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders",                 # unqualified, unique among granted products
        "SELECT * FROM sales.orders",
        'SELECT * FROM "SALES"."Orders"',      # names are case-insensitive
        "SELECT * FROM acme.sales.orders",     # with the catalog, as Harlequin writes it
    ],
)
def test_table_name_forms(demo_runtime: MeshRuntime, sql: str) -> None:
    table = demo_runtime.query(sql + " ORDER BY order_id LIMIT 2", principal(demo_runtime, "alice")).read_all()
    assert table.num_rows == 2


def test_ungranted_and_missing_tables_fail_alike(demo_runtime: MeshRuntime) -> None:
    bob = principal(demo_runtime, "bob")  # sales and catalog, not crm
    errors = []
    for sql in ("SELECT * FROM crm.customers", "SELECT * FROM crm.nosuch", "SELECT * FROM nosuch.customers",
                "SELECT * FROM customers", "SELECT * FROM other_catalog.sales.orders"):
        with pytest.raises(UnknownTable) as caught:
            demo_runtime.query(sql, bob)
        errors.append(str(caught.value))
    assert errors[0] == "table crm.customers does not exist"
    assert errors[1] == "table crm.nosuch does not exist"
    assert "crm" not in errors[3]


def test_unknown_column(demo_runtime: MeshRuntime) -> None:
    with pytest.raises(UnknownColumn, match="nosuch"):
        demo_runtime.query("SELECT nosuch FROM sales.orders", principal(demo_runtime, "alice"))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('data/catalog/products.parquet')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT getenv('HOME')",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT load_extension('x')",
        "SELECT current_database()",
        "SELECT version()",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT * FROM sales.orders WHERE order_id = pg_sleep(10)",
    ],
)
def test_escape_hatches_are_refused(demo_runtime: MeshRuntime, sql: str) -> None:
    with pytest.raises((ForbiddenFunction, UnknownTable)):
        demo_runtime.query(sql, principal(demo_runtime, "alice"))


def test_current_user_is_the_principal(demo_runtime: MeshRuntime) -> None:
    table = demo_runtime.query("SELECT current_user AS who", principal(demo_runtime, "carol")).read_all()
    assert table.to_pylist() == [{"who": "carol"}]


def test_prepared_statement_runs_with_several_parameter_sets(demo_runtime: MeshRuntime, demo_oracle) -> None:  # type: ignore[no-untyped-def]
    alice = principal(demo_runtime, "alice")
    sql = ("SELECT o.order_id, c.name FROM sales.orders o JOIN crm.customers c ON c.customer_id = o.customer_id "
           "WHERE c.country = ? AND o.ordered_on >= ? ORDER BY o.order_id")
    prepared = demo_runtime.prepare(sql, alice)
    assert prepared.parameter_schema.names == ["0", "1"]
    for country, since in (("Japan", "2025-06-01"), ("Kenya", "2024-01-01"), ("Nowhere", "2020-01-01")):
        actual = demo_runtime.execute(demo_runtime.bind(prepared, alice, [country, since])).read_all()
        expected = demo_oracle.sql(sql, params=[country, since]).to_arrow_table()
        assert_same_result(actual, expected, ordered=True)


def test_plans_are_cached(demo_runtime: MeshRuntime) -> None:
    alice = principal(demo_runtime, "alice")
    prepared = demo_runtime.prepare(CROSS, alice)
    assert demo_runtime.bind(prepared, alice) is demo_runtime.bind(prepared, alice)
    other = principal(demo_runtime, "bob")
    with pytest.raises(UnknownTable):
        demo_runtime.bind(prepared, other)  # a plan is never shared across policy contexts


def test_explain_lists_fragments_and_residual(demo_runtime: MeshRuntime) -> None:
    table = demo_runtime.query("EXPLAIN " + CROSS, principal(demo_runtime, "alice")).read_all()
    assert table.schema.equals(EXPLAIN_SCHEMA)
    rows = table.to_pylist()
    kinds = [row["kind"] for row in rows]
    assert kinds.count("fragment") == 2 and "residual" in kinds
    fragments = {row["products"]: row for row in rows if row["kind"] == "fragment"}
    assert set(fragments) == {"sales", "crm"}
    assert fragments["crm"]["engine"] == "sqlite" and '"customers"' in fragments["crm"]["sql"]


def test_explain_analyze_counts_rows(demo_runtime: MeshRuntime, demo_oracle) -> None:  # type: ignore[no-untyped-def]
    rows = demo_runtime.query("EXPLAIN ANALYZE " + CROSS, principal(demo_runtime, "alice")).read_all().to_pylist()
    crm = next(row for row in rows if row["kind"] == "fragment" and row["products"] == "crm")
    assert crm["rows"] == demo_oracle.sql("SELECT count(*) FROM crm.customers").fetchall()[0][0]
    residual = next(row for row in rows if row["kind"] == "residual")
    assert residual["rows"] == demo_oracle.sql(f"SELECT count(*) FROM ({CROSS})").fetchall()[0][0]
    assert all(row["ms"] is not None for row in rows if row["kind"] in ("fragment", "residual", "planning"))


def test_authentication(demo_runtime: MeshRuntime, demo: Demo) -> None:
    assert demo_runtime.authenticate("alice", demo.passwords["alice"]).roles == frozenset({"analyst"})
    for user, password in (("alice", "wrong"), ("nobody", "x"), ("alice", "")):
        with pytest.raises(AuthenticationError, match="invalid username or password"):
            demo_runtime.authenticate(user, password)


def test_merge_errors_are_query_errors_and_the_runtime_keeps_serving(demo_runtime: MeshRuntime) -> None:
    alice = principal(demo_runtime, "alice")
    with pytest.raises(QueryError):
        demo_runtime.query("SELECT CAST(c.name AS INTEGER) FROM crm.customers c JOIN sales.orders o "
                           "ON o.customer_id = c.customer_id", alice).read_all()
    assert demo_runtime.query(CROSS, alice).read_all().num_rows > 0


@pytest.fixture
def private_demo(demo: Demo, tmp_path: Path) -> Demo:
    """A copy of the demo mesh this test may break."""
    root = tmp_path / "demo"
    shutil.copytree(demo.root, root)
    return Demo(root / "mesh.yaml", demo.passwords)


def test_product_whose_file_disappears_is_unavailable_and_others_keep_serving(private_demo: Demo) -> None:
    with MeshRuntime.open(private_demo.descriptor) as runtime:
        alice = principal(runtime, "alice")
        assert runtime.query("SELECT count(*) FROM crm.customers", alice).read_all().num_rows == 1
        (private_demo.root / "data" / "crm.sqlite").unlink()
        with pytest.raises(EngineUnavailable) as caught:
            runtime.query("SELECT count(*) FROM crm.customers", alice).read_all()
        assert caught.value.product == "crm"
        assert "crm" in str(caught.value)
        with pytest.raises(EngineUnavailable):
            runtime.query(CROSS, alice).read_all()
        assert runtime.query("SELECT count(*) FROM sales.orders", alice).read_all().num_rows == 1


SLOW = ("SELECT count(*) FROM sales.order_items a, sales.order_items b, crm.customers c "
        "WHERE a.quantity + b.quantity + c.customer_id = -1")


def test_cancelling_stops_a_running_query(demo_runtime: MeshRuntime) -> None:
    cancel = CancelScope()
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        demo_runtime.query(SLOW, principal(demo_runtime, "alice"), cancel=cancel).read_all()
    assert time.monotonic() - started < 10
    assert demo_runtime.query("SELECT 1 AS one", principal(demo_runtime, "alice")).read_all().num_rows == 1


def test_query_timeout(demo: Demo) -> None:
    spec = load_descriptor(demo.descriptor)
    spec = replace(spec, settings=replace(spec.settings, query_timeout_seconds=0.3))
    with MeshRuntime.open(spec) as runtime:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            runtime.query(SLOW, principal(runtime, "alice")).read_all()
        assert time.monotonic() - started < 10
