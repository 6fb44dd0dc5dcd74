"""A mesh of meshes: a domain runs its own flightmesh node next to its data; a central node
federates it with a local product. Both nodes' policies hold.

Node A (the CRM team) serves ``crm.customers`` from SQLite and grants the central node's service
account ``central`` only EMEA customers, with e-mails masked and ``ssn`` denied. Node B (central)
reads that product through the Flight SQL connector, joins it with its own DuckDB ``sales``
product, and adds a row filter of its own for junior analysts. Expected results come from DuckDB
over the raw rows with both nodes' policies written by hand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.oracle import assert_same_result

REGIONS = ("EMEA", "APAC", "AMER")


@dataclass
class Nodes:
    domain: FlightMeshServer
    central: FlightMeshServer
    domain_runtime: MeshRuntime
    oracle: duckdb.DuckDBPyConnection


def _customers() -> pa.Table:
    ids = list(range(1, 301))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": [f"customer {i}" for i in ids],
        "email": [f"c{i}@example.com" for i in ids],
        "region": [REGIONS[i % 3] for i in ids],
        "ssn": [f"{i:03d}-00-{i * 7 % 10000:04d}" for i in ids],
    })


def _orders() -> pa.Table:
    ids = list(range(1, 2001))
    return pa.table({"order_id": pa.array(ids, pa.int64()),
                     "customer_id": pa.array([i * 37 % 300 + 1 for i in ids], pa.int64()),
                     "amount": pa.array([float(i % 97) + 0.5 for i in ids])})


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    root = tmp_path_factory.mktemp("mesh-of-meshes")
    customers, orders = _customers(), _orders()
    with sqlite3.connect(root / "crm.sqlite") as crm:
        crm.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, region TEXT, ssn TEXT)")
        crm.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)",
                        [tuple(row.values()) for row in customers.to_pylist()])
    (root / "domain.yaml").write_text("""
mesh: {name: crmnode}
products:
  crm:
    engine: {kind: sqlite, path: crm.sqlite}
    tables: {customers: {}}
    access: {read: [central, crm_team]}
    policies:
      row_filters: [{table: customers, where: "region = 'EMEA'", for: [central]}]
      masks: [{table: customers, column: email, with: "'***'", except: [crm_team]}]
      deny_columns: [{table: customers, column: ssn, except: [crm_team]}]
users:
  central: {password: central-pw, roles: [central]}
governance:
  audit: {read: [central]}
""")
    with duckdb.connect(str(root / "sales.duckdb")) as sales:
        sales.register("orders_rows", orders)
        sales.execute("CREATE TABLE orders AS SELECT * FROM orders_rows")
    domain_runtime = MeshRuntime.open(root / "domain.yaml")
    domain = FlightMeshServer(domain_runtime, "grpc://127.0.0.1:0")
    (root / "central.yaml").write_text(f"""
mesh: {{name: central}}
products:
  sales:
    engine: {{kind: duckdb, path: sales.duckdb}}
    tables: {{orders: {{}}}}
    access: {{read: [analyst]}}
  customers:
    engine: {{kind: flightsql, uri: "grpc://127.0.0.1:{domain.port}", username: central, password: central-pw}}
    tables: {{customers: {{source: crm.customers}}}}
    access: {{read: [analyst]}}
    policies:
      row_filters: [{{table: customers, where: "id <= 150", for: [junior]}}]
users:
  ann: {{password: ann-pw, roles: [analyst]}}
  jo: {{password: jo-pw, roles: [analyst, junior]}}
""")
    central_runtime = MeshRuntime.open(root / "central.yaml")
    central = FlightMeshServer(central_runtime, "grpc://127.0.0.1:0")
    oracle = duckdb.connect()
    oracle.register("raw_customers", customers)
    oracle.register("raw_orders", orders)
    oracle.execute("CREATE SCHEMA sales; CREATE SCHEMA customers")
    oracle.execute("CREATE TABLE sales.orders AS SELECT * FROM raw_orders")
    # node A's policy for `central`, written by hand: EMEA rows, masked e-mail, no ssn
    oracle.execute("CREATE VIEW customers.customers AS SELECT id, name, '***' AS email, region "
                   "FROM raw_customers WHERE region = 'EMEA'")
    # node B's own filter for juniors, on top
    oracle.execute("CREATE VIEW customers.junior AS SELECT * FROM customers.customers WHERE id <= 150")
    yield Nodes(domain, central, domain_runtime, oracle)
    for server in (central, domain):
        server.shutdown()
    central_runtime.close()
    domain_runtime.close()


def ask(nodes: Nodes, user: str, sql: str) -> pa.Table:
    with flightsql.connect(f"grpc://127.0.0.1:{nodes.central.port}", autocommit=True,
                           db_kwargs={"username": user, "password": f"{user}-pw"}) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


CROSS = """SELECT c.region, count(*) AS orders, sum(o.amount) AS amount, min(c.email) AS email
           FROM sales.orders o JOIN customers.customers c ON c.id = o.customer_id
           GROUP BY c.region ORDER BY c.region"""


def test_cross_node_join_equals_one_engine_under_the_remote_policy(nodes: Nodes) -> None:
    actual = ask(nodes, "ann", CROSS)
    assert_same_result(actual, nodes.oracle.sql(CROSS).to_arrow_table(), ordered=True)
    assert actual.column("region").to_pylist() == ["EMEA"]  # the remote row filter held
    assert actual.column("email").to_pylist() == ["***"]    # and its mask


def test_both_nodes_policies_apply(nodes: Nodes) -> None:
    sql = CROSS.replace("customers.customers", "{table}")
    actual = ask(nodes, "jo", sql.format(table="customers.customers"))
    assert_same_result(actual, nodes.oracle.sql(sql.format(table="customers.junior")).to_arrow_table(), ordered=True)


def test_a_column_the_remote_denies_does_not_exist_here(nodes: Nodes) -> None:
    with pytest.raises(flightsql.ProgrammingError, match="ssn"):
        ask(nodes, "ann", "SELECT ssn FROM customers.customers")
    assert "ssn" not in ask(nodes, "ann", "SELECT * FROM customers.customers LIMIT 1").column_names


def test_the_central_node_pushes_a_fragment_the_domain_node_runs_and_audits(nodes: Nodes) -> None:
    rows = ask(nodes, "ann", "EXPLAIN " + CROSS).to_pylist()
    remote = [row for row in rows if row["kind"] == "fragment" and row["engine"] == "flightsql"]
    assert len(remote) == 1 and '"crm"."customers"' in remote[0]["sql"]
    ask(nodes, "ann", CROSS)
    central = nodes.domain_runtime.principal_for("central")
    assert central is not None
    audit = nodes.domain_runtime.query(
        "SELECT statement FROM flightmesh.audit WHERE user = 'central' AND outcome = 'ok'", central
    ).read_all().column("statement").to_pylist()
    assert any('"crm"."customers"' in statement for statement in audit)
