"""The demo mesh as a test fixture, and an oracle over the same rows in one DuckDB database.

The oracle is built from copies of the demo's files, without any flightmesh code: the DuckDB
tables are copied through ATTACH of a file copy, the SQLite rows are read with the standard
library's sqlite3, the Parquet file with DuckDB's own reader. Queries written against the
mesh's names (``sales.orders``) run unchanged on it.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import Principal
from flightmesh.server.demo import write_demo

__all__ = ["Demo", "build_oracle", "demo", "demo_oracle", "demo_runtime"]


@dataclass(frozen=True)
class Demo:
    descriptor: Path
    passwords: dict[str, str]

    @property
    def root(self) -> Path:
        return self.descriptor.parent


def build_oracle(root: Path, scratch: Path) -> duckdb.DuckDBPyConnection:
    oracle = duckdb.connect()
    for schema in ("sales", "crm", "catalog"):
        oracle.execute(f'CREATE SCHEMA "{schema}"')
    copy = scratch / "sales-oracle-copy.duckdb"
    shutil.copyfile(root / "data" / "sales.duckdb", copy)
    oracle.execute(f"ATTACH '{copy}' AS sales_copy (READ_ONLY)")
    for table in ("orders", "order_items"):
        oracle.execute(f'CREATE TABLE "sales"."{table}" AS SELECT * FROM sales_copy."{table}"')
    oracle.execute("DETACH sales_copy")
    with sqlite3.connect(root / "data" / "crm.sqlite") as crm:
        cursor = crm.execute("SELECT customer_id, name, email, country, segment, signed_up_on FROM customers")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    customers = pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})
    oracle.register("customers_rows", customers)
    oracle.execute('CREATE TABLE "crm"."customers" AS SELECT customer_id::BIGINT AS customer_id, name, email, '
                   "country, segment, signed_up_on::DATE AS signed_up_on FROM customers_rows")
    oracle.unregister("customers_rows")
    parquet = root / "data" / "catalog" / "products.parquet"
    oracle.execute(f"CREATE TABLE \"catalog\".\"products\" AS SELECT * FROM read_parquet('{parquet}')")
    return oracle


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    descriptor, passwords = write_demo(tmp_path_factory.mktemp("demo"))
    return Demo(descriptor, passwords)


@pytest.fixture(scope="session")
def demo_oracle(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    oracle = build_oracle(demo.root, tmp_path_factory.mktemp("oracle"))
    yield oracle
    oracle.close()


@pytest.fixture(scope="session")
def demo_runtime(demo: Demo) -> Iterator[MeshRuntime]:
    runtime = MeshRuntime.open(demo.descriptor)
    yield runtime
    runtime.close()


def principal(runtime: MeshRuntime, user: str) -> Principal:
    found = runtime.principal_for(user)
    assert found is not None
    return found
