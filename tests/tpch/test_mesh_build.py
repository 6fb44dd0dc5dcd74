"""The TPC-H mesh holds the oracle's data in every engine, read back with each engine's own
client (not flightmesh's connectors), and its descriptor says what issue 3 asks for."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_pg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.tpch_mesh import HOME, PRIMARY_KEYS, SCHEMA, TpchMesh
from flightmesh.mesh import load_descriptor
from tests.oracle import assert_same_result

pytestmark = pytest.mark.postgresql


def _oracle_table(mesh: TpchMesh, table: str) -> pa.Table:
    with duckdb.connect(str(mesh.oracle), read_only=True) as connection:
        return connection.sql(f"SELECT * FROM {table}").to_arrow_table()


def _typed(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows from a driver that returns text or REAL for dates and decimals, as ``schema`` types."""

    def convert(value: Any, kind: pa.DataType) -> Any:
        if value is None:
            return None
        if pa.types.is_decimal(kind):
            return Decimal(str(value)).quantize(Decimal(1).scaleb(-kind.scale))
        if pa.types.is_date(kind) and isinstance(value, str):
            return dt.date.fromisoformat(value)
        return value

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table([pa.array([convert(v, f.type) for v in column], f.type)
                     for column, f in zip(columns, schema, strict=True)], schema=schema)


def test_descriptor_loads_with_the_split_of_issue_3(tpch_mesh: TpchMesh) -> None:
    spec = load_descriptor(tpch_mesh.descriptor)
    kinds = {name: product.engine.kind for name, product in spec.products.items()}
    assert kinds == {"sales": "duckdb", "customers": "postgresql", "supply": "sqlite", "reference": "parquet"}
    where = {table: name for name, p in spec.products.items() if name != "reference" for table in p.tables}
    assert where == HOME
    assert set(spec.products["reference"].tables) == {"nation", "region"}
    assert all(p.access.read == ("analyst",) for p in spec.products.values())
    assert all(p.owner and p.domain and p.description for p in spec.products.values())
    assert {name: (u.password, u.roles) for name, u in spec.users.items()} == {
        name: (password, ("analyst",)) for name, password in tpch_mesh.users.items()}


def _sqlite_rows(mesh: TpchMesh, table: str) -> list[tuple[Any, ...]]:
    path = mesh.descriptor.parent / "data" / "supply.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return connection.execute(f"SELECT * FROM {table}").fetchall()


