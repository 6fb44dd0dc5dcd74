"""The broad workload's own integrity (benchmarks/broad.py, broad_mesh.py): DuckDB only, no server.

Its data is deterministic, has the declared types, and each of its queries runs on the one-file
oracle and can be checked by ``tests/oracle.py`` (ORDER BY terms are output columns); together the
queries read every product and reach the join widths the benchmark claims.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from benchmarks.broad import load_queries
from benchmarks.broad_mesh import HOME, NULLABLE, PRODUCTS, SCHEMA, TABLES, _generate, _write_duckdb, qualify
from tests.oracle import order_keys, query_limit

SF = 0.0005   # every growing table at its floor: a few thousand rows


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("broad")
    _generate(SF, root / "source")
    _write_duckdb(root / "oracle.duckdb", TABLES, root / "source")
    return root


def _digest(path: Path, table: str) -> tuple[int, int]:
    with contextlib.closing(duckdb.connect()) as connection:
        rows = connection.sql(f"SELECT count(*), sum(hash(t)) FROM read_parquet('{path / table}.parquet') AS t")
        count, digest = rows.fetchall()[0]
        return int(count), int(digest)


def test_data_is_deterministic_and_typed(oracle: Path, tmp_path: Path) -> None:
    _generate(SF, tmp_path / "again")
    with contextlib.closing(duckdb.connect(str(oracle / "oracle.duckdb"), read_only=True)) as connection:
        for table in TABLES:
            assert _digest(oracle / "source", table) == _digest(tmp_path / "again", table), table
            described = connection.sql(f"DESCRIBE {table}").fetchall()
            declared = [(name, kind.split("(")[0] if kind.startswith("VARCHAR") else kind)
                        for name, kind in SCHEMA[table]]
            assert [(row[0], row[1]) for row in described] == declared, table
            for name, _ in SCHEMA[table]:       # NOT NULL where the schema says so
                nulls = connection.sql(f"SELECT count(*) FROM {table} WHERE {name} IS NULL").fetchall()[0][0]
                assert name in NULLABLE or nulls == 0, (table, name)


def test_every_query_runs_on_the_oracle_and_can_be_checked(oracle: Path) -> None:
    queries = load_queries()
    assert len(queries) >= 60
    with contextlib.closing(duckdb.connect(str(oracle / "oracle.duckdb"), read_only=True)) as connection:
        for sql in queries.values():
            connection.sql(sql).fetchall()
            order_keys(sql)              # raises when an ORDER BY term is not an output column
            query_limit(sql)


def test_queries_cover_the_split() -> None:
    products_read: set[str] = set()
    widest = 0
    three_engines_with_inventory = 0
    for sql in load_queries().values():
        tree = sqlglot.parse_one(qualify(sql), read="duckdb")
        tables = [t for t in tree.find_all(exp.Table) if t.db]
        assert all(t.db == HOME[t.name] for t in tables)
        products = {t.db for t in tables}
        products_read |= products
        widest = max(widest, max((len(select.args.get("joins") or []) + 1
                                  for select in tree.find_all(exp.Select)), default=0))
        if "stock" in products and len(products) >= 3:
            three_engines_with_inventory += 1
    assert products_read == {product.name for product in PRODUCTS}
    assert widest >= 12
    assert three_engines_with_inventory >= 5
