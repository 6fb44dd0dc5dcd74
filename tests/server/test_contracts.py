"""Data contracts (issue 13 item 5): an ODCS v3 document per product, checked against real engines.

Through a real server and ADBC: drift, a failing quality rule and a missed freshness SLA are each
detected and visible in ``SELECT ... FROM mesh.quality`` on DuckDB, SQLite, PostgreSQL and MariaDB;
an enforced contract refuses a drifting table (and serves it again once the engine is fixed);
the rows go only to the product's readers and the administrators, held to the table's policies;
the contract's owner, description, tags and classification reach the catalog and tag rules; a
contract that does not validate, or whose SQL rule reads another product or leaves the closed
language, refuses the mesh with a report naming the file and the field.

Expected values are written by hand from the four rows each engine holds: one NULL email, one
negative amount, four distinct ids, the newest ``updated_at`` in 2020.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import duckdb
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import DescriptorError
from flightmesh.mesh.contracts import ContractViolation
from flightmesh.mesh.principal import Principal
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.cli import main
from tests.connectors.conftest import (  # noqa: F401 - fixtures
    mysql_database,
    mysql_execute,
    pg_execute,
    postgres_database,
)

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dora": "dora-pw", "erin": "erin-pw"}
# alice reads crm; bob administers without reading; carol reads only sales; dora reads crm under a row
# filter; erin reads crm with email denied.
ROLES = {"alice": ["crm_reader"], "bob": ["admin"], "carol": ["sales_reader"], "dora": ["crm_limited"],
         "erin": ["crm_no_email"]}

ROWS = [(1, "a@example.com", 10.0, "2020-01-03 10:00:00"), (2, None, 5.0, "2020-01-02 10:00:00"),
        (3, "c@example.com", -1.0, "2020-01-01 10:00:00"), (4, "d@example.com", 2.0, "2020-01-03 09:00:00")]

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: crm-customers
version: 2.1.0
status: active
name: CRM customers
domain: customers
description: {purpose: "Every customer of the shop, one row each"}
tags: [customer-data]
team: [{username: crm-team, role: Data Owner}]
schema:
  - name: customers
    description: One row per customer account
    tags: [golden]
    quality:
      - {metric: rowCount, mustBeGreaterThan: 3, name: enough_rows}
      - {type: sql, name: no_negative_amounts, mustBe: 0,
         query: "SELECT COUNT(*) FROM customers WHERE amount < 0"}
      - {metric: duplicateValues, arguments: {properties: [id, email]}, mustBe: 0, name: unique_rows}
    properties:
      - name: id
        logicalType: integer
        quality:
          - {metric: duplicateValues, mustBe: 0, name: unique_ids}
          - {metric: invalidValues, arguments: {validValues: [1, 2, 3]}, mustBe: 0, name: known_ids}
      - name: email
        logicalType: string
        classification: restricted
        description: Where invoices go
        quality:
          - {metric: nullValues, mustBe: 0, name: email_present, dimension: completeness}
          - {metric: nullValues, unit: percent, mustBeLessThan: 30, name: email_mostly_present}
          - {metric: missingValues, arguments: {missingValues: ["", n/a]}, mustBe: 0, name: email_missing}
      - {name: amount, logicalType: number}
      - {name: updated_at, logicalType: timestamp}
{extra_properties}
slaProperties:
  - {property: latency, value: 1, unit: d, element: customers.updated_at, id: daily}
  - {property: latency, value: 100000, unit: d, element: customers.updated_at, id: lenient}
  - {property: retention, value: 1, unit: y}
"""


def _contract(extra: str = "      - {name: segment, logicalType: string}") -> str:
    return CONTRACT.replace("{extra_properties}\n", extra + "\n" if extra else "")


