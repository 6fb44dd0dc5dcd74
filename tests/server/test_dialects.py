"""Issue 12 items 4 and 5 through a real server and ADBC: the SQL dialect of a connection, and
name errors that help without naming anything the principal may not see.

The mesh here is small and its own: ``sales.orders`` (DuckDB) and ``crm.customers`` (SQLite)
share ``customer_id`` and ``region``; ``crm.customers.ssn`` is denied to all but ``compliance``.
alice (analyst, compliance) reads both products, dana (analyst) both without ``ssn``, bob (sales)
only ``sales``. Results are compared with DuckDB running the DuckDB-dialect query over the same
data (the oracle), independently of flightmesh.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import adbc_driver_manager
import duckdb
import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer

PASSWORDS = {"alice": "alice-pw", "dana": "dana-pw", "bob": "bob-pw"}
DIALECT_OPTION = "adbc.flight.sql.session.option.sql_dialect"

MESH_YAML = """\
mesh: {name: acme, sql_dialect: duckdb}
products:
  sales:
    engine: {kind: duckdb, path: sales.duckdb}
    tables: {orders: {}}
    access: {read: [analyst, sales]}
  crm:
    engine: {kind: sqlite, path: crm.sqlite}
    tables: {customers: {}}
    access: {read: [analyst]}
    policies:
      deny_columns:
        - {table: customers, column: ssn, except: [compliance]}
users:
  alice: {password: alice-pw, roles: [analyst, compliance]}
  dana: {password: dana-pw, roles: [analyst]}
  bob: {password: bob-pw, roles: [sales]}
"""

ORDERS = pa.table({
    "order_id": pa.array(range(1, 41), pa.int64()),
    "customer_id": pa.array([i % 8 + 1 for i in range(1, 41)], pa.int64()),
    "region": [["north", "south"][i % 2] for i in range(1, 41)],
    "amount": [float(i * 3 % 17) + 0.5 for i in range(1, 41)],
    "order_date": [dt.date(2024, 1, 1) + dt.timedelta(days=i * 5) for i in range(1, 41)],
})
CUSTOMERS = pa.table({
    "customer_id": pa.array(range(1, 9), pa.int64()),
    "name": [f"Customer {i}" for i in range(1, 9)],
    "region": [["north", "south", "east"][i % 3] for i in range(1, 9)],
    "ssn": [f"000-00-{i:04d}" for i in range(1, 9)],
})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlightMeshServer]:
    directory = tmp_path_factory.mktemp("dialects")
    with duckdb.connect(str(directory / "sales.duckdb")) as connection:
        connection.register("source", ORDERS)
        connection.execute("CREATE TABLE orders AS SELECT * FROM source")
    with sqlite3.connect(directory / "crm.sqlite") as connection:
        connection.execute("CREATE TABLE customers (customer_id INTEGER, name TEXT, region TEXT, ssn TEXT)")
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", rows(CUSTOMERS))
    (directory / "mesh.yaml").write_text(MESH_YAML)
    with MeshRuntime.open(directory / "mesh.yaml") as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as running:
        yield running


def connect(server: FlightMeshServer, user: str = "alice", dialect: str | None = None) -> Any:
    # A connection option, not a database one: ADBC sends it with SetSessionOptions on connect.
    conn_kwargs = {DIALECT_OPTION: dialect} if dialect is not None else None
    return dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": user, "password": PASSWORDS[user]},
                         conn_kwargs=conn_kwargs, autocommit=True)


def run(connection: Any, sql: str) -> pa.Table:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def error_of(connection: Any, sql: str) -> str:
    with pytest.raises(adbc_driver_manager.Error) as caught:
        run(connection, sql)
    return str(caught.value)


def oracle(sql: str) -> pa.Table:
    connection = duckdb.connect()
    connection.register("orders", ORDERS)
    connection.register("customers", CUSTOMERS)
    return connection.sql(sql).to_arrow_table()


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in table.to_pylist()]


# One question, four spellings: quoting, string concatenation, date arithmetic, LIMIT forms.
ORACLE = """
    SELECT o.order_id, c.name || '/' || o.region AS label, o.order_date + INTERVAL 10 DAY AS due
    FROM orders o JOIN customers c ON c.customer_id = o.customer_id
    WHERE o.amount > 4 ORDER BY o.order_id LIMIT 5 OFFSET 3
