"""The demo mesh: three data products on three engines, with keys that cross between them.

``write_demo(directory)`` writes, and overwrites on every run::

    directory/mesh.yaml                    the descriptor (a commented example of the format)
    directory/data/sales.duckdb            sales:   orders, order_items          (DuckDB)
    directory/data/crm.sqlite              crm:     customers                    (SQLite)
    directory/data/catalog/products.parquet catalog: products                    (Parquet)

``orders.customer_id`` references ``crm.customers`` and ``order_items.product_id`` references
``catalog.products``, so the interesting questions need a federated join. The data is generated
from a fixed seed: every run writes the same rows, and no network is used.

Four users show access control: ``alice`` (role ``analyst``) reads everything, ``bob``
(``sales``) reads sales and the catalog but not the CRM, ``carol`` (``marketing``) reads the CRM
and the catalog but not sales, ``dana`` (``researcher``) reads ``sales.orders`` only in its
differential-privacy mode: noisy counts per channel or status, charged to a daily budget. Their
passwords are fixed, written into ``mesh.yaml`` and returned, because this is demo data on a local
server; a real mesh takes them from ``${ENV_VARS}`` or stores hashes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["DEMO_USERS", "write_demo"]

DEMO_USERS: dict[str, str] = {"alice": "alice-demo", "bob": "bob-demo", "carol": "carol-demo",
                              "dana": "dana-demo"}

_SEED = 20_240_601
_CUSTOMERS = 800
_PRODUCTS = 120
_ORDERS = 3_000
_FIRST_DAY = dt.date(2023, 1, 1)
_LAST_DAY = dt.date(2025, 12, 31)

_DESCRIPTOR = """\
# The flightmesh demo mesh, written by `flightmesh demo`. Re-running the command overwrites it.
# Paths are relative to this file. A real mesh would take passwords from ${{ENV_VARS}}.
mesh:
  name: acme                      # the Flight SQL catalog: acme.sales.orders
  description: A small online shop split into three data products

products:
  sales:                          # SQL schema: sales.orders, sales.order_items
    domain: sales
    owner: sales-data@acme.example
    description: Orders and their line items, from the order service
    engine: {{kind: duckdb, path: data/sales.duckdb}}
    tables:
      orders: {{description: "One row per order; customer_id references crm.customers"}}
      order_items: {{description: "Lines of an order; product_id references catalog.products"}}
    access: {{read: [analyst, sales]}}
    privacy:                      # researchers get noisy aggregates of orders, never a row
      for: [researcher]
      epsilon_per_query: 0.1      # what one answered query costs
      budget: {{epsilon: 2.0, per: day}}   # per researcher; the ledger is in state/ beside this file
      tables:
        orders:
          unit: customer_id       # one customer is what the noise protects
          max_rows_per_unit: 10   # a customer counts with at most 10 orders
          public_keys:            # GROUP BY these only; every value is shown, also when empty
            channel: [web, mobile, store]
            status: [delivered, shipped, cancelled, returned]

  crm:
    domain: customer
    owner: crm-team@acme.example
    description: Customers as the CRM knows them
    engine: {{kind: sqlite, path: data/crm.sqlite}}
    tables:
      customers: {{description: One row per customer}}
    columns:
      customers:
        name: {{tags: [pii], description: Full name}}
        email: {{tags: [pii], description: Contact address}}
        country: {{description: Country of the billing address}}
    access: {{read: [analyst, marketing]}}

  catalog:
    domain: merchandising
    owner: merchandising@acme.example
    description: The product catalog, published as Parquet files
    engine: {{kind: parquet, path: data/catalog}}
    tables:
      products: {{source: products.parquet, description: Every product ever sold}}
    access: {{read: [analyst, sales, marketing]}}

settings:
  http_port: 0                    # the web console, /health and /metrics; 0: a free port, the banner names it

users:
  alice: {{password: "{alice}", roles: [analyst]}}     # reads every product
  bob: {{password: "{bob}", roles: [sales]}}           # sales and catalog, not crm
  carol: {{password: "{carol}", roles: [marketing]}}   # crm and catalog, not sales
  dana: {{password: "{dana}", roles: [researcher]}}    # sales.orders in privacy mode only
