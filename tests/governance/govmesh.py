"""A governed mesh for the policy tests, and per-user oracles with the policies written by hand.

Four products on four engines, each with policies (see ``DESCRIPTOR``):

    crm.customers    SQLite      row filters (everyone + support by region), masks, deny, tags
    hr.employees     DuckDB      row filter by current_user for managers, denies, a mask
    sales.orders     Parquet     row filter by a list attribute, a NULL mask
    finance.payments PostgreSQL  row filter for one role, a mask plus a pii tag mask (when reachable)

The oracle for a user is an in-memory DuckDB holding the raw rows in schema ``raw`` and, per
product the user may read, views named like the mesh's tables whose SQL is the user's policy
*written by hand* in ``ORACLE_VIEWS`` — independently of flightmesh's rewrite. A query written
against the mesh's names runs unchanged on it; a product the user may not read has no schema,
so the oracle fails where flightmesh must answer "table does not exist".

The rows are generated from a fixed seed. Some hidden rows carry values designed to make a
user predicate fail if it were ever evaluated on them (``code`` is numeric text on rows most
users may see and ``'X-<n>'`` elsewhere).
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

__all__ = ["ORACLE_VIEWS", "USERS", "GovMesh", "build_gov_mesh", "oracle_for", "pg_available", "service"]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

REGIONS = ("EMEA", "US", "APAC")

# user -> (roles, attributes). Passwords are "<user>-pw" (plain: test data).
USERS: dict[str, tuple[list[str], dict[str, object]]] = {
    "ann": (["analyst", "pii_reader", "compliance", "hr"], {}),
    "sam": (["support"], {"region": "EMEA"}),
    "pia": (["support", "pii_reader"], {"region": "US"}),
    "nora": (["support"], {}),  # no region attribute: sees no customer
    "rita": (["sales_rep"], {"regions": ["EMEA", "APAC"]}),
    "mike": (["manager"], {}),
    "rob": (["risk"], {}),
    "zed": ([], {}),  # no role: sees nothing
    "auditor": (["auditor"], {}),
    "mallory": (["support"], {"region": "'EMEA'' OR ''1''=''1'"}),  # an attribute that tries SQL
}

_DESCRIPTOR = """\
mesh: {{name: gov}}
products:
  crm:
    engine: {{kind: sqlite, path: crm.sqlite}}
    tables: {{customers: {{}}}}
    access: {{read: [analyst, support, sales_rep]}}
    columns:
      customers:
        name: {{tags: [pii]}}
        email: {{tags: [pii]}}
        phone: {{tags: [contact]}}
    policies:
      row_filters:
        - {{table: customers, where: "status <> 'deleted'"}}
        - {{table: customers, where: "region = user_attribute('region')", for: [support]}}
      masks:
        - {{table: customers, column: phone, with: "'***-' || substr(phone, -4)", except: [pii_reader]}}
        - {{table: customers, column: score, except: [analyst],
           with: "CASE WHEN score >= 700 THEN 700 ELSE 0 END"}}
      deny_columns:
        - {{table: customers, column: ssn, except: [compliance]}}
  hr:
    engine: {{kind: duckdb, path: hr.duckdb}}
    tables: {{employees: {{}}}}
    access: {{read: [hr, manager, analyst]}}
    columns:
      employees:
        email: {{tags: [pii]}}
    policies:
      row_filters:
        - {{table: employees, where: "manager = current_user OR name = current_user", for: [manager]}}
      masks:
        - {{table: employees, column: name, with: "left(name, 1) || '.'", except: [hr, manager]}}
      deny_columns:
        - {{table: employees, column: salary, except: [hr]}}
        - {{table: employees, column: ssn, except: [hr]}}
  sales:
    engine: {{kind: parquet, path: sales}}
    tables: {{orders: {{}}}}
    access: {{read: [analyst, sales_rep, support]}}
    policies:
      row_filters:
        - {{table: orders, where: "region IN (user_attribute('regions'))", for: [sales_rep]}}
        - {{table: orders, where: "amount < 900", for: [support]}}
      masks:
        - {{table: orders, column: note, with: "NULL", except: [analyst]}}
{finance}
users:
{users}
governance:
  tag_masks:
    - {{tag: pii, with: "NULL", except: [pii_reader]}}
    - {{tag: contact, with: "'(hidden)'", except: [pii_reader, support]}}
  audit: {{file: audit.jsonl, read: [auditor]}}
"""

_FINANCE = """\
  finance:
    engine: {{kind: postgresql, uri: "{uri}"}}
    tables: {{payments: {{}}}}
    access: {{read: [analyst, risk]}}
    columns:
      payments:
        card: {{tags: [pii]}}
    policies:
      row_filters:
        - {{table: payments, where: "region <> 'APAC'", for: [risk]}}
      masks:
        - {{table: payments, column: card, with: "'****' || right(card, 4)"}}