"""
SPELLINGS = {
    "duckdb": """
        SELECT o.order_id, c.name || '/' || o.region AS label, o.order_date + INTERVAL 10 DAY AS due
        FROM "sales"."orders" o JOIN crm.customers c ON c.customer_id = o.customer_id
        WHERE o.amount > 4 ORDER BY o.order_id LIMIT 5 OFFSET 3""",
    "trino": """
        SELECT o.order_id, concat(c.name, '/', o.region) AS label, date_add('day', 10, o.order_date) AS due
        FROM "SALES"."Orders" o JOIN crm.customers c ON c.customer_id = o.customer_id
        WHERE o.amount > 4 ORDER BY o.order_id OFFSET 3 ROWS FETCH FIRST 5 ROWS ONLY""",
    "mysql": """
        SELECT o.order_id, CONCAT(c.name, '/', o.region) AS label, DATE_ADD(o.order_date, INTERVAL 10 DAY) AS due
        FROM `sales`.`orders` o JOIN `crm`.`Customers` c ON c.`customer_id` = o.customer_id
        WHERE o.amount > 4 ORDER BY o.order_id LIMIT 3, 5""",
    "postgresql": """
        SELECT o.order_id, c.name || '/' || o.region AS label, (o.order_date + INTERVAL '10 days')::date AS due
        FROM sales.orders AS o JOIN "crm"."customers" AS c ON c.customer_id = o.customer_id
        WHERE o.amount > 4 ORDER BY o.order_id LIMIT 5 OFFSET 3""",
}


def _normalized(table: pa.Table) -> list[tuple[Any, ...]]:
    # Dialects type date + interval differently (DATE or TIMESTAMP): compare the dates.
    return [(r[0], r[1], r[2].date() if isinstance(r[2], dt.datetime) else r[2]) for r in rows(table)]


@pytest.mark.parametrize("dialect", sorted(SPELLINGS))
def test_the_same_query_in_each_dialect_gives_the_oracles_answer(server: FlightMeshServer, dialect: str) -> None:
    expected = _normalized(oracle(ORACLE))
    assert len(expected) == 5
    with connect(server, dialect=dialect) as connection:
        assert _normalized(run(connection, SPELLINGS[dialect])) == expected


def test_backticks_name_the_same_tables_in_bigquery(server: FlightMeshServer) -> None:
    with connect(server, dialect="bigquery") as connection:
        got = run(connection, "SELECT count(*) AS n FROM `sales.orders` WHERE region = 'north'")
        assert rows(got) == [(20,)]
        got = run(connection, "SELECT count(*) AS n FROM `SALES`.`ORDERS`")
        assert rows(got) == [(40,)]


def test_snowflake_quoted_lower_case_names_resolve_like_unquoted_ones(server: FlightMeshServer) -> None:
    with connect(server, dialect="snowflake") as connection:
        got = run(connection, 'SELECT "customer_id", IFF(amount > 4, 1, 0) AS big FROM "sales"."orders" '
                              "WHERE order_id = 2")
        assert rows(got) == [(3, 1)]


def test_switching_the_dialect_on_a_live_connection(server: FlightMeshServer) -> None:
    with connect(server) as connection:
        assert connection.adbc_connection.get_option(DIALECT_OPTION) == "duckdb"
        # MySQL's || is OR; DuckDB's is concatenation: the same text, two meanings.
        text = "SELECT 0 || 1 AS v FROM sales.orders WHERE order_id = 1"
        assert rows(run(connection, text)) == [("01",)]
        connection.adbc_connection.set_options(**{DIALECT_OPTION: "mysql"})
        assert connection.adbc_connection.get_option(DIALECT_OPTION) == "mysql"
        assert rows(run(connection, "SELECT `order_id` FROM `sales`.`orders` WHERE order_id = 1")) == [(1,)]
        assert rows(run(connection, text)) == [(True,)]  # the plan cache keys the dialect
        connection.adbc_connection.set_options(**{DIALECT_OPTION: "PostgreSQL"})
        assert connection.adbc_connection.get_option(DIALECT_OPTION) == "postgres"
        assert rows(run(connection, text)) == [("01",)]


def test_an_unknown_dialect_is_refused_and_the_current_one_stays(server: FlightMeshServer) -> None:
    with connect(server, dialect="trino") as connection:
        with pytest.raises(adbc_driver_manager.Error):
            connection.adbc_connection.set_options(**{DIALECT_OPTION: "klingon"})
        assert connection.adbc_connection.get_option(DIALECT_OPTION) == "trino"
    with pytest.raises(adbc_driver_manager.Error):
        connect(server, dialect="hive").close()  # a real dialect, but not one flightmesh takes


def test_an_unvetted_construct_is_refused_naming_the_function_and_the_dialect(server: FlightMeshServer) -> None:
    with connect(server, dialect="snowflake") as connection:
        message = error_of(connection, "SELECT ai_classify(region, ['a', 'b']) FROM sales.orders")
        assert "function ai_classify is not supported by flightmesh" in message
        assert "snowflake" in message
    with connect(server, dialect="mysql") as connection:
        message = error_of(connection, "SELECT JSON_EXTRACT(region, '$.a') FROM sales.orders")
        assert "function json_extract is not supported" in message and "mysql" in message
    with connect(server, dialect="trino") as connection:  # vetted under its Trino name
        got = run(connection, "SELECT approx_percentile(amount, 0.5) IS NOT NULL AS ok FROM sales.orders")
        assert rows(got) == [(True,)]


def test_unknown_tables_suggest_only_visible_ones(server: FlightMeshServer) -> None:
    with connect(server, "alice") as alice:
        assert "table crm.custmers does not exist; did you mean crm.customers?" in error_of(
            alice, "SELECT * FROM crm.custmers")
        assert "did you mean sales.orders?" in error_of(alice, "SELECT * FROM ordrs")
    with connect(server, "bob") as bob:
        hidden = error_of(bob, "SELECT * FROM crm.customers")
        typo = error_of(bob, "SELECT * FROM crm.custmers")
        missing = error_of(bob, "SELECT * FROM crm.nosuch")
        for message in (hidden, typo, missing):
            assert "customers?" not in message and "did you mean" not in message
        assert "table crm.customers does not exist" in hidden
        # A hidden table's message is a missing one's: compare with a name that cannot exist.
        assert _without_query_id(hidden.replace("crm.customers", "X")) == \
            _without_query_id(missing.replace("crm.nosuch", "X"))


def _without_query_id(message: str) -> str:
    """Each query's message ends with its own id; the rest must be the same."""
    return re.sub(r"query id [0-9a-f_]+", "query id", message)