def _postgres_rows(mesh: TpchMesh, table: str) -> list[tuple[Any, ...]]:
    with (
        contextlib.closing(adbc_pg.connect(mesh.postgres_uri)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        cursor.execute(f"SELECT * FROM {table}")
        return cursor.fetchall()


@pytest.mark.parametrize("table", ["lineitem", "orders"])
def test_duckdb_product_holds_the_oracle_rows(tpch_mesh: TpchMesh, table: str) -> None:
    path = tpch_mesh.descriptor.parent / "data" / "sales.duckdb"
    with duckdb.connect(str(path), read_only=True) as connection:
        actual = connection.sql(f"SELECT * FROM {table}").to_arrow_table()
    expected = _oracle_table(tpch_mesh, table)
    key = [(column, "ascending") for column in PRIMARY_KEYS[table]]
    assert actual.sort_by(key).equals(expected.sort_by(key))   # same engine, same types: exactly


@pytest.mark.parametrize("table", ["part", "partsupp", "supplier"])
def test_sqlite_product_holds_the_oracle_rows_and_spec_types(tpch_mesh: TpchMesh, table: str) -> None:
    path = tpch_mesh.descriptor.parent / "data" / "supply.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        declared = [(row[1], row[2], row[5]) for row in connection.execute(f"PRAGMA table_info({table})")]
        indexes = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'").fetchall()
    spec = [(name, "INTEGER" if kind == "BIGINT" else kind) for name, kind in SCHEMA[table]]
    assert [(name, kind) for name, kind, _ in declared] == spec
    assert tuple(name for name, _, pk in sorted(declared, key=lambda d: d[2]) if pk) == PRIMARY_KEYS[table]
    assert indexes[0][0] >= 1
    expected = _oracle_table(tpch_mesh, table)
    assert_same_result(_typed(_sqlite_rows(tpch_mesh, table), expected.schema), expected, ordered=False)


@pytest.mark.parametrize("table", ["customer", "nation", "region"])
def test_postgresql_product_holds_the_oracle_rows_for_the_reader(tpch_mesh: TpchMesh, table: str) -> None:
    with (
        contextlib.closing(adbc_pg.connect(tpch_mesh.postgres_uri)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        cursor.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                       f" AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '{table}'::regclass"
                       " AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)")
        key = tuple(row[0] for row in cursor.fetchall())
        cursor.execute(f"SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass")
        estimated = cursor.fetchall()[0][0]
    assert key == PRIMARY_KEYS[table]
    expected = _oracle_table(tpch_mesh, table)
    assert estimated == expected.num_rows  # ANALYZE ran
    assert_same_result(_typed(_postgres_rows(tpch_mesh, table), expected.schema), expected, ordered=False)


def test_postgresql_reader_cannot_write(tpch_mesh: TpchMesh) -> None:
    with (
        contextlib.closing(adbc_pg.connect(tpch_mesh.postgres_uri)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
        pytest.raises(adbc_pg.ProgrammingError, match="permission denied"),
    ):
        cursor.execute("DELETE FROM region")


@pytest.mark.parametrize("table", ["nation", "region"])
def test_parquet_product_holds_copies(tpch_mesh: TpchMesh, table: str) -> None:
    actual = pq.read_table(tpch_mesh.descriptor.parent / "data" / "reference" / f"{table}.parquet")
    expected = _oracle_table(tpch_mesh, table)
    assert actual.schema.remove_metadata() == expected.schema
    assert_same_result(actual, expected, ordered=True)


def test_qualify_names_the_home_product_and_leaves_ctes(tpch_mesh: TpchMesh,
                                                        tpch_queries: dict[int, str]) -> None:
    q15 = tpch_mesh.qualify(tpch_queries[15])
    assert "sales.lineitem" in q15 and "supply.supplier" in q15
    assert "FROM revenue0" in q15 and ".revenue0" not in q15
    q5 = tpch_mesh.qualify(tpch_queries[5], {"nation": "reference", "region": "reference"})
    assert "reference.nation" in q5 and "reference.region" in q5 and "customers.customer" in q5


def test_build_again_reuses_everything(tpch_mesh: TpchMesh) -> None:
    from benchmarks.tpch_mesh import build

    again = build(tpch_mesh.sf, tpch_mesh.root)
    assert again.timings == {}
    assert again.descriptor.read_text() == tpch_mesh.descriptor.read_text()


@pytest.fixture(scope="module")
def pulled(tpch_mesh: TpchMesh) -> Iterator[duckdb.DuckDBPyConnection]:
    """Every product's tables pulled whole by its own client into one DuckDB, schema per product."""
    connection = duckdb.connect()
    sales = tpch_mesh.descriptor.parent / "data" / "sales.duckdb"
    connection.execute(f"ATTACH '{sales}' AS sales (READ_ONLY)")
    for product, rows in (("customers", _postgres_rows), ("supply", _sqlite_rows)):
        connection.execute(f"CREATE SCHEMA {product}")
        for table in (t for t, home in HOME.items() if home == product):
            schema = _oracle_table(tpch_mesh, table).schema
            connection.register("pulled", _typed(rows(tpch_mesh, table), schema))
            connection.execute(f"CREATE TABLE {product}.{table} AS SELECT * FROM pulled")
            connection.unregister("pulled")
    yield connection
    connection.close()


@pytest.mark.parametrize("number", range(1, 23))
def test_qualified_queries_over_the_pulled_products_answer_like_the_oracle(
    number: int, tpch_mesh: TpchMesh, tpch_queries: dict[int, str], pulled: duckdb.DuckDBPyConnection,
    tpch_check: Callable[[int, pa.Table], None],
) -> None:
    # The "pull every table whole, then join" baseline: checks the split data, qualify() and
    # tpch_check together before any planner is involved.
    tpch_check(number, pulled.sql(tpch_mesh.qualify(tpch_queries[number])).to_arrow_table())
