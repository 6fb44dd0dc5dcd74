"""Discovery in SQL through a real server (ADBC): the ``mesh`` schema, ``information_schema``,
SHOW and DESCRIBE, for principals with different grants.

Every expected value below is written by hand from ``DESCRIPTOR`` (and the rows the fixture
writes): what each user may read, which columns are denied or masked for them.

    ann  analyst  reads shop, people and secret; nothing is filtered, denied or masked for her
    cid  clerk    reads shop and people; on people.customers: row filter `emea_only`, ssn denied,
                  email masked (tag pii)
    zoe  no role  reads nothing: every discovery table is empty but valid
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import DescriptorError, load_descriptor
from flightmesh.server.app import FlightMeshServer

DESCRIPTOR = """\
mesh: {name: disco}
products:
  shop:
    domain: retail
    owner: shop@disco.example
    description: Orders of the web shop
    tags: [gold, finance]
    freshness: {max_age: 24h, note: loaded nightly}
    engine: {kind: duckdb, path: shop.duckdb}
    tables:
      orders: {description: one row per order, tags: [core]}
    columns:
      orders:
        amount: {description: order value in EUR}
    access: {read: [analyst, clerk]}
  people:
    domain: customers
    owner: people@disco.example
    freshness: 90m
    engine: {kind: sqlite, path: people.sqlite}
    tables:
      customers: {description: one row per customer}
    columns:
      customers:
        email: {tags: [pii], description: contact address}
        ssn: {description: national id}
    access: {read: [analyst, clerk]}
    policies:
      row_filters:
        - {name: emea_only, table: customers, where: "region = 'EMEA'", for: [clerk]}
      deny_columns:
        - {table: customers, column: ssn, except: [analyst]}
  secret:
    engine: {kind: duckdb, path: secret.duckdb}
    tables: {ledger: {}}
    access: {read: [analyst]}
users:
  ann: {password: ann-pw, roles: [analyst]}
  cid: {password: cid-pw, roles: [clerk]}
  zoe: {password: zoe-pw, roles: []}
governance:
  tag_masks:
    - {tag: pii, with: "NULL", except: [analyst]}