def test_unknown_columns_suggest_only_columns_the_principal_may_see(server: FlightMeshServer) -> None:
    with connect(server, "alice") as alice:
        message = error_of(alice, "SELECT custmer_id FROM crm.customers")
        assert "column custmer_id does not exist; did you mean customer_id?" in message
        assert "Unknown column" not in error_of(alice, "SELECT c.custmer_id FROM crm.customers c")
        assert "did you mean ssn?" in error_of(alice, "SELECT ssm FROM crm.customers")
    with connect(server, "dana") as dana:
        denied = error_of(dana, "SELECT ssn FROM crm.customers")
        assert "column ssn does not exist" in denied and "did you mean" not in denied
        assert "ssn" not in error_of(dana, "SELECT ssm FROM crm.customers").replace("column ssm", "")
        assert "did you mean customer_id?" in error_of(dana, "SELECT c.custmer_id FROM crm.customers c")


def test_an_ambiguous_column_names_the_tables_that_have_it(server: FlightMeshServer) -> None:
    with connect(server, "alice") as alice:
        message = error_of(alice, "SELECT region FROM crm.customers c JOIN sales.orders o "
                                  "ON c.customer_id = o.customer_id")
        assert "column region is ambiguous: crm.customers and sales.orders both have it" in message
        assert "does not exist" not in message
    with connect(server, "dana") as dana:  # ssn is alice's only: for dana it is missing, not ambiguous
        message = error_of(dana, "SELECT ssn FROM crm.customers c JOIN sales.orders o ON c.customer_id = o.customer_id")
        assert "does not exist" in message and "ambiguous" not in message