"""

_FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
                "Kwame", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara",
                "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe")
_LAST_NAMES = ("Anders", "Baptiste", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
               "Ito", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov",
               "Quinn", "Rossi", "Schmidt", "Tanaka", "Uchenna", "Varga", "Weber", "Yilmaz", "Zhang")
_COUNTRIES = ("Brazil", "Canada", "France", "Germany", "India", "Italy", "Japan", "Kenya", "Mexico",
              "Netherlands", "Spain", "Sweden", "United Kingdom", "United States")
_SEGMENTS = (("consumer", 70), ("small_business", 22), ("enterprise", 8))
_CATEGORIES = {
    "Books": ("Novel", "Cookbook", "Atlas", "Notebook", "Guide"),
    "Electronics": ("Headphones", "Charger", "Speaker", "Keyboard", "Webcam"),
    "Garden": ("Trowel", "Planter", "Hose", "Seed Kit", "Lantern"),
    "Kitchen": ("Kettle", "Skillet", "Knife Set", "Teapot", "Grinder"),
    "Outdoors": ("Tent", "Backpack", "Sleeping Bag", "Water Bottle", "Headlamp"),
    "Toys": ("Puzzle", "Kite", "Building Set", "Plush Bear", "Board Game"),
}
_ADJECTIVES = ("Classic", "Compact", "Deluxe", "Everyday", "Nordic", "Pro", "Solar", "Urban")
_STATUSES = (("delivered", 78), ("shipped", 10), ("cancelled", 7), ("returned", 5))
_CHANNELS = (("web", 55), ("mobile", 35), ("store", 10))


def write_demo(directory: Path) -> tuple[Path, dict[str, str]]:
    """Write the demo mesh into ``directory``; return (mesh.yaml, {user: password})."""
    directory = Path(directory)
    data = directory / "data"
    (data / "catalog").mkdir(parents=True, exist_ok=True)
    rng = random.Random(_SEED)
    products = _products(rng)
    customers = _customers(rng)
    orders, items = _orders(rng, customers, products)
    _write_duckdb(data / "sales.duckdb", orders, items)
    _write_sqlite(data / "crm.sqlite", customers)
    _replace(data / "catalog" / "products.parquet", lambda path: pq.write_table(products, path))
    descriptor = directory / "mesh.yaml"
    _replace(descriptor, lambda path: path.write_text(_DESCRIPTOR.format(**DEMO_USERS)))
    return descriptor, dict(DEMO_USERS)


# -- data ----------------------------------------------------------------------------------------


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randrange((last - first).days + 1))


def _products(rng: random.Random) -> pa.Table:
    names: list[str] = []
    categories: list[str] = []
    prices: list[Decimal] = []
    launched: list[dt.date] = []
    seen: set[str] = set()
    while len(names) < _PRODUCTS:
        category = rng.choice(sorted(_CATEGORIES))
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_CATEGORIES[category])}"
        if name in seen:
            continue
        seen.add(name)
        names.append(name)
        categories.append(category)
        prices.append(Decimal(rng.randrange(299, 49_999)).scaleb(-2))
        launched.append(_day(rng, dt.date(2019, 1, 1), _LAST_DAY - dt.timedelta(days=180)))
    return pa.table({
        "product_id": pa.array(range(1, _PRODUCTS + 1), pa.int64()),
        "name": pa.array(names, pa.string()),
        "category": pa.array(categories, pa.string()),
        "list_price": pa.array(prices, pa.decimal128(10, 2)),
        "launched_on": pa.array(launched, pa.date32()),
    })


def _customers(rng: random.Random) -> list[tuple[int, str, str, str, str, dt.date]]:
    rows = []
    for customer_id in range(1, _CUSTOMERS + 1):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        email = f"{first}.{last}.{customer_id}@example.com".lower()
        signup = _day(rng, dt.date(2020, 1, 1), _LAST_DAY - dt.timedelta(days=30))
        rows.append((customer_id, f"{first} {last}", email, rng.choice(_COUNTRIES),
                     _weighted(rng, _SEGMENTS), signup))
    return rows


def _orders(rng: random.Random, customers: list[tuple[int, str, str, str, str, dt.date]],
            products: pa.Table) -> tuple[pa.Table, pa.Table]:
    # About one customer in ten never orders, so outer joins have something to show.
    buyers = [c for c in customers if rng.random() >= 0.1]
    prices = products["list_price"].to_pylist()
    order_rows: dict[str, list[object]] = {k: [] for k in ("order_id", "customer_id", "ordered_on", "status",
                                                         "channel")}
    item_rows: dict[str, list[object]] = {k: [] for k in ("order_id", "line_no", "product_id", "quantity",
                                                        "unit_price", "discount")}
    for order_id in range(1, _ORDERS + 1):
        customer = rng.choice(buyers)
        order_rows["order_id"].append(order_id)
        order_rows["customer_id"].append(customer[0])
        order_rows["ordered_on"].append(_day(rng, max(customer[5], _FIRST_DAY), _LAST_DAY))
        order_rows["status"].append(_weighted(rng, _STATUSES))
        order_rows["channel"].append(_weighted(rng, _CHANNELS))
        for line_no, product_index in enumerate(rng.sample(range(_PRODUCTS), rng.randint(1, 5)), start=1):
            item_rows["order_id"].append(order_id)
            item_rows["line_no"].append(line_no)
            item_rows["product_id"].append(product_index + 1)
            item_rows["quantity"].append(rng.choices((1, 2, 3, 4, 5), weights=(60, 20, 10, 6, 4))[0])
            item_rows["unit_price"].append(prices[product_index])
            item_rows["discount"].append(Decimal(rng.choice((0, 0, 0, 5, 10, 15))).scaleb(-2))
    orders = pa.table({
        "order_id": pa.array(order_rows["order_id"], pa.int64()),
        "customer_id": pa.array(order_rows["customer_id"], pa.int64()),
        "ordered_on": pa.array(order_rows["ordered_on"], pa.date32()),
        "status": pa.array(order_rows["status"], pa.string()),
        "channel": pa.array(order_rows["channel"], pa.string()),
    })
    items = pa.table({
        "order_id": pa.array(item_rows["order_id"], pa.int64()),
        "line_no": pa.array(item_rows["line_no"], pa.int32()),
        "product_id": pa.array(item_rows["product_id"], pa.int64()),
        "quantity": pa.array(item_rows["quantity"], pa.int32()),
        "unit_price": pa.array(item_rows["unit_price"], pa.decimal128(10, 2)),
        "discount": pa.array(item_rows["discount"], pa.decimal128(4, 2)),
    })
    return orders, items


# -- files ---------------------------------------------------------------------------------------


def _replace(target: Path, write: Callable[[Path], object]) -> None:
    """Write through ``write(path)`` beside ``target``, then rename over it: never half a file."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    write(partial)
    os.replace(partial, target)


