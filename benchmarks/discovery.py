"""Discovery at scale: catalog browsing over a mesh of 50 products and 2,000 tables (issue 12).

    python benchmarks/discovery.py [--products 50] [--tables 2000] [--runs 5] [--no-postgres]

Builds a mesh in a temporary folder: DuckDB files, SQLite files and Parquet folders, one per
product, a few columns per table; and, when the local PostgreSQL answers, a few PostgreSQL
products, one schema each in one scratch database (dropped afterwards) read by a read-only role
through a loopback TCP proxy this script owns. ``flightmesh serve`` runs in its own process.

Two principals: ``everyone`` reads every product, ``some`` reads one product in five. For each,
the median of ``--runs`` runs (after one cold run, reported apart) of

* ``adbc_get_objects()``            ADBC, depth all, unfiltered (what Harlequin's catalog pane does)
* ``adbc_get_objects(depth=tables)``
* ``GetTables(include_schema)``     raw pyarrow.flight: GetFlightInfo + DoGet of every endpoint

Then the engines are taken away: every DuckDB file, SQLite file and Parquet folder is deleted
and the PostgreSQL proxy is stopped (its connections cut, new ones refused). A query against
each engine kind now fails, which shows the engines are really gone, and the same discovery
calls are timed again and must return exactly the same answers: they come from the catalog the
mesh built when it opened, not from the engines. No time is asserted; figures are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))  # `python benchmarks/discovery.py` from anywhere

import adbc_driver_flightsql.dbapi as flightsql  # noqa: E402
import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.flight as flight  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.transport import server_process  # noqa: E402
from tests.connectors.proxy import Proxy  # noqa: E402

PASSWORDS = {"everyone": "everyone-discovery", "some": "some-discovery"}
PG_ADMIN = os.environ.get("FLIGHTMESH_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_READER = "fm_discovery_reader"
COLUMNS = "id BIGINT, name VARCHAR, amount DOUBLE PRECISION, day DATE"


@dataclass(frozen=True)
class Product:
    name: str
    kind: str                   # duckdb, sqlite, parquet, postgresql
    tables: tuple[str, ...]

    @property
    def subset(self) -> bool:
        """Whether ``some`` may read it: one product in five."""
        return int(self.name[1:]) % 5 == 0


def plan(products: int, tables: int, postgres: bool) -> list[Product]:
    """``products`` products sharing ``tables`` tables; kinds cycle, PostgreSQL one in ten."""
    kinds = ["duckdb", "sqlite", "parquet", "duckdb", "sqlite", "parquet", "duckdb", "sqlite", "parquet"]
    kinds.append("postgresql" if postgres else "duckdb")
    out = []
    for index in range(products):
        count = tables // products + (1 if index < tables % products else 0)
        names = tuple(f"t{number:03d}" for number in range(count))
        out.append(Product(f"p{index:02d}", kinds[index % len(kinds)], names))
    return out


def _rows(table: str) -> pa.Table:
    import datetime as dt

    return pa.table({
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": [f"{table} a", f"{table} b", None],
        "amount": [1.5, 2.5, 3.5],
        "day": [dt.date(2024, 1, day) for day in (1, 2, 3)],
    })


# -- building the mesh -----------------------------------------------------------------------------


def build_files(folder: Path, products: list[Product]) -> None:
    data = folder / "data"
    data.mkdir(parents=True)
    for product in products:
        if product.kind == "duckdb":
            with duckdb.connect(str(data / f"{product.name}.duckdb")) as connection:
                for table in product.tables:
                    connection.execute(f"CREATE TABLE {table} ({COLUMNS})")
                    connection.execute(f"INSERT INTO {table} VALUES (1, 'a', 1.5, DATE '2024-01-01')")
        elif product.kind == "sqlite":
            connection = sqlite3.connect(data / f"{product.name}.sqlite")
            try:
                for table in product.tables:
                    connection.execute(f"CREATE TABLE {table} (id INTEGER, name TEXT, amount REAL, day TEXT)")
                    connection.execute(f"INSERT INTO {table} VALUES (1, 'a', 1.5, '2024-01-01')")
                connection.commit()
            finally:
                connection.close()
        elif product.kind == "parquet":
            (data / product.name).mkdir()
            for table in product.tables:
                pq.write_table(_rows(table), data / product.name / f"{table}.parquet")


@contextlib.contextmanager
def postgres_database(products: list[Product]) -> Iterator[str | None]:
    """A scratch database holding one schema per PostgreSQL product; its name. Dropped after."""
    wanted = [product for product in products if product.kind == "postgresql"]
    if not wanted:
        yield None
        return
    import adbc_driver_postgresql.dbapi as adbc_pg

    name = f"fm_discovery_{uuid.uuid4().hex[:8]}"
    admin = adbc_pg.connect(PG_ADMIN, autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{PG_READER}'")
            if not cursor.fetchall():
                cursor.execute(f"CREATE ROLE {PG_READER} LOGIN PASSWORD '{PG_READER}'")
            cursor.execute(f'CREATE DATABASE "{name}"')
            cursor.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {PG_READER}')
        database = adbc_pg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", autocommit=True)
        try:
            with database.cursor() as cursor:
                cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
                for product in wanted:
                    cursor.execute(f"CREATE SCHEMA {product.name}")
                    for table in product.tables:
                        cursor.execute(f"CREATE TABLE {product.name}.{table} ({COLUMNS})")
                        cursor.execute(f"INSERT INTO {product.name}.{table} VALUES (1, 'a', 1.5, DATE '2024-01-01')")
                    cursor.execute(f"GRANT USAGE ON SCHEMA {product.name} TO {PG_READER}")
                    cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {product.name} TO {PG_READER}")
        finally:
            database.close()
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def write_descriptor(folder: Path, products: list[Product], pg_port: int | None, pg_database: str | None) -> Path:
    lines = ["# Written by benchmarks/discovery.py.", "mesh: {name: discovery, sql_dialect: duckdb}", "products:"]
    for product in products:
        if product.kind == "postgresql":
            engine = (f"{{kind: postgresql, uri: 'postgresql://{PG_READER}@127.0.0.1:{pg_port}/{pg_database}', "
                      f"password: {PG_READER}, timeout_seconds: 5}}")
            tables = ", ".join(f"{table}: {{source: {product.name}.{table}}}" for table in product.tables)
        elif product.kind == "parquet":
            engine = f"{{kind: parquet, path: data/{product.name}}}"
            tables = ", ".join(f"{table}: {{source: {table}.parquet}}" for table in product.tables)
        else:
            engine = f"{{kind: {product.kind}, path: data/{product.name}.{product.kind}}}"
            tables = ", ".join(f"{table}: {{}}" for table in product.tables)
        roles = "[everyone, some]" if product.subset else "[everyone]"
        lines += [
            f"  {product.name}:",
            f"    domain: d{int(product.name[1:]) % 7}",
            f"    owner: team-{product.name}@discovery.example",
            f"    description: product {product.name} on {product.kind}",
            f"    engine: {engine}",
            f"    tables: {{{tables}}}",
            f"    access: {{read: {roles}}}",
        ]
    lines.append("users:")
    lines += [f"  {user}: {{password: {password}, roles: [{user}]}}" for user, password in PASSWORDS.items()]
    descriptor = folder / "mesh.yaml"
    descriptor.write_text("\n".join(lines) + "\n")
    return descriptor


# -- the discovery calls ---------------------------------------------------------------------------


def get_objects_all(connection: Any) -> tuple[int, int, int]:
    """(schemas, tables, columns) of a full ``adbc_get_objects()``."""
    objects = connection.adbc_get_objects().read_all().to_pylist()
    schemas = [schema for catalog in objects for schema in catalog["catalog_db_schemas"] or []]
    tables = [table for schema in schemas for table in schema["db_schema_tables"] or []]
    columns = sum(len(table["table_columns"] or []) for table in tables)
    return len(schemas), len(tables), columns


def get_objects_tables(connection: Any) -> tuple[int, int, int]:
    objects = connection.adbc_get_objects(depth="tables").read_all().to_pylist()
    schemas = [schema for catalog in objects for schema in catalog["catalog_db_schemas"] or []]
    return len(schemas), sum(len(schema["db_schema_tables"] or []) for schema in schemas), 0


def get_tables_raw(client: flight.FlightClient, options: flight.FlightCallOptions) -> tuple[int, int, int]:
    """GetTables(include_schema) through raw pyarrow.flight: (schemas, tables, columns)."""
    from flightmesh.server.messages import pack, sql

    descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandGetTables(include_schema=True)))
    info = client.get_flight_info(descriptor, options)
    batches = [client.do_get(endpoint.ticket, options).read_all() for endpoint in info.endpoints]
    table = pa.concat_tables(batches)
    schemas = set(table.column("db_schema_name").to_pylist())
    columns = sum(len(pa.ipc.read_schema(pa.py_buffer(raw))) for raw in table.column("table_schema").to_pylist())
    return len(schemas), table.num_rows, columns


def timed(call: Callable[[], tuple[int, int, int]], runs: int) -> tuple[float, float, tuple[int, int, int]]:
    """(cold ms, median warm ms, answer); every run must give the same answer."""
    started = time.perf_counter()
    answer = call()
    cold = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        again = call()
        times.append((time.perf_counter() - started) * 1000)
        if again != answer:
            raise AssertionError(f"discovery answered {again}, then {answer}")
    return cold, statistics.median(times), answer


def measure(port: int, runs: int, phase: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    uri = f"grpc://127.0.0.1:{port}"
    answers = {}
    for user, password in PASSWORDS.items():
        connection = flightsql.connect(uri, db_kwargs={"username": user, "password": password}, autocommit=True)
        client = flight.connect(uri)
        header = client.authenticate_basic_token(user, password)
        options = flight.FlightCallOptions(headers=[header])
        try:
            calls: dict[str, Callable[[], tuple[int, int, int]]] = {
                "adbc_get_objects() depth=all": functools.partial(get_objects_all, connection),
                "adbc_get_objects(depth=tables)": functools.partial(get_objects_tables, connection),
                "GetTables include_schema (raw)": functools.partial(get_tables_raw, client, options),
            }
            for label, call in calls.items():
                cold, warm, answer = timed(call, runs)
                answers[(user, label)] = answer
                schemas, tables, columns = answer
                shown = f"{schemas:3d} schemas {tables:5d} tables" + (f" {columns:5d} columns" if columns else "")
                print(f"  {phase:14s} {user:9s} {label:32s} cold {cold:7.1f} ms  median {warm:7.1f} ms  {shown}",
                      flush=True)
        finally:
            client.close()
            connection.close()
    return answers


def query_fails(port: int, product: Product) -> str:
    """Run a query on ``product`` as ``everyone``; the error's first line, or "answered"."""
    uri = f"grpc://127.0.0.1:{port}"
    password = PASSWORDS["everyone"]
    with flightsql.connect(uri, db_kwargs={"username": "everyone", "password": password}, autocommit=True) as conn:
        cursor = conn.cursor()
        try:
            cursor.execute(f"SELECT count(*) FROM {product.name}.{product.tables[0]}")
            cursor.fetchall()
            return "answered"
        except Exception as error:
            return str(error).splitlines()[0][:110]
        finally:
            cursor.close()