"""

# The policies above, written by hand as DuckDB views over raw.<table>, per user. A product
# missing from a user's entry is not readable by that user.
_CUST = ("customer_id, {name} AS name, {email} AS email, {phone} AS phone, region, status, "
         "{ssn}{score} AS score, code")
_PII_NULL = "CAST(NULL AS VARCHAR)"


def _customers(where: str, *, pii: bool, phone: str, ssn: bool, score_raw: bool) -> str:
    columns = _CUST.format(
        name="name" if pii else _PII_NULL,
        email="email" if pii else _PII_NULL,
        phone=phone,
        ssn="ssn, " if ssn else "",
        score="score" if score_raw else "CASE WHEN score >= 700 THEN 700 ELSE 0 END",
    )
    return f"SELECT {columns} FROM raw.customers WHERE {where}"


_PHONE_MASKED = "'***-' || substr(phone, -4)"
ORACLE_VIEWS: dict[str, dict[str, str]] = {
    "ann": {
        "crm.customers": _customers("status <> 'deleted'", pii=True, phone="phone", ssn=True, score_raw=True),
        "hr.employees": "SELECT * FROM raw.employees",
        "sales.orders": "SELECT * FROM raw.orders",
        "finance.payments": "SELECT payment_id, customer_id, region, amount, "
        "'****' || right(card, 4) AS card, "
        "code FROM raw.payments",
    },
    "sam": {
        # support: own region; pii NULL; phone: product mask (exempt from the contact tag mask)
        "crm.customers": _customers(
            "status <> 'deleted' AND region = 'EMEA'",
            pii=False,
            phone=_PHONE_MASKED,
            ssn=False,
            score_raw=False,
        ),
        "sales.orders": "SELECT order_id, customer_id, region, amount, CAST(NULL AS VARCHAR) AS note, code "
        "FROM raw.orders WHERE amount < 900",
    },
    "pia": {
        "crm.customers": _customers(
            "status <> 'deleted' AND region = 'US'", pii=True, phone="phone", ssn=False, score_raw=False
        ),
        "sales.orders": "SELECT order_id, customer_id, region, amount, CAST(NULL AS VARCHAR) AS note, code "
        "FROM raw.orders WHERE amount < 900",
    },
    "nora": {
        "crm.customers": _customers("FALSE", pii=False, phone=_PHONE_MASKED, ssn=False, score_raw=False),
        "sales.orders": "SELECT order_id, customer_id, region, amount, CAST(NULL AS VARCHAR) AS note, code "
        "FROM raw.orders WHERE amount < 900",
    },
    "rita": {
        # product mask and the contact tag mask both apply to phone: the constant wins
        "crm.customers": _customers(
            "status <> 'deleted'", pii=False, phone="'(hidden)'", ssn=False, score_raw=False
        ),
        "sales.orders": "SELECT order_id, customer_id, region, amount, CAST(NULL AS VARCHAR) AS note, code "
        "FROM raw.orders WHERE region IN ('EMEA', 'APAC')",
    },
    "mike": {
        "hr.employees": "SELECT emp_id, name, region, manager, CAST(NULL AS VARCHAR) AS email, code "
        "FROM raw.employees WHERE manager = 'mike' OR name = 'mike'",
    },
    "rob": {
        # the product mask and the pii tag mask (NULL) both apply to card: NULL wins
        "finance.payments": "SELECT payment_id, customer_id, region, amount, "
        "CAST(NULL AS VARCHAR) AS card, code "
        "FROM raw.payments WHERE region <> 'APAC'",
    },
    "zed": {},
    "auditor": {},
    "mallory": {
        "crm.customers": _customers("FALSE", pii=False, phone=_PHONE_MASKED, ssn=False, score_raw=False),
        "sales.orders": "SELECT order_id, customer_id, region, amount, CAST(NULL AS VARCHAR) AS note, code "
        "FROM raw.orders WHERE amount < 900",
    },
}


@dataclass
class GovMesh:
    descriptor: Path
    raw: dict[str, pa.Table]  # "crm.customers" -> the raw rows
    has_postgres: bool
    passwords: dict[str, str] = field(default_factory=dict)


def service(name: str, host: str, port: int) -> bool:
    """True when reachable; else skip visibly, or fail under CI=true."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError as error:
        message = f"{name} is not reachable on {host}:{port} ({error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI runs the governance suite against it")
    return False


def pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


# -- data --------------------------------------------------------------------------------------------


