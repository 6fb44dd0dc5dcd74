"""The fuzz mesh: the data of ``data.py`` in five real engines, the same rows in one oracle file.

    maria  MariaDB     m1, m2   (default utf8mb4 collation, as a team would create it)
    pg     PostgreSQL  p1, p2
    lite   SQLite      s1, s2   (dates as ISO text, decimals as numbers: what SQLite apps store)
    duck   DuckDB      d1
    files  Parquet     f1

Engines are loaded with their own clients and plain SQL, never through flightmesh, so a
connector bug cannot hide in the fixture. The oracle is one DuckDB file holding every table
under its product's schema name, so a mesh query runs on it unchanged.

``scratch_databases()`` makes (and drops) a fresh PostgreSQL and MariaDB database for callers
outside pytest (the long-run benchmark); tests use the fixtures of tests/connectors/conftest.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import Principal, load_descriptor
from tests.connectors.conftest import MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT, mysql_connect, pg_execute

from .data import COLUMNS, TABLES, FuzzTable, rows

__all__ = ["EAGER", "FuzzMesh", "build_fuzz_mesh", "scratch_databases"]

USER, PASSWORD = "fuzzer", "fuzz-pw"  # a throwaway user of a throwaway mesh

# Settings that make every eligible join lend its keys and every eligible aggregate split, so the
# rewrites that only fire on big tables are fuzzed on small ones too.
EAGER = {"dynamic_filter_min_probe_rows": 0, "dynamic_filter_max_literal_keys": 3, "pre_aggregate_min_rows": 0}


@dataclass
class FuzzMesh:
    descriptor: Path
    oracle_path: Path

    def open(self, *, eager: bool = False) -> MeshRuntime:
        spec = load_descriptor(self.descriptor)
        if eager:
            spec = replace(spec, settings=replace(spec.settings, **EAGER))
        return MeshRuntime.open(spec)

    def oracle(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.oracle_path), read_only=True)


def principal(runtime: MeshRuntime) -> Principal:
    found = runtime.principal_for(USER)
    assert found is not None
    return found


def build_fuzz_mesh(root: Path, postgres_uri: str, mysql_uri: str) -> FuzzMesh:
    """Load every engine under ``root`` (and in the two databases) and write the descriptor."""
    by_engine: dict[str, list[FuzzTable]] = {}
    for table in TABLES:
        by_engine.setdefault(table.engine, []).append(table)
    _write_duckdb(root / "duck.duckdb", by_engine["duckdb"], schema_per_product=False)
    _write_sqlite(root / "lite.sqlite", by_engine["sqlite"])
    (root / "files").mkdir(exist_ok=True)
    for table in by_engine["parquet"]:
        pq.write_table(rows(table), root / "files" / f"{table.name}.parquet")
    _write_postgres(postgres_uri, by_engine["postgresql"])
    _write_mysql(mysql_uri, by_engine["mysql"])
    oracle = root / "oracle.duckdb"
    _write_duckdb(oracle, list(TABLES), schema_per_product=True)
    engines = {"mysql": f'{{kind: mysql, uri: "{mysql_uri}", allow_privileged: true}}',
               "postgresql": f'{{kind: postgresql, uri: "{postgres_uri}", allow_privileged: true}}',
               "sqlite": "{kind: sqlite, path: lite.sqlite}",
               "duckdb": "{kind: duckdb, path: duck.duckdb}",
               "parquet": "{kind: parquet, path: files}"}
    lines = ["mesh: {name: fuzz}", "products:"]
    for engine, tables in by_engine.items():
        lines += [f"  {tables[0].product}:", f"    engine: {engines[engine]}",
                  "    tables: {" + ", ".join(f"{t.name}: {{}}" for t in tables) + "}",
                  "    access: {read: [analyst]}"]
    lines += ["users:", f'  {USER}: {{password: "{PASSWORD}", roles: [analyst]}}']
    descriptor = root / "mesh.yaml"
    descriptor.write_text("\n".join(lines) + "\n")
    return FuzzMesh(descriptor, oracle)


def _write_duckdb(path: Path, tables: list[FuzzTable], *, schema_per_product: bool) -> None:
    connection = duckdb.connect(str(path))
    try:
        for table in tables:
            name = f'"{table.product}"."{table.name}"' if schema_per_product else f'"{table.name}"'
            if schema_per_product:
                connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.product}"')
            columns = ", ".join(f'"{c.name}" {c.duckdb}' for c in COLUMNS)
            connection.execute(f"CREATE TABLE {name} ({columns})")
            connection.register("incoming", rows(table))
            connection.execute(f"INSERT INTO {name} SELECT * FROM incoming")
            connection.unregister("incoming")
    finally:
        connection.close()


def _sqlite_value(value: object) -> object:
    # What SQLite applications store: ISO text for dates and times, numbers for decimals.
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _write_sqlite(path: Path, tables: list[FuzzTable]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        for table in tables:
            columns = ", ".join(f'"{c.name}" {c.sqlite}' for c in COLUMNS)
            connection.execute(f'CREATE TABLE "{table.name}" ({columns})')
            values = [tuple(_sqlite_value(v) for v in row.values()) for row in rows(table).to_pylist()]
            connection.executemany(f'INSERT INTO "{table.name}" VALUES ({", ".join("?" * len(COLUMNS))})', values)
        connection.commit()


def _write_postgres(uri: str, tables: list[FuzzTable]) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
        for table in tables:
            columns = ", ".join(f'"{c.name}" {c.postgres}' for c in COLUMNS)
            cursor.execute(f'CREATE TABLE "{table.name}" ({columns})')
            cursor.adbc_ingest(table.name, rows(table), mode="append")
        cursor.execute("ANALYZE")


def _write_mysql(uri: str, tables: list[FuzzTable]) -> None:
    connection = mysql_connect(uri)
    try:
        with connection.cursor() as cursor:
            for table in tables:
                columns = ", ".join(f"`{c.name}` {c.mysql}" for c in COLUMNS)
                # The server's default collation for utf8mb4: what CREATE TABLE gives a team.
                cursor.execute(f"CREATE TABLE `{table.name}` ({columns}) DEFAULT CHARSET = utf8mb4")
                values = [tuple(row.values()) for row in rows(table).to_pylist()]
                cursor.executemany(f"INSERT INTO `{table.name}` VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                                   values)
    finally:
        connection.close()


@contextlib.contextmanager
def scratch_databases() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL and MariaDB database (URIs), dropped afterwards."""
    import pymysql

    name = f"flightmesh_fuzz_{uuid.uuid4().hex[:10]}"
    pg_admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
    pg_execute(pg_admin, f'CREATE DATABASE "{name}"')
    admin = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}", f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            pg_execute(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