def _mesh(engine: str, contract: str = "contracts/crm.odcs.yaml", extra: str = "", checks: str = "0") -> str:
    users = "".join(f"  {name}: {{password: {PASSWORDS[name]}, roles: {roles}}}\n" for name, roles in ROLES.items())
    return (
        "mesh: {name: shop}\n"
        f"settings: {{schema_refresh_seconds: 0, contract_check_seconds: {checks}}}\n"
        "auth: {admin_roles: [admin]}\n"
        "governance:\n  tag_masks:\n    - {tag: restricted, with: \"'hidden'\", except: [crm_reader]}\n"
        "products:\n"
        "  crm:\n"
        f"    engine: {engine}\n"
        "    tables: {customers: {}}\n"
        f"    contract: {contract}\n"
        "    access: {read: [crm_reader, crm_limited, crm_no_email]}\n"
        "    policies:\n"
        "      row_filters: [{table: customers, where: 'id = 1', for: [crm_limited]}]\n"
        "      deny_columns: [{table: customers, column: email, except: [crm_reader, crm_limited]}]\n"
        "  sales:\n"
        "    engine: {kind: duckdb, path: sales.duckdb}\n"
        "    tables: {orders: {}}\n"
        "    access: {read: [sales_reader, crm_reader]}\n"
        + extra + "users:\n" + users
    )


# -- the engines: the same four rows in each --------------------------------------------------------


def _values() -> str:
    return ", ".join(f"({i}, {'NULL' if e is None else repr(e)}, {a}, '{t}')" for i, e, a, t in ROWS)


def _duckdb(directory: Path) -> tuple[str, Callable[[str], None]]:
    path = directory / "crm.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER, email VARCHAR, amount DOUBLE, updated_at TIMESTAMP)")
        connection.execute(f"INSERT INTO customers VALUES {_values()}")

    def run(statement: str) -> None:
        with duckdb.connect(str(path)) as connection:
            connection.execute(statement)

    return "{kind: duckdb, path: crm.duckdb}", run


def _sqlite(directory: Path) -> tuple[str, Callable[[str], None]]:
    path = directory / "crm.sqlite"

    def run(statement: str) -> None:
        connection = sqlite3.connect(path)
        try:
            connection.executescript(statement)
        finally:
            connection.close()

    run("CREATE TABLE customers (id INTEGER, email TEXT, amount REAL, updated_at TIMESTAMP);"
        f"INSERT INTO customers VALUES {_values()};")
    return "{kind: sqlite, path: crm.sqlite}", run


def _postgresql(uri: str) -> Callable[[Path], tuple[str, Callable[[str], None]]]:
    def make(directory: Path) -> tuple[str, Callable[[str], None]]:
        pg_execute(uri, "DROP TABLE IF EXISTS customers",
                   "CREATE TABLE customers (id integer, email text, amount double precision, updated_at timestamp)",
                   f"INSERT INTO customers VALUES {_values()}")
        return f"{{kind: postgresql, uri: \"{uri}\", allow_privileged: true}}", lambda s: pg_execute(uri, s)
    return make


def _mysql(uri: str) -> Callable[[Path], tuple[str, Callable[[str], None]]]:
    def make(directory: Path) -> tuple[str, Callable[[str], None]]:
        mysql_execute(uri, "DROP TABLE IF EXISTS customers",
                      "CREATE TABLE customers (id INT, email VARCHAR(80), amount DOUBLE, updated_at DATETIME)",
                      f"INSERT INTO customers VALUES {_values()}")
        return f"{{kind: mysql, uri: \"{uri}\", allow_privileged: true}}", lambda s: mysql_execute(uri, s)
    return make


def _engine(request: pytest.FixtureRequest) -> Callable[[Path], tuple[str, Callable[[str], None]]]:
    if request.param == "duckdb":
        return _duckdb
    if request.param == "sqlite":
        return _sqlite
    if request.param == "postgresql":
        return _postgresql(request.getfixturevalue("postgres_database"))
    return _mysql(request.getfixturevalue("mysql_database"))


@pytest.fixture(params=["duckdb", "sqlite", "postgresql", "mysql"])
def engine(request: pytest.FixtureRequest) -> Callable[[Path], tuple[str, Callable[[str], None]]]:
    return _engine(request)


# The DuckDB connector holds its file open read-only, so its schema cannot change under a running mesh.
@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def changing_engine(request: pytest.FixtureRequest) -> Callable[[Path], tuple[str, Callable[[str], None]]]:
    return _engine(request)


