
"""One conformance ``Harness`` per connector: the dataset loaded into a real engine, and its connector.

Engines are loaded with plain SQL and the engines' own clients, never through the connector
under test, so a connector bug cannot hide in the fixture.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from flightmesh.connectors.base import Connector

from .conftest import mysql_connect, pg_execute
from .dataset import ddl, tables

__all__ = ["Harness", "build_duckdb", "build_flightsql", "build_mysql", "build_parquet", "build_postgresql",
           "build_spark", "build_sqlite", "load_spark_views", "render"]


@dataclass
class Harness:
    kind: str
    connector: Connector
    sources: dict[str, str]                      # dataset table -> the engine's source name
    slow_sql: str | None = None                  # runs for long enough to be cancelled
    running: Callable[[], list[str]] | None = None  # statements of ours still running in the engine
    type_overrides: dict[str, pa.DataType] = field(default_factory=dict)


def render(sql: str, harness: Harness) -> str:
    """DuckDB SQL over the dataset's names -> the connector's dialect over its sources."""
    tree = sqlglot.parse_one(sql, read="duckdb")

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in harness.sources and not node.db:
            table = harness.connector.table_expression(harness.sources[node.name]).copy()
            table.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name)))
            return table
        return node

    dialect = harness.connector.capabilities.dialect
    return tree.transform(swap).sql(dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)


def _insert_rows(table: pa.Table) -> list[tuple[object, ...]]:
    columns = [column.to_pylist() for column in table.columns]
    return list(zip(*columns, strict=True))


def build_duckdb(folder: Path) -> Harness:
    from flightmesh.connectors.duckdb import DuckDBConnector

    path = folder / "conformance.duckdb"
    if not path.exists():
        connection = duckdb.connect(str(path))
        for name, table in tables().items():
            connection.register("incoming", table)
            connection.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
            connection.unregister("incoming")
        connection.close()
    return Harness("duckdb", DuckDBConnector("conf_duckdb", path), {name: name for name in tables()},
                   slow_sql="SELECT count(*) AS n FROM range(100000000000) a")


def build_parquet(folder: Path) -> Harness:
    from flightmesh.connectors.parquet import ParquetConnector

    target = folder / "parquet"
    target.mkdir(exist_ok=True)
    for name, table in tables().items():
        pq.write_table(table, target / f"{name}.parquet")
    sources = {name: f"{name}.parquet" for name in tables()}
    return Harness("parquet", ParquetConnector("conf_parquet", target, list(sources.values())), sources)


def build_sqlite(folder: Path) -> Harness:
    from flightmesh.connectors.sqlite import SQLiteConnector

    path = folder / "conformance.sqlite"
    if not path.exists():
        connection = sqlite3.connect(path)
        for name, table in tables().items():
            columns = ddl(name, "sqlite")
            connection.execute(f'CREATE TABLE "{name}" ({", ".join(f"{c} {t}" for c, t in columns.items())})')
            rows = [tuple(_sqlite_value(v) for v in row) for row in _insert_rows(table)]
            connection.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(columns))})', rows)
        connection.commit()
        connection.close()
    return Harness("sqlite", SQLiteConnector("conf_sqlite", path), {name: name for name in tables()},
                   type_overrides={"i32": pa.int64()})


def _sqlite_value(value: object) -> object:
    # What SQLite apps store: ISO text for dates and times, text for exact decimals.
    import datetime as dt
    from decimal import Decimal

    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _create_statements(name: str, dialect: str, quote: str) -> str:
    columns = ddl(name, dialect)
    return f"CREATE TABLE {quote}{name}{quote} ({', '.join(f'{quote}{c}{quote} {t}' for c, t in columns.items())})"


def build_postgresql(uri: str) -> Harness:
    import adbc_driver_postgresql.dbapi as adbc_pg

    from flightmesh.connectors.postgresql import PostgreSQLConnector

    pg_execute(uri, "CREATE SCHEMA IF NOT EXISTS conformance")
    with adbc_pg.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'conformance'")
        if cursor.fetchone()[0] == 0:
            for name, table in tables().items():
                cursor.execute(_create_statements(name, "postgres", '"').replace(
                    f'TABLE "{name}"', f'TABLE conformance."{name}"'))
                cursor.adbc_ingest(name, table, mode="append", db_schema_name="conformance")
            cursor.execute("ANALYZE")

    def running() -> list[str]:
        with adbc_pg.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
            # This database only: a benchmark's flightmesh server on the same PostgreSQL runs
            # its own fragments under the same application name.
            cursor.execute("SELECT query FROM pg_stat_activity WHERE application_name = 'flightmesh' "
                           "AND datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()")
            return [row[0] for row in cursor.fetchall()]

    return Harness("postgresql", PostgreSQLConnector("conf_postgresql", uri, pool_size=3),
                   {name: f"conformance.{name}" for name in tables()},
                   slow_sql="SELECT pg_sleep(30)::text AS slept", running=running)


def build_mysql(uri: str) -> Harness:
    from flightmesh.connectors.mysql import MySQLConnector

    connection = mysql_connect(uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW TABLES")
            if not cursor.fetchall():
                for name, table in tables().items():
                    columns = ddl(name, "mysql")
                    cursor.execute(_create_statements(name, "mysql", "`"))
                    cursor.executemany(f"INSERT INTO `{name}` VALUES ({', '.join(['%s'] * len(columns))})",
                                       _insert_rows(table))
                cursor.execute("ANALYZE TABLE customers, orders")
                cursor.fetchall()
    finally:
        connection.close()

    def running() -> list[str]:
        probe = mysql_connect(uri)
        try:
            with probe.cursor() as cursor:
                cursor.execute("SELECT INFO FROM information_schema.PROCESSLIST "
                               "WHERE INFO LIKE '%flightmesh:%' AND ID <> CONNECTION_ID()")
                return [row[0] for row in cursor.fetchall()]
        finally:
            probe.close()

    return Harness("mysql", MySQLConnector("conf_mysql", uri, pool_size=3), {name: name for name in tables()},
                   slow_sql="SELECT SLEEP(30) AS slept", running=running)


REMOTE_PASSWORD = "remote-secret"  # a throwaway user of a throwaway node

_REMOTE_MESH = """
mesh: {name: remote}
products:
  conf:
    engine: {kind: duckdb, path: conformance.duckdb}
    tables: {customers: {}, orders: {}, types: {}}
    access: {read: [reader]}