def take_engines_away(folder: Path, products: list[Product], proxy: Proxy | None) -> None:
    data = folder / "data"
    for product in products:
        if product.kind == "parquet":
            shutil.rmtree(data / product.name)
        elif product.kind in ("duckdb", "sqlite"):
            (data / f"{product.name}.{product.kind}").unlink()
    if proxy is not None:
        proxy.stop()


def postgres_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true", help="embedded engines only")
    args = parser.parse_args()

    postgres = not args.no_postgres and postgres_reachable()
    products = plan(args.products, args.tables, postgres)
    kinds = {kind: sum(1 for p in products if p.kind == kind) for kind in ("duckdb", "sqlite", "parquet", "postgresql")}
    print(f"mesh: {len(products)} products, {sum(len(p.tables) for p in products)} tables, 4 columns each; "
          + ", ".join(f"{kind} {count}" for kind, count in kinds.items())
          + f"; 'some' reads {sum(p.subset for p in products)} products", flush=True)
    with tempfile.TemporaryDirectory(prefix="fm-discovery-") as temporary, postgres_database(products) as pg_db:
        folder = Path(temporary)
        started = time.perf_counter()
        build_files(folder, products)
        proxy = None
        if pg_db is not None:
            proxy = Proxy(5432)
            proxy.start()
        descriptor = write_descriptor(folder, products, proxy.port if proxy else None, pg_db)
        print(f"built in {time.perf_counter() - started:.1f} s", flush=True)
        command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(descriptor), "--port", "0"]
        try:
            started = time.perf_counter()
            with server_process(command, "flightmesh") as (port, _pid):
                print(f"mesh opened and serving in {time.perf_counter() - started:.1f} s", flush=True)
                before = measure(port, args.runs, "engines up")
                take_engines_away(folder, products, proxy)
                print("engines taken away: files and folders deleted, PostgreSQL proxy stopped; a query now says:")
                for kind in kinds:
                    sample = next((p for p in products if p.kind == kind), None)
                    if sample is not None:
                        print(f"  {kind:10s} {sample.name}: {query_fails(port, sample)}", flush=True)
                after = measure(port, args.runs, "engines gone")
                same = before == after
                print(f"discovery answers with the engines gone are {'identical' if same else 'DIFFERENT'}")
                if not same:
                    for key in before:
                        if before[key] != after.get(key):
                            print(f"  {key}: {before[key]} -> {after.get(key)}")
                    return 1
        finally:
            if proxy is not None:
                proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