def _write(directory: Path, engine_key: str, document: str, **mesh: str) -> Path:
    (directory / "contracts").mkdir(exist_ok=True)
    (directory / "contracts" / "crm.odcs.yaml").write_text(document)
    with duckdb.connect(str(directory / "sales.duckdb")) as connection:
        connection.execute("CREATE OR REPLACE TABLE orders AS SELECT 1 AS order_id, 1 AS customer_id")
    (directory / "mesh.yaml").write_text(_mesh(engine_key, **mesh))
    return directory / "mesh.yaml"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., tuple[MeshRuntime, FlightMeshServer]]]:
    opened: list[tuple[MeshRuntime, FlightMeshServer]] = []

    def start(descriptor: Path) -> tuple[MeshRuntime, FlightMeshServer]:
        runtime = MeshRuntime.open(descriptor)
        server = FlightMeshServer(runtime, "grpc://127.0.0.1:0")
        opened.append((runtime, server))
        return runtime, server

    yield start
    for runtime, server in opened:
        server.shutdown()
        runtime.close()


def _rows(server: FlightMeshServer, user: str, statement: str) -> list[dict[str, Any]]:
    with dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": user, "password": PASSWORDS[user]},
                       autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(statement)
        rows: list[dict[str, Any]] = cursor.fetch_arrow_table().to_pylist()
        return rows


def _refresh(server: FlightMeshServer, user: str = "bob") -> dict[str, Any]:
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    try:
        options = flight.FlightCallOptions(headers=[client.authenticate_basic_token(user, PASSWORDS[user])])
        (result,) = list(client.do_action(flight.Action("refresh", b""), options))
        reply: dict[str, Any] = json.loads(result.body.to_pybytes())
        return reply
    finally:
        client.close()


RULES = {"schema", "enough_rows", "no_negative_amounts", "unique_rows", "unique_ids", "known_ids", "email_present",
         "email_mostly_present", "email_missing", "daily", "lenient"}
QUALITY = "SELECT rule, kind, column_name, status, passed, measured, detail FROM mesh.quality ORDER BY rule"


def _by_rule(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["rule"]: row for row in rows}


# -- drift, a failing rule and a missed SLA, in SQL, on every engine ---------------------------------


def test_drift_failing_rules_and_a_missed_sla_are_visible_in_sql(tmp_path: Path, engine: Any, served: Any) -> None:
    engine_key, _ = engine(tmp_path)
    runtime, server = served(_write(tmp_path, engine_key, _contract()))
    # Before any check: the schema is checked at open, the rules are pending.
    before = _by_rule(_rows(server, "alice", QUALITY))
    assert before["schema"]["status"] == "fail" and "column segment is missing" in before["schema"]["detail"]
    assert {before[name]["status"] for name in before if name != "schema"} == {"pending"}
    assert _refresh(server)["changed"] == []  # the on-demand re-check: the admin action refresh
    found = _by_rule(_rows(server, "alice", QUALITY))
    assert set(found) == RULES
    assert (found["enough_rows"]["status"], found["enough_rows"]["measured"]) == ("pass", 4.0)
    assert (found["unique_ids"]["status"], found["unique_ids"]["measured"]) == ("pass", 0.0)
    assert (found["unique_rows"]["status"], found["unique_rows"]["measured"]) == ("pass", 0.0)
    assert (found["known_ids"]["status"], found["known_ids"]["measured"]) == ("fail", 1.0)  # id 4
    assert (found["email_mostly_present"]["status"], found["email_mostly_present"]["measured"]) == ("pass", 25.0)
    assert (found["email_missing"]["status"], found["email_missing"]["measured"]) == ("fail", 1.0)  # the NULL
    assert (found["email_present"]["status"], found["email_present"]["measured"]) == ("fail", 1.0)
    assert found["email_present"]["column_name"] == "email"
    assert (found["no_negative_amounts"]["status"], found["no_negative_amounts"]["measured"]) == ("fail", 1.0)
    assert found["daily"]["kind"] == "latency" and found["daily"]["status"] == "fail"
    assert found["daily"]["measured"] > 86_400  # the newest row is from 2020
    assert found["lenient"]["status"] == "pass"  # the same column, a promise it keeps
    contracts = _rows(server, "alice", "SELECT * FROM mesh.contracts")
    assert len(contracts) == 1
    row = contracts[0]
    assert (row["contract_id"], row["contract_version"], row["owner"], row["schema_status"]) == \
        ("crm-customers", "2.1.0", "crm-team", "drift")
    assert (row["rules"], row["failing"]) == (10, 5) and row["drift"] == "column segment is missing"
    assert runtime.query("SELECT count(*) AS n FROM crm.customers", Principal("alice", frozenset({"crm_reader"}))) \
        .read_all().to_pylist() == [{"n": 4}]  # not enforced: drift is reported, the table served