"""

# flightmesh: operations (governance.ops_tables), named by everyone, rows of one's own queries
SYSTEM_VIEWS = [("flightmesh", "queries"), ("flightmesh", "query_history"), ("information_schema", "columns"),
                ("information_schema", "schemata"), ("information_schema", "tables"), ("mesh", "columns"),
                ("mesh", "contracts"), ("mesh", "my_access"),
                ("mesh", "privacy_budget"), ("mesh", "products"), ("mesh", "quality"), ("mesh", "tables")]


def write_mesh(directory: Path, descriptor: str = DESCRIPTOR) -> Path:
    with duckdb.connect(str(directory / "shop.duckdb")) as connection:
        connection.execute("CREATE TABLE orders (order_id BIGINT NOT NULL, customer_id BIGINT, amount DECIMAL(10,2))")
        connection.execute("INSERT INTO orders VALUES (1, 10, 5.00), (2, 11, 7.50), (3, 10, 1.25)")
    with duckdb.connect(str(directory / "secret.duckdb")) as connection:
        connection.execute("CREATE TABLE ledger AS SELECT 1::BIGINT AS entry, 'x' AS note")
    with sqlite3.connect(directory / "people.sqlite") as connection:
        connection.execute("CREATE TABLE customers (customer_id INTEGER, email TEXT, region TEXT, ssn TEXT)")
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                               [(10, "a@x", "EMEA", "111"), (11, "b@x", "US", "222")])
    path = directory / "mesh.yaml"
    path.write_text(descriptor)
    return path


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshRuntime]:
    with MeshRuntime.open(write_mesh(tmp_path_factory.mktemp("disco"))) as opened:
        yield opened


@pytest.fixture(scope="module")
def server(runtime: MeshRuntime) -> Iterator[FlightMeshServer]:
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0") as running:
        yield running


def rows(server: FlightMeshServer, user: str, sql: str) -> list[tuple[Any, ...]]:
    with dbapi.connect(f"grpc://127.0.0.1:{server.port}", autocommit=True,
                       db_kwargs={"username": user, "password": f"{user}-pw"}) as connection, \
            connection.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


# -- mesh.* ---------------------------------------------------------------------------------------


def test_products_per_principal(server: FlightMeshServer) -> None:
    sql = ("SELECT product, domain, owner, description, engine, tags, freshness, freshness_seconds, "
           "freshness_note, available FROM mesh.products ORDER BY product")
    shop = ("shop", "retail", "shop@disco.example", "Orders of the web shop", "duckdb", "gold, finance", "24h",
            86400, "loaded nightly", True)
    people = ("people", "customers", "people@disco.example", None, "sqlite", None, "90m", 5400, None, True)
    secret = ("secret", None, None, None, "duckdb", None, None, None, None, True)
    assert rows(server, "ann", sql) == [people, secret, shop]
    assert rows(server, "cid", sql) == [people, shop]
    assert rows(server, "zoe", sql) == []


def test_tables_use_the_cached_estimates(server: FlightMeshServer, runtime: MeshRuntime) -> None:
    sql = "SELECT product, table_name, description, tags, column_count FROM mesh.tables ORDER BY 1, 2"
    assert rows(server, "ann", sql) == [("people", "customers", "one row per customer", None, 4),
                                        ("secret", "ledger", None, None, 2),
                                        ("shop", "orders", "one row per order", "core", 3)]
    assert rows(server, "cid", sql) == [("people", "customers", "one row per customer", None, 3),
                                        ("shop", "orders", "one row per order", "core", 3)]
    assert rows(server, "zoe", sql) == []
    cached = runtime.catalog.lookup("shop", "orders", runtime.principal_for("ann")).row_estimate  # type: ignore[arg-type]
    assert rows(server, "cid", "SELECT row_estimate FROM mesh.tables WHERE table_name = 'orders'") == [(cached,)]


def test_columns_flag_masks_and_omit_denied(server: FlightMeshServer) -> None:
    sql = ("SELECT column_name, ordinal_position, data_type, description, tags, masked FROM mesh.columns "
           "WHERE product = 'people' ORDER BY ordinal_position")
    assert rows(server, "ann", sql) == [
        ("customer_id", 1, "BIGINT", None, None, False), ("email", 2, "VARCHAR", "contact address", "pii", False),
        ("region", 3, "VARCHAR", None, None, False), ("ssn", 4, "VARCHAR", "national id", None, False)]
    assert rows(server, "cid", sql) == [
        ("customer_id", 1, "BIGINT", None, None, False), ("email", 2, "VARCHAR", "contact address", "pii", True),
        ("region", 3, "VARCHAR", None, None, False)]
    orders = "SELECT column_name, data_type, description FROM mesh.columns WHERE table_name = 'orders' ORDER BY 1"
    assert rows(server, "cid", orders) == [("amount", "DECIMAL(10,2)", "order value in EUR"),
                                           ("customer_id", "BIGINT", None), ("order_id", "BIGINT", None)]
    assert rows(server, "zoe", "SELECT * FROM mesh.columns") == []


def test_my_access_in_words(server: FlightMeshServer) -> None:
    sql = "SELECT product, access, row_filters, masked_columns, summary FROM mesh.my_access ORDER BY product"
    full = "full read of 1 table: every row and every column"
    assert rows(server, "ann", sql) == [("people", "full read", None, None, full),
                                        ("secret", "full read", None, None, full),
                                        ("shop", "full read", None, None, full)]
    assert rows(server, "cid", sql) == [
        ("people", "read with policies", "`emea_only` on people.customers", "people.customers.email",
         "read with policies of 1 table: row filter `emea_only` on people.customers; "
         "masked: people.customers.email; some columns are withheld"),
        ("shop", "full read", None, None, full)]
    assert rows(server, "zoe", sql) == []


def test_a_denied_column_is_never_named(server: FlightMeshServer) -> None:
    for table in ("mesh.products", "mesh.tables", "mesh.columns", "mesh.my_access", "information_schema.schemata",
                  "information_schema.tables", "information_schema.columns"):
        text = repr(rows(server, "cid", f"SELECT * FROM {table}"))
        assert "ssn" not in text and "national id" not in text, table
        assert "secret" not in text and "ledger" not in text, table


# -- information_schema -----------------------------------------------------------------------------


def test_schemata(server: FlightMeshServer) -> None:
    sql = "SELECT catalog_name, schema_name, schema_owner FROM information_schema.schemata ORDER BY schema_name"
    system = [("disco", "flightmesh", "flightmesh"), ("disco", "information_schema", "flightmesh"),
              ("disco", "mesh", "flightmesh")]
    assert rows(server, "cid", sql) == [*system, ("disco", "people", "people@disco.example"),
                                        ("disco", "shop", "shop@disco.example")]
    assert rows(server, "ann", sql) == [*system, ("disco", "people", "people@disco.example"),
                                        ("disco", "secret", None), ("disco", "shop", "shop@disco.example")]
    assert rows(server, "zoe", sql) == system


def test_tables(server: FlightMeshServer) -> None:
    sql = ("SELECT table_catalog, table_schema, table_name, table_type, table_comment FROM information_schema.tables "
           "WHERE table_type = 'BASE TABLE' ORDER BY 2, 3")
    assert rows(server, "cid", sql) == [("disco", "people", "customers", "BASE TABLE", "one row per customer"),
                                        ("disco", "shop", "orders", "BASE TABLE", "one row per order")]
    assert len(rows(server, "ann", sql)) == 3
    assert rows(server, "zoe", sql) == []
    views = ("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'SYSTEM VIEW' "
             "ORDER BY 1, 2")
    assert rows(server, "zoe", views) == SYSTEM_VIEWS


def test_columns(server: FlightMeshServer) -> None:
    sql = ("SELECT table_name, column_name, ordinal_position, column_default, is_nullable, data_type, "
           "numeric_precision, numeric_scale, column_comment FROM information_schema.columns "
           "WHERE table_schema = 'shop' ORDER BY ordinal_position")
    assert rows(server, "ann", sql) == [
        ("orders", "order_id", 1, None, "YES", "BIGINT", None, None, None),  # NOT NULL: results are nullable
        ("orders", "customer_id", 2, None, "YES", "BIGINT", None, None, None),
        ("orders", "amount", 3, None, "YES", "DECIMAL(10,2)", 10, 2, "order value in EUR")]
    people = ("SELECT column_name, ordinal_position, column_comment FROM information_schema.columns "
              "WHERE table_schema = 'people' ORDER BY ordinal_position")
    assert rows(server, "cid", people) == [("customer_id", 1, None), ("email", 2, "contact address"),
                                           ("region", 3, None)]
    assert rows(server, "zoe", "SELECT * FROM information_schema.columns WHERE table_schema = 'shop'") == []


def test_information_schema_joins_product_tables(server: FlightMeshServer) -> None:
    sql = ("SELECT c.column_name, o.order_id FROM information_schema.columns c "
           "JOIN shop.orders o ON c.ordinal_position = o.order_id "
           "WHERE c.table_schema = 'shop' ORDER BY o.order_id")
    assert rows(server, "cid", sql) == [("order_id", 1), ("customer_id", 2), ("amount", 3)]
    mixed = ("SELECT t.table_name, count(*) FROM mesh.tables t JOIN people.customers p ON t.product = 'people' "
             "GROUP BY 1")
    assert rows(server, "ann", mixed) == [("customers", 2)]
    assert rows(server, "cid", mixed) == [("customers", 1)]  # emea_only leaves one customer


# -- SHOW and DESCRIBE ------------------------------------------------------------------------------


def test_show_schemas_and_tables(server: FlightMeshServer) -> None:
    assert [row[0] for row in rows(server, "cid", "SHOW SCHEMAS")] == ["flightmesh", "information_schema", "mesh",
                                                                       "people", "shop"]
    assert [row[0] for row in rows(server, "zoe", "show databases")] == ["flightmesh", "information_schema", "mesh"]
    assert [row[:2] for row in rows(server, "cid", "SHOW TABLES")] == [("people", "customers"), ("shop", "orders")]
    assert [row[:2] for row in rows(server, "ann", "SHOW TABLES;")] == [
        ("people", "customers"), ("secret", "ledger"), ("shop", "orders")]
    assert rows(server, "zoe", "SHOW TABLES") == []
    assert rows(server, "ann", "SHOW TABLES FROM secret") == [("ledger", "BASE TABLE", None)]
    assert rows(server, "cid", "SHOW TABLES FROM secret") == []  # hidden: exactly like a missing product
    assert [row[0] for row in rows(server, "cid", "show tables in mesh")] == [
        "columns", "contracts", "my_access", "privacy_budget", "products", "quality", "tables"]


def test_describe(server: FlightMeshServer) -> None:
    assert rows(server, "ann", "DESCRIBE people.customers") == [
        ("customer_id", "BIGINT", "YES", None), ("email", "VARCHAR", "YES", "contact address"),
        ("region", "VARCHAR", "YES", None), ("ssn", "VARCHAR", "YES", "national id")]
    assert rows(server, "cid", "DESC disco.people.customers") == [
        ("customer_id", "BIGINT", "YES", None), ("email", "VARCHAR", "YES", "contact address"),
        ("region", "VARCHAR", "YES", None)]
    assert [row[0] for row in rows(server, "cid", 'describe "orders"')] == ["order_id", "customer_id", "amount"]
    assert rows(server, "cid", "DESCRIBE secret.ledger") == []


# -- isolation and engines ----------------------------------------------------------------------------


def test_plans_never_serve_another_principals_rows(server: FlightMeshServer) -> None:
    sql = "SELECT product FROM mesh.products ORDER BY product"
    for _ in range(2):  # the second round runs cached plans
        assert rows(server, "ann", sql) == [("people",), ("secret",), ("shop",)]
        assert rows(server, "cid", sql) == [("people",), ("shop",)]
        assert rows(server, "zoe", sql) == []


def test_discovery_never_asks_the_engines(server: FlightMeshServer, runtime: MeshRuntime,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a product's engine was asked")

    for name in ("shop", "people", "secret"):
        for method in ("describe", "estimate_rows", "execute", "result_schema"):
            monkeypatch.setattr(runtime.connectors[name], method, refuse)
    for sql in ("SELECT * FROM mesh.tables", "SELECT * FROM mesh.columns", "SELECT * FROM information_schema.columns",
                "SHOW TABLES", "DESCRIBE people.customers", "SELECT * FROM mesh.my_access"):
        assert rows(server, "ann", sql)


# -- the descriptor ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mesh", "information_schema", "MESH"])
def test_system_schema_names_are_reserved(tmp_path: Path, name: str) -> None:
    descriptor = DESCRIPTOR.replace("  secret:\n", f"  {name}:\n")
    with pytest.raises(DescriptorError, match=re.escape(f"products.{name}: '{name}' is reserved")):
        load_descriptor(write_mesh(tmp_path, descriptor))


def test_freshness_must_be_a_duration(tmp_path: Path) -> None:
    descriptor = DESCRIPTOR.replace("freshness: 90m", "freshness: soon")
    with pytest.raises(DescriptorError, match=re.escape("products.people.freshness: expected a duration")):
        load_descriptor(write_mesh(tmp_path, descriptor))
    (tmp_path / "mesh.yaml").write_text(DESCRIPTOR)
    spec = load_descriptor(tmp_path / "mesh.yaml")
    assert spec.products["shop"].tags == ("gold", "finance")
    assert spec.products["shop"].tables["orders"].tags == ("core",)
