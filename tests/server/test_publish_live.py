"""Publishing a product in one command into a running mesh (issue 13, "must show").

A new PostgreSQL product is written by ``flightmesh introspect`` from a real database (under a
read-only account), its owner grants it to a role, the running server is told to ``reload``
(the Flight action), and an ADBC connection opened before the reload joins it with a DuckDB
product: no restart. The answer is compared with DuckDB over the same rows in one database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import duckdb
import pyarrow.flight as flight
import pytest
import yaml

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.cli import main
from tests.connectors.conftest import (  # noqa: F401 - fixtures
    PG_READ_ONLY_GRANTS,
    pg_account,
    pg_execute,
    postgres_database,
)

PASSWORD = "alice-pw"
CUSTOMERS = [(1, "Ann", "SE"), (2, "Bo", "NO"), (3, "Cy", "SE")]
ORDERS = [(10, 1, 5.5), (11, 1, 4.5), (12, 2, 1.0), (13, 3, 7.25), (14, 3, 0.75)]
QUERY = ("SELECT c.country, count(*) AS orders, sum(o.amount) AS total FROM sales.orders AS o "
         "JOIN crm.customers AS c ON c.customer_id = o.customer_id GROUP BY c.country ORDER BY c.country")


def _oracle() -> list[tuple[Any, ...]]:
    with duckdb.connect() as connection:
        connection.execute("CREATE SCHEMA sales; CREATE SCHEMA crm")
        connection.execute("CREATE TABLE crm.customers (customer_id INTEGER, name VARCHAR, country VARCHAR)")
        connection.executemany("INSERT INTO crm.customers VALUES (?, ?, ?)", CUSTOMERS)
        connection.execute("CREATE TABLE sales.orders (order_id INTEGER, customer_id INTEGER, amount DOUBLE)")
        connection.executemany("INSERT INTO sales.orders VALUES (?, ?, ?)", ORDERS)
        return connection.execute(QUERY).fetchall()


def _reload(server: FlightMeshServer) -> dict[str, Any]:
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    try:
        options = flight.FlightCallOptions(headers=[client.authenticate_basic_token("alice", PASSWORD)])
        (result,) = list(client.do_action(flight.Action("reload", b""), options))
        reply: dict[str, Any] = json.loads(result.body.to_pybytes())
        return reply
    finally:
        client.close()


@pytest.mark.postgresql
def test_a_postgresql_product_published_with_introspect_is_served_after_a_reload(
        tmp_path: Path, postgres_database: str, pg_account: Callable[..., str],  # noqa: F811 - fixtures imported above
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with duckdb.connect(str(tmp_path / "sales.duckdb")) as connection:
        connection.execute("CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, amount DOUBLE)")
        connection.executemany("INSERT INTO orders VALUES (?, ?, ?)", ORDERS)
    (tmp_path / "mesh.yaml").write_text(
        "mesh: {name: shop}\n"
        "auth: {admin_roles: [admin]}\n"
        "products:\n"
        "  sales: {engine: {kind: duckdb, path: sales.duckdb}, tables: {orders: {}}, access: {read: [analyst]}}\n"
        f"users:\n  alice: {{password: {PASSWORD}, roles: [analyst, admin]}}\n")
    with MeshRuntime.open(tmp_path / "mesh.yaml") as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server, \
            dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": "alice", "password": PASSWORD},
                          autocommit=True) as connection, connection.cursor() as cursor:
        with pytest.raises(dbapi.Error, match=r"crm\.customers"):
            cursor.execute(QUERY)
        # The domain team's database, read by an account that may only read it.
        pg_execute(postgres_database, "CREATE TABLE IF NOT EXISTS customers (customer_id integer PRIMARY KEY, "
                                      "name text, country text)", "TRUNCATE customers")
        pg_execute(postgres_database, *(f"INSERT INTO customers VALUES ({i}, '{n}', '{c}')" for i, n, c in CUSTOMERS))
        uri = pg_account(*(grant.format(role="{role}", database="{database}", schema="public", tables="customers")
                           for grant in PG_READ_ONLY_GRANTS))
        target = tmp_path / "products" / "crm.yaml"
        assert main(["introspect", "--kind", "postgresql", "--uri", uri, "--product", "crm", "-o", str(target)]) == 0
        capsys.readouterr()
        published = target.read_text()
        assert yaml.safe_load(published)["tables"]["customers"]["primary_key"] == ["customer_id"]
        # The owner's one edit: who may read it. The password comes from the environment, as the file says.
        target.write_text(published.replace("  read: []\n", "  read: [analyst]\n"))
        monkeypatch.setenv("CRM_PASSWORD", uri.split("//", 1)[1].split("@", 1)[0].split(":", 1)[1])
        reply = _reload(server)
        assert reply["reloaded"] is True, reply
        assert reply["changes"]["products"]["added"] == ["crm"]
        assert reply["changes"]["tables"]["added"] == ["crm.customers"]
        # The connection opened before the reload: the same server, the new product joined across engines.
        cursor.execute(QUERY)
        assert [tuple(row) for row in cursor.fetchall()] == _oracle()