def test_drift_at_a_schema_refresh(tmp_path: Path, changing_engine: Any, served: Any) -> None:
    engine_key, run = changing_engine(tmp_path)
    _, server = served(_write(tmp_path, engine_key, _contract(extra="")))
    assert _by_rule(_rows(server, "alice", QUALITY))["schema"]["status"] == "pass"
    run("ALTER TABLE customers ADD COLUMN segment VARCHAR(20)")
    reply = _refresh(server)
    assert reply["changed"] == ["crm"]
    schema = _by_rule(_rows(server, "alice", QUALITY))["schema"]
    assert schema["status"] == "fail" and schema["detail"] == "column segment is not in the contract"


# -- enforce: true -----------------------------------------------------------------------------------


def test_an_enforced_contract_refuses_a_drifting_table_until_the_engine_matches(tmp_path: Path, served: Any) -> None:
    engine_key, run = _sqlite(tmp_path)
    descriptor = _write(tmp_path, engine_key, _contract(),
                        contract="{path: contracts/crm.odcs.yaml, enforce: true}")
    runtime, server = served(descriptor)
    alice = Principal("alice", frozenset({"crm_reader"}))
    with pytest.raises(ContractViolation) as raised:
        runtime.query("SELECT id FROM crm.customers", alice)
    message = str(raised.value)
    assert "crm.customers" in message and "product crm" in message and "column segment is missing" in message
    # Through Flight SQL: a clear INVALID_ARGUMENT; the other product is still served.
    with pytest.raises(dbapi.Error, match="column segment is missing"):
        _rows(server, "alice", "SELECT count(*) FROM crm.customers")
    assert _rows(server, "alice", "SELECT count(*) AS n FROM sales.orders") == [{"n": 1}]
    assert _rows(server, "alice", "SELECT schema_status FROM mesh.contracts") == [{"schema_status": "refused"}]
    run("ALTER TABLE customers ADD COLUMN segment TEXT")
    _refresh(server)
    assert _rows(server, "alice", "SELECT count(*) AS n FROM crm.customers") == [{"n": 4}]
    assert _rows(server, "alice", "SELECT schema_status FROM mesh.contracts") == [{"schema_status": "ok"}]


def test_a_type_that_differs_from_the_contract_is_drift(tmp_path: Path, served: Any) -> None:
    engine_key, _ = _duckdb(tmp_path)
    contract = _contract(extra="").replace("{name: amount, logicalType: number}",
                                           "{name: amount, logicalType: integer}")
    contract = contract.replace("      - name: id\n        logicalType: integer\n",
                                "      - name: id\n        physicalType: BIGINT\n")
    _, server = served(_write(tmp_path, engine_key, contract))
    detail = _by_rule(_rows(server, "alice", QUALITY))["schema"]["detail"]
    assert detail == ("column id: the contract says BIGINT, the engine has INTEGER; "
                      "column amount: the contract says integer, the engine has DOUBLE")


# -- who sees what -----------------------------------------------------------------------------------


def test_contract_rows_go_to_the_products_readers_and_administrators_only(tmp_path: Path, served: Any) -> None:
    engine_key, _ = _duckdb(tmp_path)
    _, server = served(_write(tmp_path, engine_key, _contract()))
    _refresh(server)
    every = {row["rule"] for row in _rows(server, "alice", QUALITY)}
    assert every == RULES
    # bob administers: every row, measures included, though he reads no product.
    bob = _by_rule(_rows(server, "bob", QUALITY))
    assert set(bob) == every and bob["email_present"]["measured"] == 1.0
    assert len(_rows(server, "bob", "SELECT * FROM mesh.contracts")) == 1
    # carol reads only sales: nothing about crm's contract.
    assert _rows(server, "carol", QUALITY) == []
    assert _rows(server, "carol", "SELECT * FROM mesh.contracts") == []
    # dora reads crm under a row filter: pass or fail, never the counts over rows hidden from her.
    dora = _by_rule(_rows(server, "dora", QUALITY))
    assert set(dora) == every
    assert dora["email_present"]["status"] == "fail" and dora["email_present"]["measured"] is None
    assert dora["enough_rows"]["measured"] is None and dora["no_negative_amounts"]["measured"] is None
    # erin may not see email: no check on it, and no drift naming it.
    erin = _by_rule(_rows(server, "erin", QUALITY))
    assert set(erin) == every - {"email_present", "email_mostly_present", "email_missing", "unique_rows"}