def _rows(seed: int = 5) -> dict[str, pa.Table]:
    rng = random.Random(seed)
    first = ("Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas")
    customers: dict[str, list[object]] = {
        k: [] for k in ("customer_id", "name", "email", "phone", "region", "status", "ssn", "score", "code")
    }
    for cid in range(1, 61):
        region = REGIONS[cid % 3]
        name = f"{rng.choice(first)} {chr(65 + cid % 26)}{cid}"
        customers["customer_id"].append(cid)
        customers["name"].append(name)
        customers["email"].append(f"c{cid}@example.com")
        customers["phone"].append(f"+44 20 7946 {1000 + cid * 37:04d}")
        customers["region"].append(region)
        customers["status"].append("deleted" if cid % 7 == 0 else "active")
        customers["ssn"].append(f"{cid:03d}-55-{rng.randrange(1000, 9999)}")
        customers["score"].append(rng.randrange(300, 850))
        # numeric text only on rows the support user of EMEA may see
        customers["code"].append(str(cid) if region == "EMEA" and cid % 7 else f"X-{cid}")
    employees: dict[str, list[object]] = {
        k: [] for k in ("emp_id", "name", "region", "manager", "salary", "ssn", "email", "code")
    }
    for eid in range(1, 31):
        manager = "mike" if eid % 3 == 0 else ("lisa" if eid % 3 == 1 else "omar")
        name = "mike" if eid == 2 else f"emp{eid}"
        employees["emp_id"].append(eid)
        employees["name"].append(name)
        employees["region"].append(REGIONS[eid % 3])
        employees["manager"].append(manager)
        employees["salary"].append(Decimal(rng.randrange(40_000, 160_000)).scaleb(0))
        employees["ssn"].append(f"{eid:03d}-77-{rng.randrange(1000, 9999)}")
        employees["email"].append(f"{name}@corp.example")
        employees["code"].append(str(eid) if manager == "mike" or name == "mike" else f"X-{eid}")
    orders: dict[str, list[object]] = {
        k: [] for k in ("order_id", "customer_id", "region", "amount", "note", "code")
    }
    for oid in range(1, 201):
        cid = rng.randrange(1, 61)
        amount = Decimal(rng.randrange(500, 120_000)).scaleb(-2)
        orders["order_id"].append(oid)
        orders["customer_id"].append(cid)
        orders["region"].append(REGIONS[cid % 3])
        orders["amount"].append(amount)
        orders["note"].append(f"note {oid}")
        orders["code"].append(str(oid) if amount < 900 else f"X-{oid}")
    payments: dict[str, list[object]] = {
        k: [] for k in ("payment_id", "customer_id", "region", "amount", "card", "code")
    }
    for pid in range(1, 81):
        cid = rng.randrange(1, 61)
        region = REGIONS[cid % 3]
        payments["payment_id"].append(pid)
        payments["customer_id"].append(cid)
        payments["region"].append(region)
        payments["amount"].append(Decimal(rng.randrange(100, 50_000)).scaleb(-2))
        payments["card"].append(f"4111 1111 1111 {rng.randrange(1000, 9999)}")
        payments["code"].append(str(pid) if region != "APAC" else f"X-{pid}")
    return {
        "crm.customers": pa.table(
            customers,
            schema=pa.schema(
                [
                    ("customer_id", pa.int64()),
                    ("name", pa.string()),
                    ("email", pa.string()),
                    ("phone", pa.string()),
                    ("region", pa.string()),
                    ("status", pa.string()),
                    ("ssn", pa.string()),
                    ("score", pa.int64()),
                    ("code", pa.string()),
                ]
            ),
        ),
        "hr.employees": pa.table(
            employees,
            schema=pa.schema(
                [
                    ("emp_id", pa.int64()),
                    ("name", pa.string()),
                    ("region", pa.string()),
                    ("manager", pa.string()),
                    ("salary", pa.decimal128(10, 2)),
                    ("ssn", pa.string()),
                    ("email", pa.string()),
                    ("code", pa.string()),
                ]
            ),
        ),
        "sales.orders": pa.table(
            orders,
            schema=pa.schema(
                [
                    ("order_id", pa.int64()),
                    ("customer_id", pa.int64()),
                    ("region", pa.string()),
                    ("amount", pa.decimal128(10, 2)),
                    ("note", pa.string()),
                    ("code", pa.string()),
                ]
            ),
        ),
        "finance.payments": pa.table(
            payments,
            schema=pa.schema(
                [
                    ("payment_id", pa.int64()),
                    ("customer_id", pa.int64()),
                    ("region", pa.string()),
                    ("amount", pa.decimal128(10, 2)),
                    ("card", pa.string()),
                    ("code", pa.string()),
                ]
            ),
        ),
    }


