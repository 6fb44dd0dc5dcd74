"""``flightmesh introspect``: the descriptor it writes passes ``check`` as it is, and serves queries.

Each engine kind is introspected into ``products/<name>.yaml`` beside a small ``mesh.yaml``;
``check`` must pass on the file unchanged; then the owner fills ``access.read`` and a query
through the runtime answers. Keys and comments read from the engine appear in the file.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from flightmesh.connectors.introspect import quote
from flightmesh.executor import MeshRuntime
from flightmesh.mesh.principal import Principal
from flightmesh.server.cli import main
from tests.connectors.conftest import MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT, mysql_execute, pg_execute, service

MESH = "mesh:\n  name: acme\nusers:\n  alice: {password: alice-secret, roles: [analyst]}\n"
ALICE = Principal("alice", frozenset({"analyst"}))


def _introspect(capsys: pytest.CaptureFixture[str], mesh: Path, product: str, *argv: str) -> str:
    (mesh / "mesh.yaml").write_text(MESH)
    target = mesh / "products" / f"{product}.yaml"
    assert main(["introspect", "--product", product, "-o", str(target), *argv]) == 0
    capsys.readouterr()
    text = target.read_text()
    yaml.safe_load(text)  # plain YAML, whatever the engine's names and comments hold
    return text


def _check(capsys: pytest.CaptureFixture[str], mesh: Path) -> str:
    status = main(["check", str(mesh / "mesh.yaml")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.rstrip().endswith("OK")
    return out


def _query(mesh: Path, product: str, sql: str) -> pa.Table:
    path = mesh / "products" / f"{product}.yaml"
    text = path.read_text()
    assert "  read: []\n" in text
    path.write_text(text.replace("  read: []\n", "  read: [analyst]\n"))
    with MeshRuntime.open(mesh / "mesh.yaml") as runtime:
        return runtime.query(sql, ALICE).read_all()


# -- file engines ----------------------------------------------------------------------------------


@pytest.fixture
def sales_duckdb(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "sales.duckdb"
    path.parent.mkdir()
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR)")
        connection.execute("COMMENT ON TABLE customers IS 'Who buys: every account'")
        connection.execute("COMMENT ON COLUMN customers.name IS 'Full name, as \"billed\"'")
        connection.execute("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, "
                           "customer_id INTEGER REFERENCES customers (id), amount DECIMAL(10, 2))")
        connection.execute("INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bo')")
        connection.execute("INSERT INTO orders VALUES (10, 1, 5.50), (11, 1, 4.50), (12, 2, 1.00)")
        connection.execute("CREATE SCHEMA archive")
        connection.execute("CREATE TABLE archive.orders (order_id INTEGER)")
    return path


def test_duckdb(tmp_path: Path, sales_duckdb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    text = _introspect(capsys, mesh, "sales", "--kind", "duckdb", "--path", str(sales_duckdb))
    assert "    primary_key: [order_id]\n" in text
    assert "{columns: [customer_id], references: {table: customers, columns: [id]}}" in text
    assert '    description: "Who buys: every account"\n' in text
    assert "    name: {description: \"Full name, as \\\"billed\\\"\"}" in text
    assert "  archive_orders:\n    source: archive.orders\n" in text
    assert "#   amount       decimal128(10, 2)" in text
    assert "access:" in text and "engine:\n  kind: duckdb\n" in text
    out = _check(capsys, mesh)
    assert "    orders (3 columns)" in out and "archive_orders" in out
    table = _query(mesh, "sales", "SELECT c.name, sum(o.amount) AS total FROM sales.orders o "
                                  "JOIN sales.customers c ON c.id = o.customer_id GROUP BY 1 ORDER BY 1")
    assert table.to_pylist() == [{"name": "Ann", "total": 10}, {"name": "Bo", "total": 1}]


def test_tables_filters_and_keys_into_unpublished_tables_become_comments(
        tmp_path: Path, sales_duckdb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    text = _introspect(capsys, mesh, "sales", "--kind", "duckdb", "--path", str(sales_duckdb),
                       "--tables", "ord*")
    tables = yaml.safe_load(text)["tables"]
    assert sorted(tables) == ["archive_orders", "orders"]
    assert "foreign_keys" not in tables["orders"]
    assert "# not published, so not declared: (customer_id) references customers (id)" in text
    _check(capsys, mesh)
    text = _introspect(capsys, mesh, "sales", "--kind", "duckdb", "--path", str(sales_duckdb),
                       "--tables", "main.orders", "--tables", "customers")
    assert sorted(yaml.safe_load(text)["tables"]) == ["customers"]


def test_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "crm.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT);"
            "CREATE TABLE tickets (id INTEGER, line INTEGER, customer_id INTEGER REFERENCES customers, "
            "PRIMARY KEY (id, line));"
            "INSERT INTO customers VALUES (1, 'Ann'); INSERT INTO tickets VALUES (1, 1, 1), (1, 2, 1);")
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    text = _introspect(capsys, mesh, "crm", "--kind", "sqlite", "--path", str(path))
    assert "    primary_key: [id, line]\n" in text
    assert "{columns: [customer_id], references: {table: customers, columns: [customer_id]}}" in text
    _check(capsys, mesh)
    table = _query(mesh, "crm", "SELECT count(*) AS n FROM crm.tickets JOIN crm.customers USING (customer_id)")
    assert table.to_pylist() == [{"n": 2}]


def test_parquet_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "catalog"
    (folder / "events" / "day=1").mkdir(parents=True)
    pq.write_table(pa.table({"sku": ["a", "b"], "price": [1.5, 2.5]}), folder / "products.parquet")
    pq.write_table(pa.table({"sku": ["a"], "n": [3]}), folder / "events" / "day=1" / "part-0.parquet")
    pq.write_table(pa.table({"x": [1]}), folder / "2024 sales.parquet")
    (folder / "notes.txt").write_text("not a table")
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    text = _introspect(capsys, mesh, "catalog", "--kind", "parquet", "--path", str(folder))
    tables = yaml.safe_load(text)["tables"]
    assert sorted(tables) == ["events", "products", "t_2024_sales"]
    assert tables["events"] == {"source": "events"}
    assert tables["t_2024_sales"] == {"source": "2024 sales.parquet"}
    assert tables["products"] == {}
    _check(capsys, mesh)
    table = _query(mesh, "catalog", "SELECT p.sku, e.n FROM catalog.products p JOIN catalog.events e USING (sku)")
    assert table.to_pylist() == [{"sku": "a", "n": 3}]


def test_bad_usage_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["introspect", "--kind", "duckdb", "--uri", "postgresql://x/y", "--product", "p"]) == 1
    assert "takes --path" in capsys.readouterr().err
    assert main(["introspect", "--kind", "sqlite", "--path", str(tmp_path / "nope"), "--product", "p"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["introspect", "--kind", "sqlite", "--path", str(tmp_path), "--product", "9p"]) == 1
    assert "product name" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "quoted"), [("orders", "orders"), ("yes", '"yes"'), ("a: b", '"a: b"'),
                                              ("", '""'), ("#x", '"#x"'), ("10", '"10"'), ("é", '"é"')])
def test_quoting(text: str, quoted: str) -> None:
    assert quote(text) == quoted
    assert yaml.safe_load(f"k: {quote(text)}")["k"] == text


# -- server engines --------------------------------------------------------------------------------


@pytest.fixture
def pg_crm() -> Iterator[str]:
    """A scratch PostgreSQL database with a read-only account; the account's URI."""
    service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"flightmesh_introspect_{uuid.uuid4().hex[:10]}"
    role = f"fm_reader_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}"
    pg_execute(f"{admin}/postgres", f'CREATE DATABASE "{name}"', f"CREATE ROLE {role} LOGIN PASSWORD 'pw:{role}'")
    try:
        pg_execute(
            f"{admin}/{name}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            "CREATE TABLE customers (customer_id integer PRIMARY KEY, name text NOT NULL)",
            "COMMENT ON TABLE customers IS 'Every customer, one row each'",
            "COMMENT ON COLUMN customers.name IS 'Legal name'",
            "CREATE TABLE orders (order_id integer PRIMARY KEY, "
            "customer_id integer REFERENCES customers (customer_id), amount numeric(10, 2))",
            "CREATE SCHEMA billing",
            "CREATE TABLE billing.invoices (invoice_id integer PRIMARY KEY, "
            "order_id integer REFERENCES public.orders (order_id))",
            "INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bo')",
            "INSERT INTO orders VALUES (10, 1, 5.50), (11, 2, 1.00)",
            "INSERT INTO billing.invoices VALUES (100, 10)",
            f'GRANT CONNECT ON DATABASE "{name}" TO {role}',
            f"GRANT USAGE ON SCHEMA public, billing TO {role}",
            f"GRANT SELECT ON customers, orders, billing.invoices TO {role}",
        )
        yield f"postgresql://{role}:pw%3A{role}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        pg_execute(f"{admin}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f"DROP ROLE IF EXISTS {role}")


