"""Late materialization for top-N (planner/rules/late_rows.py), over real PostgreSQL, DuckDB and SQLite.

crm (PostgreSQL) keeps customers with a primary key, governed by a row filter and a mask on a
wide column; lake (DuckDB) keeps people with a primary key; shop (SQLite) keeps the orders. A
query ending in ORDER BY ... LIMIT reads the customers' (people's) wide columns only for the top
keys. Every result is compared with DuckDB over the same rows in one database (the oracle), the
governed table written there by hand as the view the policies mean.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import replace

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.executor.bound import BoundPlan
from flightmesh.mesh import load_descriptor
from flightmesh.planner.serial import plan_from_dict, plan_to_dict
from tests.connectors.conftest import PG_HOST, PG_PORT, pg_execute, service
from tests.oracle import assert_same_result
from tests.planner.test_constructs import Mesh  # runtime, oracle, principal: plan(), query(), agrees()

CUSTOMERS = 600
ORDERS = 6000


def _customers() -> list[tuple[int, str, str | None, str | None, int]]:
    rows = []
    for i in range(1, CUSTOMERS + 1):
        city = None if i % 5 == 0 else f"city {i % 17}"
        note = None if i % 3 == 0 else f"note of customer {i} " + "x" * (i % 40)
        rows.append((i, f"name {i:04d}", city, note, i % 50))   # score % 50: the row filter hides score <= 5
    return rows


def _orders() -> list[tuple[int, int, int]]:
    # customer 0 and CUSTOMERS + 1.. do not exist: their orders null-extend in a LEFT JOIN. Amounts
    # repeat, so totals and amounts tie (at the limit too).
    return [(i, (i * 7) % (CUSTOMERS + 40), 1 + (i % 4)) for i in range(ORDERS)]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"flightmesh_late_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
    pg_execute(admin, f'CREATE DATABASE "{name}"')
    uri = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    root = tmp_path_factory.mktemp("late_rows")
    customers, orders = _customers(), _orders()
    try:
        values = ", ".join(f"({i}, '{n}', {_text(c)}, {_text(t)}, {s})" for i, n, c, t, s in customers)
        pg_execute(uri,
                   "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, city text, note text, "
                   "score integer NOT NULL)",
                   f"INSERT INTO customers VALUES {values}",
                   "CREATE TABLE nopk (id integer NOT NULL, name text)",
                   "INSERT INTO nopk SELECT id, name FROM customers",
                   "CREATE TABLE pairs (id integer, part integer, name text, PRIMARY KEY (id, part))",
                   "INSERT INTO pairs SELECT id, 1, name FROM customers",
                   "CREATE TABLE masked (id integer PRIMARY KEY, name text)",
                   "INSERT INTO masked SELECT id, name FROM customers",
                   "ANALYZE")
        with duckdb.connect(str(root / "lake.duckdb")) as lake:
            lake.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR, bio VARCHAR)")
            lake.executemany("INSERT INTO people VALUES (?, ?, ?)", [(i, n, t) for i, n, _, t, _ in customers])
        with sqlite3.connect(root / "shop.sqlite") as shop:
            shop.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, "
                         "amount INTEGER NOT NULL)")
            shop.executemany("INSERT INTO orders VALUES (?, ?, ?)", orders)
            shop.execute("ANALYZE")
        (root / "mesh.yaml").write_text(
            "mesh: {name: acme}\nsettings: {schema_refresh_seconds: 0, statistics_refresh_seconds: 0}\n"
            "users:\n  u: {password: u-pw, roles: [analyst]}\nproducts:\n"
            f"  crm:\n    engine: {{kind: postgresql, uri: '{uri}', allow_privileged: true}}\n"
            "    access: {read: [analyst]}\n"
            "    tables: {customers: {}, nopk: {}, pairs: {}, masked: {}}\n"
            "    policies:\n"
            "      row_filters:\n        - {table: customers, where: \"score > 5\"}\n"
            "      masks:\n        - {table: customers, column: note, with: \"upper(note)\"}\n"
            "        - {table: masked, column: id, with: \"id % 7\"}\n"
            f"  lake:\n    engine: {{kind: duckdb, path: {root / 'lake.duckdb'}}}\n    access: {{read: [analyst]}}\n"
            "    tables: {people: {}}\n"
            f"  shop:\n    engine: {{kind: sqlite, path: {root / 'shop.sqlite'}}}\n    access: {{read: [analyst]}}\n"
            "    tables: {orders: {}}\n")
        spec = load_descriptor(root / "mesh.yaml")
        # Small tables: every rule (and dynamic filter) applies wherever it is correct.
        spec = replace(spec, settings=replace(spec.settings, pre_aggregate_min_rows=0,
                                              dynamic_filter_min_probe_rows=0))
        oracle = duckdb.connect()
        oracle.execute("CREATE SCHEMA crm; CREATE SCHEMA lake; CREATE SCHEMA shop")
        oracle.execute("CREATE TABLE crm.raw (id INTEGER, name VARCHAR, city VARCHAR, note VARCHAR, score INTEGER)")
        oracle.executemany("INSERT INTO crm.raw VALUES (?, ?, ?, ?, ?)", customers)
        # The policies by hand: filter, then mask.
        oracle.execute("CREATE VIEW crm.customers AS SELECT id, name, city, upper(note) AS note, score "
                       "FROM crm.raw WHERE score > 5")
        oracle.execute("CREATE TABLE crm.nopk AS SELECT id, name FROM crm.raw")
        oracle.execute("CREATE TABLE crm.pairs AS SELECT id, 1 AS part, name FROM crm.raw")
        oracle.execute("CREATE TABLE crm.masked AS SELECT id % 7 AS id, name FROM crm.raw")
        oracle.execute("CREATE TABLE lake.people AS SELECT id, name, note AS bio FROM crm.raw")
        oracle.execute("CREATE TABLE shop.orders (id INTEGER, customer_id INTEGER, amount INTEGER)")
        oracle.executemany("INSERT INTO shop.orders VALUES (?, ?, ?)", orders)
        with MeshRuntime.open(spec) as runtime:
            user = runtime.principal_for("u")
            assert user is not None
            yield Mesh(runtime, oracle, user)
        oracle.close()
    finally:
        pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _text(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


TOP_CUSTOMERS = ("SELECT c.id, c.name, sum(o.amount) AS total, c.city, c.note FROM crm.customers c "
                 "JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.id, c.name, c.city, c.note "
                 "ORDER BY total DESC, c.id LIMIT 12")

LATE = {
    "grouped by the key and its columns (TPC-H Q10)": TOP_CUSTOMERS,
    "not grouped, with OFFSET": "SELECT o.id, o.amount, c.name, c.note FROM shop.orders o "
                                "JOIN crm.customers c ON c.id = o.customer_id ORDER BY o.amount DESC, o.id "
                                "LIMIT 15 OFFSET 40",
    "NULL columns at the top": "SELECT c.id, c.city, c.note, count(*) AS n FROM crm.customers c "
                               "JOIN shop.orders o ON o.customer_id = c.id WHERE c.id % 3 = 0 "
                               "GROUP BY c.id, c.city, c.note ORDER BY n DESC, c.id DESC LIMIT 5",
    "the key table null-extended": "SELECT o.id, o.amount, c.name, c.city FROM shop.orders o "
                                   "LEFT JOIN crm.customers c ON c.id = o.customer_id "
                                   "ORDER BY o.customer_id, o.id LIMIT 30",
    "the key table preserved, no match": "SELECT c.id, c.name, count(o.id) AS n FROM crm.customers c "
                                         "LEFT JOIN shop.orders o ON o.customer_id = c.id "
                                         "GROUP BY c.id, c.name ORDER BY n, c.id LIMIT 20",
    "a key the query does not show": "SELECT c.name, c.note, sum(o.amount) AS total FROM crm.customers c "
                                     "JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.id, c.name, c.note "
                                     "ORDER BY total DESC, c.id LIMIT 5",
    "a DuckDB key table": "SELECT p.id, p.name, p.bio, sum(o.amount) AS total FROM lake.people p "
                          "JOIN shop.orders o ON o.customer_id = p.id GROUP BY p.id, p.name, p.bio "
                          "ORDER BY total DESC, p.id LIMIT 11",
}


@pytest.mark.parametrize("sql", LATE.values(), ids=LATE.keys())
def test_top_rows_read_their_wide_columns_late(mesh: Mesh, sql: str) -> None:
    plan = mesh.plan(sql)
    assert plan.late is not None, "the wide columns should be read for the top keys only"
    assert_same_result(mesh.query(sql), mesh.oracle.sql(sql).to_arrow_table(), ordered=True)


def test_the_late_read_applies_the_row_filter_and_the_mask(mesh: Mesh) -> None:
    plan = mesh.plan(TOP_CUSTOMERS)
    assert plan.late is not None
    late = plan.fragment(plan.late.fragment)
    assert "upper" in late.sql.lower() and "score" in late.sql.lower(), late.sql
    assert "note" not in plan.fragments[0].output  # the first read ships no wide column
    got = mesh.query(TOP_CUSTOMERS)
    assert all(note is None or note == note.upper() for note in got.column("note").to_pylist())
    assert_same_result(got, mesh.oracle.sql(TOP_CUSTOMERS).to_arrow_table(), ordered=True)


@pytest.mark.parametrize("limit", [1, 7, 40])
def test_ties_at_the_limit_keep_each_rows_own_columns(mesh: Mesh, limit: int) -> None:
    # Every customer's total ties with many others': the LIMIT cuts a run of ties anywhere, but
    # each row kept must be a row of the whole answer (its columns its own key's).
    sql = ("SELECT c.id, c.name, c.note, sum(o.amount) AS total FROM crm.customers c "
           "JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.id, c.name, c.note ORDER BY total DESC")
    plan = mesh.plan(f"{sql} LIMIT {limit}")
    assert plan.late is not None
    got = mesh.query(f"{sql} LIMIT {limit}")
    expected = mesh.oracle.sql(f"{sql} LIMIT {limit}").to_arrow_table()
    assert got.column("total").to_pylist() == expected.column("total").to_pylist()
    assert len(set(got.column("id").to_pylist())) == limit
    whole = {tuple(row.values()) for row in mesh.oracle.sql(sql).to_arrow_table().to_pylist()}
    assert all(tuple(row.values()) in whole for row in got.to_pylist())


REFUSED = {
    "no primary key": "SELECT n.id, n.name, sum(o.amount) AS total FROM crm.nopk n JOIN shop.orders o "
                      "ON o.customer_id = n.id GROUP BY n.id, n.name ORDER BY total DESC, n.id LIMIT 10",
    "a composite primary key": "SELECT p.id, p.name, sum(o.amount) AS total FROM crm.pairs p JOIN shop.orders o "
                               "ON o.customer_id = p.id GROUP BY p.id, p.name ORDER BY total DESC, p.id LIMIT 10",
    "a masked key": "SELECT m.id, m.name, sum(o.amount) AS total FROM crm.masked m JOIN shop.orders o "
                    "ON o.customer_id = m.id GROUP BY m.id, m.name ORDER BY total DESC, m.id, m.name LIMIT 10",
    "the wide column in an expression": "SELECT c.id, upper(c.name) AS n, sum(o.amount) AS total "
                                        "FROM crm.customers c JOIN shop.orders o ON o.customer_id = c.id "
                                        "GROUP BY c.id, c.name ORDER BY total DESC, c.id LIMIT 10",
    "the wide column in an aggregate": "SELECT c.id, max(c.name) AS n, sum(o.amount) AS total "
                                       "FROM crm.customers c JOIN shop.orders o ON o.customer_id = c.id "
                                       "GROUP BY c.id ORDER BY total DESC, c.id LIMIT 10",
    "the wide column ordered by": "SELECT c.id, c.name, sum(o.amount) AS total FROM crm.customers c "
                                  "JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.id, c.name "
                                  "ORDER BY c.name LIMIT 10",
    "grouped without the key": "SELECT c.city, sum(o.amount) AS total FROM crm.customers c "
                               "JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.city "
                               "ORDER BY total DESC, c.city LIMIT 5",
    "the key table restricted by a dynamic filter": "SELECT o.id, c.name, c.note FROM shop.orders o "
                                                    "JOIN crm.customers c ON c.id = o.customer_id WHERE o.id < 40 "
                                                    "ORDER BY o.id LIMIT 5",
    "no LIMIT": "SELECT c.id, c.name, sum(o.amount) AS total FROM crm.customers c "
                "JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.id, c.name ORDER BY total DESC, c.id",
    "a LIMIT beyond late_rows_max_limit": "SELECT o.id, c.name FROM shop.orders o JOIN crm.customers c "
                                          "ON c.id = o.customer_id ORDER BY o.id LIMIT 1001",
}


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_no_late_read_where_it_could_be_wrong_or_would_not_pay(mesh: Mesh, sql: str) -> None:
    assert mesh.plan(sql).late is None
    assert_same_result(mesh.query(sql), mesh.oracle.sql(sql).to_arrow_table(), ordered=True)


def test_explain_shows_the_late_read(mesh: Mesh) -> None:
    rows = mesh.runtime.query(f"EXPLAIN {TOP_CUSTOMERS}", mesh.user).read_all().to_pylist()
    late = [row for row in rows if row["kind"] == "late read"]
    assert len(late) == 1 and "__late_top" in late[0]["sql"]
    assert any("late materialization" in str(row["detail"]) for row in rows if row["kind"] == "note")


def test_a_late_read_survives_a_ticket(mesh: Mesh) -> None:
    plan = mesh.plan(TOP_CUSTOMERS)
    restored = plan_from_dict(plan_to_dict(plan, mesh.runtime.connectors), mesh.runtime.connectors)
    assert restored.late == plan.late and restored.late is not None
    assert restored.fragment(restored.late.fragment).sql == plan.fragment(plan.late.fragment).sql
    bound = mesh.runtime.bind(mesh.runtime.prepare(TOP_CUSTOMERS, mesh.user), mesh.user)
    ticket = json.loads(json.dumps(bound.to_dict(mesh.runtime.connectors)))
    again = BoundPlan.from_dict(ticket, mesh.runtime.connectors)
    assert again.late == bound.late and set(again.key_slots) == set(bound.key_slots)
    assert mesh.runtime.execute(again).read_all().equals(mesh.runtime.execute(bound).read_all())



def test_no_late_read_under_rollup(mesh: Mesh) -> None:
    sql = ("SELECT c.id, c.name, sum(o.amount) AS total FROM crm.customers c JOIN shop.orders o "
           "ON o.customer_id = c.id GROUP BY ROLLUP (c.id, c.name) ORDER BY total DESC, c.id, c.name LIMIT 10")
    assert mesh.plan(sql).late is None
    assert_same_result(mesh.query(sql), mesh.oracle.sql(sql).to_arrow_table(), ordered=True)