users:
  federator: {password: "%s", roles: [reader]}
"""


def build_flightsql(folder: Path) -> tuple[Harness, Callable[[], None]]:
    """A real flightmesh node serving the dataset from DuckDB; the connector points at it.

    Returns the harness and a function that stops the node.
    """
    from flightmesh.connectors.flightsql import FlightSQLConnector
    from flightmesh.executor import MeshRuntime
    from flightmesh.server.app import FlightMeshServer

    build_duckdb(folder)
    descriptor = folder / "remote.yaml"
    descriptor.write_text(_REMOTE_MESH % REMOTE_PASSWORD)
    runtime = MeshRuntime.open(descriptor)
    server = FlightMeshServer(runtime, "grpc://127.0.0.1:0")
    connector = FlightSQLConnector("conf_flightsql", f"grpc://127.0.0.1:{server.port}", username="federator",
                                   password=REMOTE_PASSWORD, pool_size=3)

    def stop() -> None:
        connector.close()
        server.shutdown()
        runtime.close()

    sources = {name: f"conf.{name}" for name in tables()}
    return Harness("flightsql", connector, sources,
                   slow_sql='SELECT count(*) AS n FROM "conf"."orders" a, "conf"."orders" b, "conf"."orders" c, '
                            '"conf"."orders" d WHERE a.id * b.id + c.id * d.id = 7 * a.qty'), stop


def spark_sql(uri: str, *statements: str) -> None:
    """Run plain Spark SQL statements through the Spark Connect driver, not through the connector."""
    import adbc_driver_spark.dbapi as spark_dbapi

    with spark_dbapi.connect(uri) as connection:
        for statement in statements:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                cursor.fetchall()


def load_spark_views(uri: str, folder: Path, named: dict[str, pa.Table]) -> dict[str, str]:
    """Each table written to Parquet and served as a global temporary view (the tables every
    session of a Sail server shares); name -> source. Loaded with plain Spark SQL through the
    Spark Connect driver, not through the connector."""
    import adbc_driver_spark.dbapi as spark_dbapi

    folder.mkdir(exist_ok=True)
    with spark_dbapi.connect(uri) as connection:
        for name, table in named.items():
            path = folder / f"{name}.parquet"
            pq.write_table(table, path)
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW `{name}` AS "
                               f"SELECT * FROM parquet.`{path}`")
                cursor.fetchall()
    return {name: f"global_temp.{name}" for name in named}


def build_spark(uri: str, folder: Path) -> Harness:
    from flightmesh.connectors.spark import SparkConnector

    sources = load_spark_views(uri, folder / "spark", tables())
    return Harness("spark", SparkConnector("conf_spark", uri, pool_size=3), sources,
                   slow_sql="SELECT count(*) AS n FROM range(1000000) a CROSS JOIN range(3000) b "
                            "WHERE (a.id * b.id) % 7919 = 3")