def test_postgresql(tmp_path: Path, pg_crm: str, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> None:
    text = _introspect(capsys, tmp_path, "crm", "--kind", "postgresql", "--uri", pg_crm)
    role = pg_crm.split("//")[1].split(":")[0]
    assert "pw%3A" not in text and "pw:" not in text  # the password is never written
    assert f'  uri: "postgresql://{role}@{PG_HOST}:{PG_PORT}/' in text
    assert '  password: "${CRM_PASSWORD}"\n' in text
    assert '    description: "Every customer, one row each"\n' in text
    assert "    name: {description: \"Legal name\"}" in text
    assert "  invoices:\n    source: billing.invoices\n    primary_key: [invoice_id]\n" in text
    assert "{columns: [order_id], references: {table: orders, columns: [order_id]}}" in text
    assert "{columns: [customer_id], references: {table: customers, columns: [customer_id]}}" in text
    assert "#   name         string not null" in text
    monkeypatch.setenv("CRM_PASSWORD", f"pw:{role}")
    out = _check(capsys, tmp_path)
    assert "    invoices (2 columns)" in out
    table = _query(tmp_path, "crm", "SELECT c.name, i.invoice_id FROM crm.invoices i "
                                    "JOIN crm.orders o USING (order_id) JOIN crm.customers c USING (customer_id)")
    assert table.to_pylist() == [{"name": "Ann", "invoice_id": 100}]


@pytest.fixture
def mysql_shop() -> Iterator[str]:
    """A scratch MariaDB database with a read-only account; the account's URI."""
    service("MariaDB", MYSQL_HOST, MYSQL_PORT)
    pytest.importorskip("connectorx")
    name = f"flightmesh_introspect_{uuid.uuid4().hex[:10]}"
    user = f"fm_reader_{uuid.uuid4().hex[:10]}"
    admin = f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/mysql"
    mysql_execute(admin, f"CREATE DATABASE `{name}`", f"CREATE USER '{user}'@'%' IDENTIFIED BY '{user}'",
                  f"GRANT SELECT ON `{name}`.* TO '{user}'@'%'")
    try:
        mysql_execute(
            f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}",
            "CREATE TABLE customers (customer_id INT PRIMARY KEY, name VARCHAR(40) COMMENT 'Legal name') "
            "ENGINE=InnoDB COMMENT='Every customer'",
            "CREATE TABLE orders (order_id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10, 2), "
            "FOREIGN KEY (customer_id) REFERENCES customers (customer_id)) ENGINE=InnoDB",
            "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 2",
            "INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bo')",
            "INSERT INTO orders VALUES (10, 1, 5.50), (11, 2, 1.00)",
        )
        yield f"mysql://{user}:{user}@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        mysql_execute(admin, f"DROP DATABASE IF EXISTS `{name}`", f"DROP USER IF EXISTS '{user}'@'%'")


