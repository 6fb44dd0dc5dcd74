"""The privacy rewrite runs inside every engine kind: the same orders in PostgreSQL, MariaDB and
SQLite, the exact bounded aggregates (noise removed) against the bound written by hand in DuckDB.

The rewrite is rendered in each engine's dialect (ROW_NUMBER() OVER (PARTITION BY unit), the
CASE clamp, CAST AS DOUBLE); this checks each engine computes what the bound means.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightmesh.executor import MeshRuntime, privacy_release
from tests.connectors.conftest import mysql_database, mysql_execute, pg_execute, postgres_database  # noqa: F401
from tests.governance.privacy_mesh import BIG_UNIT, build_privacy_mesh, raw

SQL = ("SELECT region, COUNT(*) AS n, SUM(amount) AS s, AVG(amount) AS a FROM {product}.orders "
       "WHERE year = 2024 GROUP BY region ORDER BY region")


def _privacy() -> dict[str, Any]:
    return {"for": ["researcher"], "epsilon_per_query": 0.001, "budget": {"epsilon": 1000, "per": "total"},
            "tables": {"orders": {"unit": "customer_id", "max_rows_per_unit": 10, "bounds": {"amount": [0, 1000]},
                                  "public_keys": {"region": ["AMER", "APAC", "EMEA", "NORDICS"]}}}}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, postgres_database: str,  # noqa: F811
         mysql_database: str) -> Iterator[tuple[MeshRuntime, Path]]:  # noqa: F811
    folder = tmp_path_factory.mktemp("dp_engines")
    build_privacy_mesh(folder)
    rows = raw(folder, "SELECT order_id, customer_id, region, amount, year FROM orders ORDER BY order_id")
    values = ", ".join(f"({o}, {c}, '{r}', {a}, {y})" for o, c, r, a, y in rows)
    ddl = "CREATE TABLE orders (order_id BIGINT, customer_id BIGINT, region VARCHAR(10), amount DOUBLE{}, year INT)"
    pg_execute(postgres_database, ddl.format(" PRECISION"), f"INSERT INTO orders VALUES {values}")
    mysql_execute(mysql_database, ddl.format(""), f"INSERT INTO orders VALUES {values}")
    with sqlite3.connect(folder / "orders.sqlite") as connection:
        connection.execute("CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, region TEXT, amount REAL, "
                           "year INTEGER)")
        connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows)
    descriptor = yaml.safe_load((folder / "mesh.yaml").read_text())
    for name, engine in (("pg", {"kind": "postgresql", "uri": postgres_database, "allow_privileged": True}),
                         ("my", {"kind": "mysql", "uri": mysql_database, "allow_privileged": True}),
                         ("lite", {"kind": "sqlite", "path": "orders.sqlite"})):
        descriptor["products"][name] = {"engine": engine, "tables": {"orders": {}}, "privacy": _privacy()}
    (folder / "mesh.yaml").write_text(yaml.safe_dump(descriptor, sort_keys=False))
    with MeshRuntime.open(folder / "mesh.yaml") as runtime:
        yield runtime, folder


@pytest.mark.postgresql
@pytest.mark.mysql
@pytest.mark.parametrize("product", ["pg", "my", "lite"])
def test_the_bounded_aggregate_in_each_engine(mesh: tuple[MeshRuntime, Path], product: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privacy_release, "laplace_sampler", lambda kind, scale: lambda value: value)
    runtime, folder = mesh
    released = runtime.query(SQL.format(product=product), runtime.authenticate("rita", "r")).read_all().to_pylist()
    by_hand = {region: (count, total) for region, count, total in raw(folder, f"""
        SELECT region, COUNT(*), SUM(LEAST(GREATEST(amount, 0), 1000)) FROM orders
        WHERE year = 2024 AND customer_id <> {BIG_UNIT} GROUP BY region""")}
    count, total = by_hand["EMEA"]
    by_hand["EMEA"] = (count + 10, total + 10 * 500.0)   # the big unit: 10 of its 1,000 rows
    by_hand["NORDICS"] = (0, 0.0)
    assert [r["region"] for r in released] == ["AMER", "APAC", "EMEA", "NORDICS"]
    for row in released:
        count, total = by_hand[row["region"]]
        assert row["n"] == count
        assert row["s"] == pytest.approx(total)
        assert row["a"] == (pytest.approx(min(1000.0, max(0.0, total / count))) if count else None)