def test_owner_description_tags_and_classification_reach_the_catalog_and_tag_rules(
        tmp_path: Path, served: Any) -> None:
    engine_key, _ = _duckdb(tmp_path)
    _, server = served(_write(tmp_path, engine_key, _contract()))
    product = _rows(server, "alice", "SELECT domain, owner, description, tags FROM mesh.products "
                                     "WHERE product = 'crm'")
    assert product == [{"domain": "customers", "owner": "crm-team",
                        "description": "Every customer of the shop, one row each", "tags": "customer-data"}]
    table = _rows(server, "alice", "SELECT description, tags FROM mesh.tables WHERE product = 'crm'")
    assert table == [{"description": "One row per customer account", "tags": "golden"}]
    column = _rows(server, "alice", "SELECT description, tags FROM mesh.columns WHERE column_name = 'email'")
    assert column == [{"description": "Where invoices go", "tags": "restricted"}]
    # The classification is a tag the mesh-wide rule masks: dora (no exemption) sees 'hidden'.
    assert _rows(server, "dora", "SELECT email FROM crm.customers") == [{"email": "hidden"}]
    assert _rows(server, "alice", "SELECT email FROM crm.customers WHERE id = 1") == [{"email": "a@example.com"}]


# -- contracts that are refused ---------------------------------------------------------------------


@pytest.mark.parametrize(("change", "expected"), [
    (("status: active", "status: active\ncolour: blue"), "contracts/crm.odcs.yaml:6: colour: unknown key"),
    (("{metric: rowCount, mustBeGreaterThan: 3, name: enough_rows}",
      "{metric: rowCount, mustBeGreaterThan: 3, name: enough_rows, colour: blue}"),
     "contracts/crm.odcs.yaml:16: schema[0].quality[0].colour: unknown key"),
    (("version: 2.1.0", "version: [2]"), "contracts/crm.odcs.yaml:4: version: input should be a valid string"),
    (("apiVersion: v3.0.2", "apiVersion: v9"), "contracts/crm.odcs.yaml:1: apiVersion: expected one of v3.2.0"),
    (("id: crm-customers\n", ""), "contracts/crm.odcs.yaml:1: id: is required"),
    (("{name: amount, logicalType: number}", "{name: amount, logicalType: money}"),
     "contracts/crm.odcs.yaml:34: schema[0].properties[2].logicalType: expected one of string"),
    (("  - name: customers\n", "  - name: clients\n"),
     "contracts/crm.odcs.yaml:12: schema[0].name: no table 'clients' in product crm"),
    (("mustBeGreaterThan: 3, name: enough_rows", "name: enough_rows"),
     "contracts/crm.odcs.yaml:16: schema[0].quality[0]: expected exactly one threshold"),
    (("element: customers.updated_at, id: daily", "element: orders.updated_at, id: daily"),
     "slaProperties[0].element: expected table.column of product crm"),
    (("SELECT COUNT(*) FROM customers WHERE amount < 0", "SELECT COUNT(*) FROM sales.orders"),
     "schema[0].quality[1]: the contract's SQL rule is refused: reads sales.orders, which is not a table of product"),
    (("SELECT COUNT(*) FROM customers WHERE amount < 0", "SELECT COUNT(*) FROM read_csv('/etc/passwd')"),
     "schema[0].quality[1]: the contract's SQL rule is refused"),
    (("SELECT COUNT(*) FROM customers WHERE amount < 0",
      "SELECT COUNT(*) FROM customers WHERE getenv('HOME') IS NOT NULL"),
     "schema[0].quality[1]: the contract's SQL rule is refused: function getenv is not allowed"),
    (("SELECT COUNT(*) FROM customers WHERE amount < 0", "DELETE FROM customers"),
     "schema[0].quality[1]: the contract's SQL rule is refused"),
])
def test_a_contract_that_does_not_validate_refuses_the_mesh(tmp_path: Path, change: tuple[str, str],
                                                            expected: str) -> None:
    engine_key, _ = _duckdb(tmp_path)
    old, new = change
    assert old in _contract()
    descriptor = _write(tmp_path, engine_key, _contract().replace(old, new))
    with pytest.raises(DescriptorError) as raised:
        MeshRuntime.open(descriptor).close()
    assert any(expected in problem for problem in raised.value.problems), raised.value.problems