def test_mariadb(tmp_path: Path, mysql_shop: str, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
    text = _introspect(capsys, tmp_path, "shop", "--kind", "mysql", "--uri", mysql_shop)
    user = mysql_shop.split("//")[1].split(":")[0]
    assert f":{user}@" not in text and '  password: "${SHOP_PASSWORD}"\n' in text
    assert '    description: "Every customer"\n' in text
    assert "    name: {description: \"Legal name\"}" in text
    assert "{columns: [customer_id], references: {table: customers, columns: [customer_id]}}" in text
    assert "  big_orders: {}\n" in text
    monkeypatch.setenv("SHOP_PASSWORD", user)
    _check(capsys, tmp_path)
    table = _query(tmp_path, "shop", "SELECT c.name FROM shop.big_orders b JOIN shop.customers c USING (customer_id)")
    assert table.to_pylist() == [{"name": "Ann"}]


def test_flightsql_lists_another_flightmesh(tmp_path: Path, sales_duckdb: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from flightmesh.server.app import FlightMeshServer

    domain = tmp_path / "domain"
    domain.mkdir()
    _introspect(capsys, domain, "sales", "--kind", "duckdb", "--path", str(sales_duckdb))
    product = domain / "products" / "sales.yaml"
    product.write_text(product.read_text().replace("  read: []\n", "  read: [analyst]\n"))
    with MeshRuntime.open(domain / "mesh.yaml") as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        central = tmp_path / "central"
        central.mkdir()
        text = _introspect(capsys, central, "remote", "--kind", "flightsql", "--uri",
                           f"grpc://127.0.0.1:{server.port}", "--username", "alice", "--password", "alice-secret",
                           "--tables", "*orders")
        assert sorted(yaml.safe_load(text)["tables"]) == ["archive_orders", "orders"]
        assert "    source: sales.orders\n" in text and '  password: "${REMOTE_PASSWORD}"\n' in text
        monkeypatch.setenv("REMOTE_PASSWORD", "alice-secret")
        _check(capsys, central)
        table = _query(central, "remote", "SELECT sum(amount) AS total FROM remote.orders")
        assert table.to_pylist() == [{"total": 11}]