def _write_sqlite(path: Path, table: pa.Table) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
            "phone TEXT, region TEXT, status TEXT, ssn TEXT, score INTEGER, code TEXT)"
        )
        connection.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(row.values()) for row in table.to_pylist()],
        )


def _write_duckdb(path: Path, table: pa.Table) -> None:
    connection = duckdb.connect(str(path))
    connection.register("rows", table)
    connection.execute("CREATE TABLE employees AS SELECT * FROM rows")
    connection.close()


def _write_postgres(uri: str, table: pa.Table) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE payments (payment_id BIGINT PRIMARY KEY, customer_id BIGINT, region TEXT, "
            "amount NUMERIC(10, 2), card TEXT, code TEXT)"
        )
        cursor.adbc_ingest("payments", table, mode="append")


@dataclass
class _Postgres:
    uri: str          # the administrator's: creates and fills the table
    name: str
    reader: str       # a role that may only read finance's table: the mesh's engine account

    @property
    def reader_uri(self) -> str:
        return f"postgresql://{self.reader}:{self.reader}@127.0.0.1:5432/{self.name}"


def _pg_database() -> _Postgres:
    import adbc_driver_postgresql.dbapi as adbc_pg

    name = f"flightmesh_gov_{uuid.uuid4().hex[:10]}"
    with adbc_pg.connect(PG_ADMIN, autocommit=True) as admin, admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    return _Postgres(f"postgresql://postgres@127.0.0.1:5432/{name}", name, f"{name}_reader")


def _grant_reader(database: _Postgres) -> None:
    """The least-privilege account of README "Engine accounts: least privilege" (the mesh refuses more)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    role = database.reader
    with adbc_pg.connect(database.uri, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{role}'")
        cursor.execute(f'GRANT CONNECT ON DATABASE "{database.name}" TO {role}')
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(f"GRANT SELECT ON public.payments TO {role}")


def _drop_pg(database: _Postgres) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(PG_ADMIN, autocommit=True) as admin, admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
        cursor.execute(f"DROP ROLE IF EXISTS {database.reader}")  # its grants went with the database


def build_gov_mesh(root: Path, *, extra_yaml: str = "", users_yaml: str | None = None) -> Iterator[GovMesh]:
    """Write the mesh under ``root`` (PostgreSQL product when reachable); yield it; drop the database."""
    raw = _rows()
    _write_sqlite(root / "crm.sqlite", raw["crm.customers"])
    _write_duckdb(root / "hr.duckdb", raw["hr.employees"])
    (root / "sales").mkdir()
    pq.write_table(raw["sales.orders"], root / "sales" / "orders.parquet")
    postgres = _pg_database() if service("PostgreSQL", "127.0.0.1", 5432) else None
    try:
        if postgres is not None:
            _write_postgres(postgres.uri, raw["finance.payments"])
            _grant_reader(postgres)
        finance = _FINANCE.format(uri=postgres.reader_uri) if postgres is not None else ""
        users = (
            users_yaml
            if users_yaml is not None
            else "\n".join(
                f'  {name}: {{password: "{name}-pw", roles: [{", ".join(roles)}], '
                f"attributes: {_yaml(attrs)}}}"
                for name, (roles, attrs) in USERS.items()
            )
        )
        descriptor = root / "mesh.yaml"
        descriptor.write_text(_DESCRIPTOR.format(finance=finance, users=users) + extra_yaml)
        yield GovMesh(descriptor, raw, postgres is not None, {name: f"{name}-pw" for name in USERS})
    finally:
        if postgres is not None:
            _drop_pg(postgres)


def _yaml(attributes: dict[str, object]) -> str:
    parts = []
    for key, value in attributes.items():
        rendered = "[" + ", ".join(str(v) for v in value) + "]" if isinstance(value, list) else str(value)
        parts.append(f"{key}: {rendered}")
    return "{" + ", ".join(parts) + "}"


def oracle_for(mesh: GovMesh, user: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB: raw rows in ``raw``, the user's hand-written policy views by mesh name."""
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA raw")
    for key, table in mesh.raw.items():
        oracle.register("rows", table)
        oracle.execute(f"CREATE TABLE raw.{key.split('.')[1]} AS SELECT * FROM rows")
        oracle.unregister("rows")
    for key, sql in ORACLE_VIEWS[user].items():
        schema, name = key.split(".")
        if schema == "finance" and not mesh.has_postgres:
            continue
        oracle.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        oracle.execute(f"CREATE VIEW {schema}.{name} AS {sql}")
    return oracle