def test_a_contract_path_is_relative_to_the_file_declaring_the_product(tmp_path: Path) -> None:
    engine_key, _ = _duckdb(tmp_path)
    _write(tmp_path, engine_key, _contract())
    text = _mesh(engine_key)
    start, end = text.index("  crm:\n"), text.index("  sales:\n")
    (tmp_path / "products").mkdir()
    product = "\n".join(line[4:] for line in text[start:end].splitlines()[1:]) + "\n"
    (tmp_path / "products" / "crm.yaml").write_text(
        product.replace("path: crm.duckdb", "path: ../crm.duckdb").replace("contracts/", "../contracts/"))
    (tmp_path / "mesh.yaml").write_text(text[:start] + text[end:])
    with MeshRuntime.open(tmp_path / "mesh.yaml") as runtime:
        contract = runtime.spec.products["crm"].contract
        assert contract is not None and contract.id == "crm-customers"
    (tmp_path / "products" / "crm.yaml").write_text(product.replace("path: crm.duckdb", "path: ../crm.duckdb"))
    with pytest.raises(DescriptorError, match=r"products/crm.yaml:\d+: products.crm.contract: contracts/crm.odcs"):
        MeshRuntime.open(tmp_path / "mesh.yaml")


def _reload(server: FlightMeshServer) -> dict[str, Any]:
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    try:
        options = flight.FlightCallOptions(headers=[client.authenticate_basic_token("bob", PASSWORDS["bob"])])
        (result,) = list(client.do_action(flight.Action("reload", b""), options))
        reply: dict[str, Any] = json.loads(result.body.to_pybytes())
        return reply
    finally:
        client.close()


def test_a_changed_contract_is_read_again_on_reload_and_a_broken_one_refused(tmp_path: Path, served: Any) -> None:
    engine_key, _ = _duckdb(tmp_path)
    descriptor = _write(tmp_path, engine_key, _contract())
    _, server = served(descriptor)
    _refresh(server)
    assert _rows(server, "alice", "SELECT count(*) AS n FROM crm.customers") == [{"n": 4}]
    document = tmp_path / "contracts" / "crm.odcs.yaml"
    document.write_text(_contract().replace("version: 2.1.0", "version: 2.2.0\nversion: 3.0.0"))
    reply = _reload(server)
    assert reply["reloaded"] is False
    assert reply["problems"] == ["contracts/crm.odcs.yaml:5: duplicate key 'version'"]
    assert _rows(server, "alice", "SELECT contract_version FROM mesh.contracts") == [{"contract_version": "2.1.0"}]
    # Enforced from the next reload on; an unchanged rule keeps its last result, a changed one waits.
    document.write_text(_contract().replace("mustBeGreaterThan: 3", "mustBeGreaterThan: 2"))
    descriptor.write_text(descriptor.read_text().replace("contract: contracts/crm.odcs.yaml",
                                                         "contract: {path: contracts/crm.odcs.yaml, enforce: true}"))
    reply = _reload(server)
    assert reply["reloaded"] is True and reply["changes"]["products"]["changed"] == ["crm"]
    with pytest.raises(dbapi.Error, match="column segment is missing"):
        _rows(server, "alice", "SELECT count(*) FROM crm.customers")
    statuses = {row["rule"]: row["status"] for row in _rows(server, "alice", QUALITY)}
    assert statuses["enough_rows"] == "pending" and statuses["email_present"] == "fail"


