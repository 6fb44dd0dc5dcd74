"""The demo mesh: loadable, deterministic, rewritable, and its cross-product keys really join.

The joins are checked with each engine's own client (duckdb, sqlite3, pyarrow), not through
flightmesh.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flightmesh.connectors import open_connector
from flightmesh.mesh import load_descriptor
from flightmesh.server.demo import write_demo

Demo = tuple[Path, dict[str, str]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return write_demo(tmp_path_factory.mktemp("demo"))


def read_tables(descriptor: Path) -> dict[str, pa.Table]:
    data = descriptor.parent / "data"
    with duckdb.connect(str(data / "sales.duckdb"), read_only=True) as connection:
        tables = {name: connection.sql(f"SELECT * FROM {name}").to_arrow_table()
                  for name in ("orders", "order_items")}
    with contextlib.closing(sqlite3.connect(f"file:{data / 'crm.sqlite'}?mode=ro", uri=True)) as connection:
        cursor = connection.execute("SELECT * FROM customers ORDER BY customer_id")
        names = [column[0] for column in cursor.description]
        tables["customers"] = pa.table(dict(zip(names, zip(*cursor.fetchall(), strict=True), strict=True)))
    tables["products"] = pq.read_table(data / "catalog" / "products.parquet")
    return tables


def test_descriptor_loads_with_three_engines_and_documented_products(demo: Demo) -> None:
    descriptor, _ = demo
    spec = load_descriptor(descriptor)
    assert {name: p.engine.kind for name, p in spec.products.items()} == {
        "sales": "duckdb", "crm": "sqlite", "catalog": "parquet"}
    assert {name: sorted(p.tables) for name, p in spec.products.items()} == {
        "sales": ["order_items", "orders"], "crm": ["customers"], "catalog": ["products"]}
    for product in spec.products.values():
        assert product.owner and product.domain and product.description
        assert all(table.description for table in product.tables.values())
    customers = spec.products["crm"].columns["customers"]
    assert "pii" in customers["email"].tags
    assert "pii" in customers["name"].tags


def test_every_table_is_readable_by_its_connector(demo: Demo) -> None:
    spec = load_descriptor(demo[0])
    for product in spec.products.values():
        connector = open_connector(product, spec.settings)
        try:
            for table in product.tables.values():
                assert len(connector.describe(table.source)) >= 4
        finally:
            connector.close()


def test_users_passwords_and_what_each_role_reads(demo: Demo) -> None:
    descriptor, passwords = demo
    spec = load_descriptor(descriptor)
    assert {name: user.password for name, user in spec.users.items()} == passwords
    assert len(passwords) >= 2 and all(len(p) >= 8 for p in passwords.values())

    def readable(user: str) -> set[str]:
        roles = set(spec.users[user].roles)
        return {name for name, p in spec.products.items() if roles & set(p.access.read)}

    assert readable("alice") == {"sales", "crm", "catalog"}
    assert readable("bob") == {"sales", "catalog"}
    assert readable("carol") == {"crm", "catalog"}


def test_cross_product_keys_join(demo: Demo) -> None:
    tables = read_tables(demo[0])
    assert tables["orders"].num_rows >= 1000
    assert tables["order_items"].num_rows >= 2000
    assert tables["customers"].num_rows >= 500
    assert tables["products"].num_rows >= 100
    with duckdb.connect() as connection:
        for name, table in tables.items():
            connection.register(name, table)

        def one(sql: str) -> object:
            return connection.sql(sql).fetchall()[0][0]

        # Every foreign key finds its row in the other product ...
        assert one("SELECT count(*) FROM orders ANTI JOIN customers USING (customer_id)") == 0
        assert one("SELECT count(*) FROM order_items ANTI JOIN products USING (product_id)") == 0
        assert one("SELECT count(*) FROM order_items ANTI JOIN orders USING (order_id)") == 0
        # ... so the four-way join keeps every line, and the keys are unique where they are keys.
        assert one("""SELECT count(*) FROM order_items i JOIN orders o USING (order_id)
                      JOIN customers c ON c.customer_id = o.customer_id
                      JOIN products p ON p.product_id = i.product_id""") == tables["order_items"].num_rows
        assert one("SELECT count(*) - count(DISTINCT customer_id) FROM customers") == 0
        assert one("SELECT count(*) - count(DISTINCT product_id) FROM products") == 0
        assert one("SELECT count(*) - count(DISTINCT (order_id, line_no)) FROM order_items") == 0
        # Some customers never ordered (outer joins have something to show); none ordered
        # before signing up; every order has at least one line.
        assert one("SELECT count(*) FROM customers ANTI JOIN orders USING (customer_id)") > 0
        assert one("""SELECT count(*) FROM orders o JOIN customers c USING (customer_id)
                      WHERE o.ordered_on < CAST(c.signed_up_on AS DATE)""") == 0
        assert one("SELECT count(*) FROM orders o ANTI JOIN order_items i USING (order_id)") == 0


def test_emails_look_like_emails_and_dates_are_iso(demo: Demo) -> None:
    customers = read_tables(demo[0])["customers"]
    # example.com is reserved (RFC 2606): demo addresses can never reach anyone.
    assert all(e.count("@") == 1 and e.endswith("@example.com") for e in customers["email"].to_pylist())
    for text in customers["signed_up_on"].to_pylist():
        dt.date.fromisoformat(text)


def test_same_data_on_every_run_and_rewrites_cleanly(demo: Demo, tmp_path: Path) -> None:
    first = read_tables(demo[0])
    again, passwords = write_demo(tmp_path)
    write_demo(tmp_path)                          # over an existing demo: overwrites
    assert passwords == demo[1]
    assert again.read_text() == demo[0].read_text()
    second = read_tables(again)
    assert set(first) == set(second)
    for name in first:
        assert second[name].equals(first[name]), name
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith((".partial", ".wal", "-journal"))]
    assert leftovers == []
