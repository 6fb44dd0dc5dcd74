"""A small mesh with a privacy-mode product, for the tests/governance/test_privacy_*.py files.

``sales.orders`` (DuckDB): 200 customers with 1 to 5 orders each, plus customer 9999 with 1,000
orders (the unit that tests the contribution bound), over regions EMEA/AMER/APAC and one region
(LATAM) the descriptor does not declare. ``researcher`` reads it in privacy mode only; ``analyst``
reads it fully (the oracle's view through the mesh). ``crm.customers`` (another DuckDB file), read
fully by both, declares primary key customer_id but holds customer 9999 twice (a declared key the
engine does not enforce): the join that privacy mode allows must not let it count twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import yaml

__all__ = ["BIG_UNIT", "build_privacy_mesh", "raw"]

BIG_UNIT = 9999


def build_privacy_mesh(folder: Path, *, epsilon_per_query: float = 0.1, budget: float = 1.0, per: str = "day",
                       state: dict[str, Any] | None = None, max_rows: int = 10) -> Path:
    """Write the data and the descriptor into ``folder``; the descriptor's path."""
    data = folder / "sales.duckdb"
    if not data.exists():
        with duckdb.connect(str(data)) as connection:
            connection.execute("""
                CREATE TABLE orders AS
                SELECT row_number() OVER () AS order_id, customer_id, region, amount, year FROM (
                    SELECT c AS customer_id,
                           ['EMEA', 'AMER', 'APAC', 'LATAM'][1 + c % 4] AS region,
                           CAST((c * 37 + o * 101) % 1500 AS DOUBLE) AS amount,
                           2023 + (c + o) % 2 AS year
                    FROM range(1, 201) AS t(c), range(0, 5) AS u(o) WHERE o < 1 + c % 5
                    UNION ALL
                    SELECT 9999, 'EMEA', 500.0, 2024 FROM range(1000)
                )""")
    crm = folder / "crm.duckdb"
    if not crm.exists():
        with duckdb.connect(str(crm)) as connection:
            connection.execute("""
                CREATE TABLE customers AS
                SELECT c AS customer_id, CASE WHEN c % 3 = 0 THEN 'retail' ELSE 'business' END AS segment
                FROM range(1, 201) AS t(c)
                UNION ALL SELECT 9999, 'retail' UNION ALL SELECT 9999, 'retail'""")
    descriptor: dict[str, Any] = {
        "mesh": {"name": "dp"},
        "products": {"sales": {
            "engine": {"kind": "duckdb", "path": "sales.duckdb"},
            "tables": {"orders": {}},
            "access": {"read": ["analyst"]},
            "privacy": {
                "for": ["researcher"],
                "epsilon_per_query": epsilon_per_query,
                "budget": {"epsilon": budget, "per": per},
                "tables": {"orders": {
                    "unit": "customer_id", "max_rows_per_unit": max_rows,
                    "bounds": {"amount": [0, 1000]},
                    "public_keys": {"region": ["EMEA", "AMER", "APAC", "NORDICS"], "year": [2023, 2024]},
                }},
            },
        },
            "crm": {"engine": {"kind": "duckdb", "path": "crm.duckdb"},
                    "tables": {"customers": {"primary_key": ["customer_id"]}},
                    "access": {"read": ["analyst", "researcher"]}},
        },
        "users": {"rita": {"password": "r", "roles": ["researcher"]},
                  "sam": {"password": "s", "roles": ["researcher"]},
                  "ana": {"password": "a", "roles": ["analyst"]}},
    }
    if state is not None:
        descriptor["state"] = state
    path = folder / "mesh.yaml"
    path.write_text(yaml.safe_dump(descriptor, sort_keys=False))
    return path


def raw(folder: Path, sql: str) -> list[tuple[Any, ...]]:
    """The oracle: DuckDB over the raw data files (crm's attached as crm), the query written by hand."""
    with duckdb.connect() as connection:   # its own instance: not the mesh's locked-down one for the same file
        connection.execute(f"ATTACH '{folder / 'sales.duckdb'}' AS sales (READ_ONLY)")
        connection.execute(f"ATTACH '{folder / 'crm.duckdb'}' AS crm (READ_ONLY)")
        connection.execute("USE sales")
        return connection.execute(sql).fetchall()