def test_a_refusal_names_no_column_the_reader_may_not_see(tmp_path: Path, served: Any) -> None:
    engine_key, _ = _duckdb(tmp_path)
    contract = _contract().replace("      - name: email\n        logicalType: string\n",
                                   "      - name: email\n        logicalType: integer\n")
    runtime, _ = served(_write(tmp_path, engine_key, contract,
                               contract="{path: contracts/crm.odcs.yaml, enforce: true}"))
    with pytest.raises(ContractViolation) as alice:
        runtime.query("SELECT id FROM crm.customers", Principal("alice", frozenset({"crm_reader"})))
    assert "column email: the contract says integer" in str(alice.value)
    with pytest.raises(ContractViolation) as erin:
        runtime.query("SELECT id FROM crm.customers", Principal("erin", frozenset({"crm_no_email"})))
    assert "email" not in str(erin.value) and "column segment is missing" in str(erin.value)


def test_a_missing_column_a_tag_rule_protects_fails_closed(tmp_path: Path) -> None:
    engine_key, _ = _duckdb(tmp_path)
    # 'restricted' is masked by the mesh's tag rule: a contract column carrying it that the engine lacks
    # (renamed, say) would leave its new name unmasked, so the table is not served.
    _write(tmp_path, engine_key, _contract(extra="      - {name: phone, classification: restricted}"))
    with pytest.raises(DescriptorError, match=r"has no column 'phone' \(its tags would protect nothing\)"):
        MeshRuntime.open(tmp_path / "mesh.yaml")
    # A tag no rule reads protects nothing: the missing column is drift, reported, and the mesh serves.
    (tmp_path / "contracts" / "crm.odcs.yaml").write_text(
        _contract(extra="      - {name: phone, classification: internal}"))
    with MeshRuntime.open(tmp_path / "mesh.yaml") as runtime:
        assert any("column phone is missing" in warning for warning in runtime.warnings)


def test_required_unique_and_primary_key_flags_are_checked(tmp_path: Path, served: Any) -> None:
    engine_key, run = _sqlite(tmp_path)
    run("INSERT INTO customers VALUES (4, 'e@example.com', 2.0, '2020-01-04 09:00:00')")  # id 4 twice, amount 2.0 twice
    contract = _contract(extra="").replace("      - name: id\n        logicalType: integer\n",
                                           "      - name: id\n        logicalType: integer\n        primaryKey: true\n")
    contract = contract.replace("      - name: email\n        logicalType: string\n",
                                "      - name: email\n        logicalType: string\n        required: true\n"
                                "        unique: true\n")
    contract = contract.replace("{name: amount, logicalType: number}",
                                "{name: amount, logicalType: number, unique: true}")
    _, server = served(_write(tmp_path, engine_key, contract))
    _refresh(server)
    found = _by_rule(_rows(server, "bob", QUALITY))
    flags = {name: (row["status"], row["measured"]) for name, row in found.items() if name.count(".") == 2}
    assert flags == {"customers.id.required": ("pass", 0.0), "customers.id.unique": ("fail", 1.0),
                     "customers.email.required": ("fail", 1.0), "customers.email.unique": ("pass", 0.0),
                     "customers.amount.unique": ("fail", 1.0)}


def test_rules_run_on_a_schedule(tmp_path: Path, served: Any) -> None:
    engine_key, _ = _sqlite(tmp_path)
    _, server = served(_write(tmp_path, engine_key, _contract(), checks="0.2"))
    deadline = time.monotonic() + 30
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:  # no administrator asks: the checks' own thread runs them
        statuses = {row["rule"]: row["status"] for row in _rows(server, "alice", QUALITY)}
        if "pending" not in statuses.values():
            break
        time.sleep(0.1)
    assert statuses["enough_rows"] == "pass" and statuses["email_present"] == "fail" and statuses["daily"] == "fail"


def test_check_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine_key, _ = _duckdb(tmp_path)
    descriptor = _write(tmp_path, engine_key, _contract())
    assert main(["check", str(descriptor)]) == 0  # not enforced: reported, the mesh serves
    err = capsys.readouterr().err
    expected = ("contracts/crm.odcs.yaml: product crm, table customers drifts from the contract: "
                "column segment is missing")
    assert expected in err
