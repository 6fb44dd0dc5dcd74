"""The fuzz data: one column layout, eight tables, values chosen to make engines disagree.

Every table has the same columns (so the generator can join any two on any pair of like-typed
columns); each table draws its rows from the pools below with its own seed, so tables differ
while every tricky value appears in several of them:

- strings that differ only in case, trailing spaces or accents ('Berlin', 'berlin ', 'BERLIN',
  'Zürich'/'Zurich', 'straße'/'STRASSE', 'café'/'CAFE'), LIKE metacharacters, a quote,
  the empty string next to NULL;
- integers around zero with negatives (``//`` and ``%`` round differently per engine), join keys
  with NULLs and duplicates, duplicate ``id`` values;
- DECIMAL(10,2) money with halves and negatives, DOUBLE values at rounding ties (2.5, -2.5);
- BOOLEAN with NULL; DATE and TIMESTAMP before 1970, on leap days, at year ends and with
  microsecond fractions.

The same rows go into every engine and into the oracle file; nothing here depends on an engine.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

__all__ = ["COLUMNS", "TABLES", "Column", "FuzzTable", "rows"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str          # the generator's type family: int, decimal, double, string, bool, date, timestamp
    arrow: pa.DataType
    duckdb: str
    postgres: str
    mysql: str
    sqlite: str


COLUMNS: tuple[Column, ...] = (
    Column("id", "int", pa.int64(), "BIGINT", "BIGINT", "BIGINT", "BIGINT"),
    Column("k", "int", pa.int32(), "INTEGER", "INTEGER", "INT", "INTEGER"),
    Column("n", "int", pa.int32(), "INTEGER", "INTEGER", "INT", "INTEGER"),
    Column("s", "string", pa.string(), "VARCHAR", "VARCHAR(40)", "VARCHAR(40)", "VARCHAR(40)"),
    Column("c", "string", pa.string(), "VARCHAR", "TEXT", "VARCHAR(20)", "TEXT"),
    Column("m", "decimal", pa.decimal128(10, 2), "DECIMAL(10,2)", "NUMERIC(10,2)", "DECIMAL(10,2)",
           "DECIMAL(10,2)"),
    Column("d", "double", pa.float64(), "DOUBLE", "DOUBLE PRECISION", "DOUBLE", "DOUBLE"),
    Column("b", "bool", pa.bool_(), "BOOLEAN", "BOOLEAN", "BOOLEAN", "BOOLEAN"),
    Column("day", "date", pa.date32(), "DATE", "DATE", "DATE", "DATE"),
    Column("ts", "timestamp", pa.timestamp("us"), "TIMESTAMP", "TIMESTAMP", "DATETIME(6)", "TIMESTAMP"),
)


@dataclass(frozen=True)
class FuzzTable:
    product: str       # the mesh product (SQL schema) and the oracle's schema
    name: str
    engine: str        # descriptor kind
    seed: int
    size: int

    @property
    def qualified(self) -> str:
        return f"{self.product}.{self.name}"


# Two tables on MariaDB, PostgreSQL and SQLite each (joins pushed inside one engine), one on
# DuckDB and one in Parquet: every other join crosses engines.
TABLES: tuple[FuzzTable, ...] = (
    FuzzTable("maria", "m1", "mysql", 11, 24),
    FuzzTable("maria", "m2", "mysql", 12, 16),
    FuzzTable("pg", "p1", "postgresql", 21, 24),
    FuzzTable("pg", "p2", "postgresql", 22, 16),
    FuzzTable("lite", "s1", "sqlite", 31, 24),
    FuzzTable("lite", "s2", "sqlite", 32, 16),
    FuzzTable("duck", "d1", "duckdb", 41, 20),
    FuzzTable("files", "f1", "parquet", 51, 20),
)

STRINGS = ("Berlin", "berlin", "BERLIN", "Berlin ", " Berlin", "Zürich", "Zurich", "zürich", "straße", "STRASSE",
           "Straße", "café", "CAFE", "cafe", "", "a%b", "a_b", "O'Brien", "ß", "Ä", "a", "A", "b ", "Øresund",
           "naïve", "z", "10", "9", "-1")
CATEGORIES = ("x", "X", "y", "Y ", "é", "e", "E", "", "Ω", "ω")
INTS = (-7, -3, -2, -1, 0, 1, 2, 3, 5, 7, 10, 100, -100)
KEYS = (0, 1, 1, 2, 3, 3, 4, 5, 6, 7)
MONEY = ("-12.50", "-0.01", "0.00", "0.50", "1.00", "2.50", "3.35", "10.05", "99.99", "1234.56", "-2.50", "7.45")
DOUBLES = (2.5, -2.5, 0.5, -0.5, 1.5, 0.1, -0.1, 3.0, 0.0, 1e6 + 0.5, 123.456, -7.25, 1e-3)
DAYS = (dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(1900, 3, 1), dt.date(2000, 2, 29),
        dt.date(2024, 2, 29), dt.date(2024, 12, 31), dt.date(2023, 1, 1), dt.date(1999, 12, 31),
        dt.date(2024, 3, 1), dt.date(2021, 1, 3), dt.date(1955, 7, 4))
STAMPS = (dt.datetime(1969, 12, 31, 23, 59, 59, 500000), dt.datetime(1970, 1, 1, 0, 0, 0),
          dt.datetime(2024, 2, 29, 12, 34, 56, 123456), dt.datetime(2000, 1, 1, 0, 0, 0, 1),
          dt.datetime(2024, 12, 31, 23, 59, 59, 999999), dt.datetime(1950, 6, 15, 8, 0, 0),
          dt.datetime(2023, 6, 30, 18, 30, 0), dt.datetime(2021, 1, 3, 0, 0, 0, 250000),
          dt.datetime(2024, 3, 10, 2, 30, 0))


def _maybe_null(rng: random.Random, value: object, rate: float = 0.12) -> object:
    return None if rng.random() < rate else value


def rows(table: FuzzTable) -> pa.Table:
    """The table's rows, a pure function of its seed and size."""
    rng = random.Random(table.seed)
    data: dict[str, list[object]] = {column.name: [] for column in COLUMNS}
    for index in range(table.size):
        # The last two rows repeat earlier ids: keys that look unique are not.
        data["id"].append(index + 1 if index < table.size - 2 else index - 3)
        data["k"].append(_maybe_null(rng, rng.choice(KEYS), 0.15))
        data["n"].append(_maybe_null(rng, rng.choice(INTS)))
        # Cycle through the pool first so every table holds the tricky strings, then draw.
        data["s"].append(_maybe_null(rng, STRINGS[(index * 7 + table.seed) % len(STRINGS)], 0.08))
        data["c"].append(_maybe_null(rng, rng.choice(CATEGORIES)))
        data["m"].append(_maybe_null(rng, Decimal(rng.choice(MONEY))))
        data["d"].append(_maybe_null(rng, rng.choice(DOUBLES)))
        data["b"].append(_maybe_null(rng, rng.random() < 0.5, 0.2))
        data["day"].append(_maybe_null(rng, rng.choice(DAYS)))
        data["ts"].append(_maybe_null(rng, rng.choice(STAMPS)))
    schema = pa.schema([pa.field(column.name, column.arrow) for column in COLUMNS])
    return pa.table(data, schema=schema)
