"""Test meshes for the server tests: three products in three engines, users with different roles.

``build_mesh(directory)`` writes

* ``data/sales.duckdb``   product ``sales``     table ``orders``     (DuckDB)
* ``data/crm.sqlite``     product ``crm``       table ``customers``  (SQLite)
* ``data/catalog/``       product ``catalog``   table ``products``   (Parquet)
* ``data/telemetry/``     product ``telemetry`` table ``events``     (Parquet, 3M rows: long streams)
* ``mesh.yaml`` with users alice (analyst: everything), bob (sales: only ``sales``), carol (no roles)

and returns the same data as Arrow tables, so a test computes its expectation with DuckDB over
those tables (``oracle()``), independently of flightmesh.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["PASSWORDS", "Mesh", "build_mesh"]

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
EVENT_ROWS = 3_000_000

MESH_YAML = """\
mesh:
  name: acme
  sql_dialect: duckdb
  description: test mesh of the server tests

products:
  sales:
    domain: sales
    owner: sales@acme.example
    description: Orders from the order service
    engine: {kind: duckdb, path: data/sales.duckdb}
    tables:
      orders: {description: one row per order}
    columns:
      orders:
        amount: {description: order value in EUR}
    access: {read: [analyst, sales]}
  crm:
    domain: customers
    owner: crm@acme.example
    engine: {kind: sqlite, path: data/crm.sqlite}
    tables:
      customers: {}
    access: {read: [analyst]}
  catalog:
    domain: catalog
    engine: {kind: parquet, path: data/catalog}
    tables:
      products: {source: products.parquet}
    access: {read: [analyst]}
  telemetry:
    domain: ops
    engine: {kind: parquet, path: data/telemetry}
    tables:
      events: {source: events.parquet}
    access: {read: [analyst]}

users:
  alice: {password: "alice-secret", roles: [analyst]}
  bob: {password: "bob-secret", roles: [sales]}
  carol: {password: "carol-secret", roles: []}
"""


@dataclass(frozen=True)
class Mesh:
    descriptor: Path
    directory: Path
    orders: pa.Table
    customers: pa.Table
    products: pa.Table

    def oracle(self, sql: str) -> pa.Table:
        """``sql`` run by DuckDB over the same data (tables named ``orders``, ``customers``, ``products``)."""
        connection = duckdb.connect()
        try:
            for name in ("orders", "customers", "products"):
                connection.register(name, getattr(self, name))
            return connection.sql(sql).to_arrow_table()
        finally:
            connection.close()


def _customers() -> pa.Table:
    ids = list(range(1, 51))
    countries = ["DE", "FR", "US", "JP"]
    return pa.table({
        "customer_id": pa.array(ids, pa.int64()),
        "name": [f"customer {i:02d}" for i in ids],
        "country": [None if i % 13 == 0 else countries[i % 4] for i in ids],
    })


def _products() -> pa.Table:
    ids = list(range(1, 21))
    return pa.table({
        "product_id": pa.array(ids, pa.int64()),
        "title": [f"product_{i}" for i in ids],
        "price": [round(1.25 * i, 2) for i in ids],
    })


def _orders() -> pa.Table:
    ids = list(range(1, 501))
    return pa.table({
        "order_id": pa.array(ids, pa.int64()),
        "customer_id": pa.array([(i * 7) % 50 + 1 for i in ids], pa.int64()),
        "product_id": pa.array([(i * 3) % 20 + 1 for i in ids], pa.int64()),
        "quantity": pa.array([i % 5 + 1 for i in ids], pa.int32()),
        "amount": [round(10 + (i * 37 % 1000) / 10, 2) for i in ids],
        "order_date": [dt.date(2024, 1, 1) + dt.timedelta(days=i % 365) for i in ids],
    })


def build_mesh(directory: Path, *, event_rows: int = EVENT_ROWS) -> Mesh:
    data = directory / "data"
    (data / "catalog").mkdir(parents=True)
    (data / "telemetry").mkdir(parents=True)
    orders, customers, products = _orders(), _customers(), _products()

    with duckdb.connect(str(data / "sales.duckdb")) as sales:
        sales.register("source", orders)
        sales.execute(
            "CREATE TABLE orders AS SELECT order_id, customer_id, product_id, quantity, "
            "CAST(amount AS DOUBLE) AS amount, order_date FROM source"
        )

    crm = sqlite3.connect(data / "crm.sqlite")
    try:
        crm.execute(
            "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT)"
        )
        rows = [tuple(row.values()) for row in customers.to_pylist()]
        crm.executemany("INSERT INTO customers VALUES (?, ?, ?)", rows)
        crm.commit()
    finally:
        crm.close()

    pq.write_table(products, data / "catalog" / "products.parquet")
    event_ids = np.arange(event_rows, dtype=np.int64)
    events = pa.table({"event_id": event_ids, "value": event_ids % 1000})
    pq.write_table(events, data / "telemetry" / "events.parquet", row_group_size=65_536)

    descriptor = directory / "mesh.yaml"
    descriptor.write_text(MESH_YAML)
    return Mesh(descriptor, directory, orders, customers, products)