def _write_duckdb(target: Path, orders: pa.Table, items: pa.Table) -> None:
    def write(path: Path) -> None:
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        with duckdb.connect(str(path)) as connection:
            connection.execute("""
                CREATE TABLE orders (
                    order_id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, ordered_on DATE NOT NULL,
                    status VARCHAR NOT NULL, channel VARCHAR NOT NULL)""")
            connection.execute("""
                CREATE TABLE order_items (
                    order_id BIGINT NOT NULL REFERENCES orders (order_id), line_no INTEGER NOT NULL,
                    product_id BIGINT NOT NULL, quantity INTEGER NOT NULL,
                    unit_price DECIMAL(10,2) NOT NULL, discount DECIMAL(4,2) NOT NULL,
                    PRIMARY KEY (order_id, line_no))""")
            for name, table in (("orders", orders), ("order_items", items)):
                connection.register("rows", table)
                connection.execute(f"INSERT INTO {name} SELECT * FROM rows")
                connection.unregister("rows")
            connection.execute("CHECKPOINT")

    _replace(target, write)
    target.with_name(target.name + ".wal").unlink(missing_ok=True)


def _write_sqlite(target: Path, customers: list[tuple[int, str, str, str, str, dt.date]]) -> None:
    def write(path: Path) -> None:
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            # Declared types are what the SQLite connector reports; DATE is stored as ISO text.
            connection.execute("""
                CREATE TABLE customers (
                    customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,
                    country TEXT NOT NULL, segment TEXT NOT NULL, signed_up_on DATE NOT NULL)""")
            connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
                                   [(*row[:5], row[5].isoformat()) for row in customers])
            connection.execute("CREATE INDEX customers_country ON customers (country)")

    _replace(target, write)
