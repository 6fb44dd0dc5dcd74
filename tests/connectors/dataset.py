"""The conformance dataset: two related tables and a table of portable types, as Arrow tables.

Deterministic, small, with NULLs and ties where they test something. Every engine is loaded
from these same tables; the oracle is DuckDB over them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

__all__ = ["CUSTOMERS", "DDL_TYPES", "ORDERS", "TYPES", "TYPES_ROWS", "tables"]

_REGIONS = ["north", "south", "east", "west", None]
_STATUSES = ["open", "shipped", "returned"]

CUSTOMERS = pa.table({
    "id": pa.array(range(1, 21), pa.int32()),
    "name": pa.array([f"customer {i:02d}" if i % 7 else None for i in range(1, 21)], pa.string()),
    "region": pa.array([_REGIONS[i % 5] for i in range(1, 21)], pa.string()),
    "score": pa.array([round((i * 37 % 101) / 7, 3) for i in range(1, 21)], pa.float64()),
}, schema=pa.schema([pa.field("id", pa.int32(), nullable=False), pa.field("name", pa.string()),
                     pa.field("region", pa.string()), pa.field("score", pa.float64())]))

ORDERS = pa.table({
    "id": pa.array(range(1, 201), pa.int32()),
    # customer 0 and 21..22 do not exist: outer joins and EXISTS have something to find
    "customer_id": pa.array([(i * 13) % 23 for i in range(1, 201)], pa.int32()),
    "amount": pa.array([Decimal(i * 7919 % 10000) / 100 if i % 17 else None for i in range(1, 201)],
                       pa.decimal128(10, 2)),
    "qty": pa.array([i % 9 + 1 for i in range(1, 201)], pa.int32()),
    "ordered": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i * 3 % 365) for i in range(1, 201)],
                        pa.date32()),
    "status": pa.array([_STATUSES[i % 3] for i in range(1, 201)], pa.string()),
})

# Portable types: what every engine can store and give back exactly.
TYPES_ROWS = [
    {"i32": 1, "i64": 2**40, "dec": Decimal("1234.567"), "f64": 1.5, "flag": True, "txt": "héllo 'quoted'",
     "day": dt.date(2024, 2, 29), "at": dt.datetime(2024, 2, 29, 12, 34, 56, 123456), "raw": b"\x00\x01\xff"},
    {"i32": -7, "i64": -(2**40), "dec": Decimal("-0.001"), "f64": -2.25, "flag": False, "txt": "",
     "day": dt.date(1999, 12, 31), "at": dt.datetime(1999, 12, 31, 23, 59, 59), "raw": b""},
    dict.fromkeys(("i32", "i64", "dec", "f64", "flag", "txt", "day", "at", "raw")),
]
TYPES = pa.Table.from_pylist(TYPES_ROWS, schema=pa.schema([
    ("i32", pa.int32()), ("i64", pa.int64()), ("dec", pa.decimal128(12, 3)), ("f64", pa.float64()),
    ("flag", pa.bool_()), ("txt", pa.string()), ("day", pa.date32()), ("at", pa.timestamp("us")),
    ("raw", pa.binary()),
]))

# Column types as each engine declares them (DuckDB and Parquet take the Arrow types directly).
DDL_TYPES = {
    "postgres": {"i32": "INTEGER", "i64": "BIGINT", "dec": "NUMERIC(12,3)", "f64": "DOUBLE PRECISION",
                 "flag": "BOOLEAN", "txt": "TEXT", "day": "DATE", "at": "TIMESTAMP", "raw": "BYTEA"},
    "mysql": {"i32": "INT", "i64": "BIGINT", "dec": "DECIMAL(12,3)", "f64": "DOUBLE", "flag": "BOOLEAN",
              "txt": "TEXT", "day": "DATE", "at": "DATETIME(6)", "raw": "BLOB"},
    "sqlite": {"i32": "INTEGER", "i64": "BIGINT", "dec": "DECIMAL(12,3)", "f64": "DOUBLE", "flag": "BOOLEAN",
               "txt": "TEXT", "day": "DATE", "at": "TIMESTAMP", "raw": "BLOB"},
}
_DATA_DDL = {
    "customers": {"id": "INTEGER NOT NULL", "name": "VARCHAR(40)", "region": "VARCHAR(10)", "score": "{f64}"},
    "orders": {"id": "INTEGER", "customer_id": "INTEGER", "amount": "DECIMAL(10,2)", "qty": "INTEGER",
               "ordered": "DATE", "status": "VARCHAR(10)"},
}


def tables() -> dict[str, pa.Table]:
    return {"customers": CUSTOMERS, "orders": ORDERS, "types": TYPES}


def ddl(table: str, dialect: str) -> dict[str, str]:
    """Column -> declared type of ``table`` in ``dialect`` (postgres, mysql, sqlite)."""
    if table == "types":
        return DDL_TYPES[dialect]
    f64 = DDL_TYPES[dialect]["f64"]
    return {column: kind.format(f64=f64) for column, kind in _DATA_DDL[table].items()}
