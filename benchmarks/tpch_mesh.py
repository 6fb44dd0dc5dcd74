"""TPC-H data split across a four-engine mesh, beside the one-file DuckDB oracle to check it by.

    python benchmarks/tpch_mesh.py --sf 0.01 --out DIR [--postgres URI]

``build(sf, out)`` makes (or reuses) everything below and returns a ``TpchMesh`` with the paths::

    out/source/<table>.parquet       tpchgen-cli output: the slow step at SF 1, made once
    out/oracle.duckdb                the eight tables with the TPC-H spec types, in one file
    out/mesh/mesh.yaml               the descriptor of the split below
    out/mesh/data/sales.duckdb       sales:     lineitem, orders                 (DuckDB)
    PostgreSQL flightmesh_tpch_sf<sf> customers: customer, nation, region        (PostgreSQL)
    out/mesh/data/supply.sqlite      supply:    part, partsupp, supplier         (SQLite)
    out/mesh/data/reference/         reference: nation, region copies            (Parquet)

This is the split of issue 3. ``prepare_data(sf, out)`` stops after the oracle and needs no
PostgreSQL. Each step is skipped when its output exists and carries the current ``LAYOUT``
stamp; outputs are written under a temporary name and renamed into place, so an interrupted
build never looks complete. A lock file serializes builds of one folder (parallel pytest
sessions share ``tests/.data``), and a PostgreSQL advisory lock builds of one database.

The data is deterministic (tpchgen-cli's output depends only on the scale factor), so every
checkout builds an identical PostgreSQL database and a stamp in the database's comment tells a
finished load from a half-done one.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "HOME",
    "LAYOUT",
    "PRIMARY_KEYS",
    "PRODUCTS",
    "QUERIES_DIR",
    "SCHEMA",
    "TABLES",
    "TpchData",
    "TpchMesh",
    "build",
    "load_queries",
    "postgres_admin_uri",
    "postgres_problem",
    "prepare_data",
    "qualify",
    "require_postgres",
    "sf_tag",
]

LAYOUT = "flightmesh-tpch-1"   # bump when the layout or the load changes: caches rebuild
REPO = Path(__file__).resolve().parent.parent
QUERIES_DIR = REPO / "tests" / "tpch" / "queries"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
READER = "flightmesh_reader"      # the read-only role the mesh uses for the customers product

# Columns and types of TPC-H v3.0.1 §1.4.1. Identifiers are BIGINT (tpchgen-cli writes int64,
# and it holds every key at any scale factor). Fixed and variable text are both VARCHAR(n):
# PostgreSQL's CHAR(n) pads values with blanks on output, so the same row would read back
# differently from each engine.
_MONEY = "DECIMAL(15,2)"
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "region": (("r_regionkey", "BIGINT"), ("r_name", "VARCHAR(25)"), ("r_comment", "VARCHAR(152)")),
    "nation": (("n_nationkey", "BIGINT"), ("n_name", "VARCHAR(25)"), ("n_regionkey", "BIGINT"),
               ("n_comment", "VARCHAR(152)")),
    "supplier": (("s_suppkey", "BIGINT"), ("s_name", "VARCHAR(25)"), ("s_address", "VARCHAR(40)"),
                 ("s_nationkey", "BIGINT"), ("s_phone", "VARCHAR(15)"), ("s_acctbal", _MONEY),
                 ("s_comment", "VARCHAR(101)")),
    "customer": (("c_custkey", "BIGINT"), ("c_name", "VARCHAR(25)"), ("c_address", "VARCHAR(40)"),
                 ("c_nationkey", "BIGINT"), ("c_phone", "VARCHAR(15)"), ("c_acctbal", _MONEY),
                 ("c_mktsegment", "VARCHAR(10)"), ("c_comment", "VARCHAR(117)")),
    "part": (("p_partkey", "BIGINT"), ("p_name", "VARCHAR(55)"), ("p_mfgr", "VARCHAR(25)"),
             ("p_brand", "VARCHAR(10)"), ("p_type", "VARCHAR(25)"), ("p_size", "INTEGER"),
             ("p_container", "VARCHAR(10)"), ("p_retailprice", _MONEY), ("p_comment", "VARCHAR(23)")),
    "partsupp": (("ps_partkey", "BIGINT"), ("ps_suppkey", "BIGINT"), ("ps_availqty", "INTEGER"),
                 ("ps_supplycost", _MONEY), ("ps_comment", "VARCHAR(199)")),
    "orders": (("o_orderkey", "BIGINT"), ("o_custkey", "BIGINT"), ("o_orderstatus", "VARCHAR(1)"),
               ("o_totalprice", _MONEY), ("o_orderdate", "DATE"), ("o_orderpriority", "VARCHAR(15)"),
               ("o_clerk", "VARCHAR(15)"), ("o_shippriority", "INTEGER"), ("o_comment", "VARCHAR(79)")),
    "lineitem": (("l_orderkey", "BIGINT"), ("l_partkey", "BIGINT"), ("l_suppkey", "BIGINT"),
                 ("l_linenumber", "INTEGER"), ("l_quantity", _MONEY), ("l_extendedprice", _MONEY),
                 ("l_discount", _MONEY), ("l_tax", _MONEY), ("l_returnflag", "VARCHAR(1)"),
                 ("l_linestatus", "VARCHAR(1)"), ("l_shipdate", "DATE"), ("l_commitdate", "DATE"),
                 ("l_receiptdate", "DATE"), ("l_shipinstruct", "VARCHAR(25)"), ("l_shipmode", "VARCHAR(10)"),
                 ("l_comment", "VARCHAR(44)")),
}
TABLES = tuple(SCHEMA)
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "region": ("r_regionkey",), "nation": ("n_nationkey",), "supplier": ("s_suppkey",),
    "customer": ("c_custkey",), "part": ("p_partkey",), "partsupp": ("ps_partkey", "ps_suppkey"),
    "orders": ("o_orderkey",), "lineitem": ("l_orderkey", "l_linenumber"),
}
# Join keys that are not primary keys; the row stores (PostgreSQL, SQLite) index them.
_JOIN_KEYS: dict[str, tuple[str, ...]] = {
    "nation": ("n_regionkey",), "customer": ("c_nationkey",), "supplier": ("s_nationkey",),
    "partsupp": ("ps_suppkey",),
}


@dataclass(frozen=True)
class Product:
    name: str
    kind: str
    tables: tuple[str, ...]
    domain: str
    description: str


PRODUCTS: tuple[Product, ...] = (
    Product("sales", "duckdb", ("lineitem", "orders"), "sales",
            "TPC-H orders and their line items, as the order service records them"),
    Product("customers", "postgresql", ("customer", "nation", "region"), "customer",
            "TPC-H customers with the nations and regions they live in"),
    Product("supply", "sqlite", ("part", "partsupp", "supplier"), "procurement",
            "TPC-H parts, suppliers and which supplier offers which part at what cost"),
    Product("reference", "parquet", ("nation", "region"), "reference-data",
            "Copies of the TPC-H nation and region tables, published as Parquet files"),
)
# The product an unqualified TPC-H table name means: the split issue 3 asks for.
HOME: dict[str, str] = {"lineitem": "sales", "orders": "sales", "customer": "customers",
                        "nation": "customers", "region": "customers", "part": "supply",
                        "partsupp": "supply", "supplier": "supply"}
USERS: dict[str, str] = {"analyst": "analyst-tpch"}   # test credentials, written into mesh.yaml


@dataclass(frozen=True)
class TpchData:
    """The generated data and the oracle: no PostgreSQL needed."""

    sf: float
    root: Path
    source: Path                      # tpchgen-cli's <table>.parquet files
    oracle: Path                      # one DuckDB file, all eight tables
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per step built now

    def connect_oracle(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.oracle), read_only=True)


@dataclass(frozen=True)
class TpchMesh(TpchData):
    descriptor: Path = Path()          # mesh.yaml
    postgres_uri: str = ""             # the customers product's database, as the mesh reads it
    users: Mapping[str, str] = field(default_factory=dict)  # user -> password

    def qualify(self, sql: str, home: Mapping[str, str] | None = None) -> str:
        return qualify(sql, home)


def sf_tag(sf: float) -> str:
    """``0.01 -> '0_01'``: scale factors as they appear in folder and database names."""
    return f"{sf:g}".replace(".", "_")


def load_queries() -> dict[int, str]:
    """The 22 TPC-H query texts (``tests/tpch/queries/qNN.sql``), by query number."""
    return {number: (QUERIES_DIR / f"q{number:02d}.sql").read_text() for number in range(1, 23)}


def qualify(sql: str, home: Mapping[str, str] | None = None) -> str:
    """Rewrite unqualified TPC-H table names as ``product.table`` (the mesh has no search path).

    ``home`` overrides where a table is read from, e.g. ``{"nation": "reference"}`` reads the
    Parquet copy. CTE names and already-qualified tables are left alone.
    """
    import sqlglot
    from sqlglot import exp

    where = {**HOME, **(home or {})}
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if not table.args.get("db") and name in where and name not in ctes:
            table.set("db", exp.to_identifier(where[name]))
    return tree.sql(dialect="duckdb", pretty=True)


# -- steps ---------------------------------------------------------------------------------------


def prepare_data(sf: float, out: Path) -> TpchData:
    """Generate (or reuse) the data and the oracle under ``out``."""
    if not sf > 0:
        raise ValueError(f"the scale factor must be positive, not {sf}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with _folder_lock(out):
        source = out / "source"
        if not _stamped(out, "source", sf) or not source.is_dir():
            for step in ("oracle", "mesh"):            # built from the source: rebuild them too
                (out / f".{step}.done").unlink(missing_ok=True)
            timings["generate"] = _timed(_generate, sf, source)
            _stamp(out, "source", sf)
        oracle = out / "oracle.duckdb"
        if not _stamped(out, "oracle", sf) or not oracle.is_file():
            timings["oracle"] = _timed(_write_duckdb, oracle, TABLES, source)
            _stamp(out, "oracle", sf)
    return TpchData(sf=sf, root=out, source=source, oracle=oracle, timings=timings)


def build(sf: float, out: Path, *, postgres: str | None = None) -> TpchMesh:
    """Everything: data, oracle, the four products and ``mesh.yaml``. Needs PostgreSQL.

    ``postgres`` is an administrator URI of the server to use (default: ``$FLIGHTMESH_PG_URI``
    or the local server); the mesh reads its database as the read-only role ``flightmesh_reader``.
    """
    data = prepare_data(sf, out)
    timings = dict(data.timings)
    admin = postgres or postgres_admin_uri()
    start = time.perf_counter()
    database = f"flightmesh_tpch_sf{sf_tag(sf)}"
    if _load_postgres(data, admin, database):
        timings["postgresql"] = time.perf_counter() - start
    reader_uri = _with(admin, user=READER, password=READER, database=database)
    mesh = data.root / "mesh"
    descriptor = mesh / "mesh.yaml"
    with _folder_lock(data.root):
        if not _stamped(data.root, "mesh", sf) or not (mesh / "data").is_dir():
            timings["files"] = _timed(_write_mesh_files, data, mesh)
            _stamp(data.root, "mesh", sf)
        text = _descriptor(sf, reader_uri)
        if not descriptor.is_file() or descriptor.read_text() != text:   # another server URI
            _replace_text(descriptor, text)
    return TpchMesh(sf=sf, root=data.root, source=data.source, oracle=data.oracle, timings=timings,
                    descriptor=descriptor, postgres_uri=reader_uri, users=dict(USERS))


def _generate(sf: float, target: Path) -> None:
    tool = Path(sys.executable).with_name("tpchgen-cli")
    command = [str(tool) if tool.exists() else (shutil.which("tpchgen-cli") or "tpchgen-cli"),
               "parquet", "--scale-factor", f"{sf:g}", "--output-dir"]
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run([*command, str(partial), "--quiet"], check=True)
    missing = [t for t in TABLES if not (partial / f"{t}.parquet").is_file()]
    if missing:
        raise RuntimeError(f"tpchgen-cli did not write {', '.join(missing)}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def _select_typed(table: str, source: Path) -> str:
    """``SELECT`` of one generated Parquet file, cast to the spec types, in spec column order."""
    columns = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in SCHEMA[table])
    path = str(source / f"{table}.parquet").replace("'", "''")
    return f"SELECT {columns} FROM read_parquet('{path}')"


def _write_duckdb(path: Path, tables: tuple[str, ...], source: Path) -> None:
    # No primary keys: DuckDB's own TPC-H setup declares none, and the oracle is also the
    # speed reference of DESIGN.md §8.
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    with contextlib.closing(duckdb.connect(str(partial))) as connection:
        for table in tables:
            columns = ", ".join(f"{name} {kind} NOT NULL" for name, kind in SCHEMA[table])
            connection.execute(f"CREATE TABLE {table} ({columns})")
            connection.execute(f"INSERT INTO {table} {_select_typed(table, source)}")
        connection.execute("CHECKPOINT")
    partial.rename(path)


def _arrow(source: Path, table: str) -> pa.Table:
    with contextlib.closing(duckdb.connect()) as connection:
        return connection.sql(_select_typed(table, source)).to_arrow_table()


def _write_mesh_files(data: TpchData, mesh: Path) -> None:
    partial = mesh.with_name(mesh.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "data" / "reference").mkdir(parents=True)
    _write_duckdb(partial / "data" / "sales.duckdb", _tables_of("sales"), data.source)
    _write_sqlite(partial / "data" / "supply.sqlite", _tables_of("supply"), data.source)
    for table in _tables_of("reference"):
        pq.write_table(_arrow(data.source, table), partial / "data" / "reference" / f"{table}.parquet")
    shutil.rmtree(mesh, ignore_errors=True)
    partial.rename(mesh)


def _tables_of(product: str) -> tuple[str, ...]:
    return next(p.tables for p in PRODUCTS if p.name == product)


def _write_sqlite(path: Path, tables: tuple[str, ...], source: Path) -> None:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    # SQLite keys are INTEGER (64-bit there; a lone INTEGER PRIMARY KEY is the rowid, the
    # fastest lookup SQLite has); the other declared types are the spec's, which the SQLite
    # connector reads back as Arrow types. The ADBC driver writes dates as ISO text (what
    # SQLite's date functions and comparisons expect) but takes no decimals: money goes in as
    # REAL, which is what a DECIMAL column stores in SQLite anyway.
    with (
        contextlib.closing(adbc_sqlite.connect(str(path), autocommit=True)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        cursor.execute("PRAGMA journal_mode = OFF")     # a scratch file until it is renamed
        cursor.execute("PRAGMA synchronous = OFF")
        for table in tables:
            key = PRIMARY_KEYS[table]
            columns = [f"{name} {'INTEGER' if kind == 'BIGINT' else kind} NOT NULL"
                       + (" PRIMARY KEY" if key == (name,) else "") for name, kind in SCHEMA[table]]
            if len(key) > 1:
                columns.append(f"PRIMARY KEY ({', '.join(key)})")
            cursor.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
            rows = _arrow(source, table)
            rows = rows.cast(pa.schema([pa.field(f.name, pa.float64() if pa.types.is_decimal(f.type)
                                                 else f.type) for f in rows.schema]))
            cursor.adbc_ingest(table, rows, mode="append")
            for column in _JOIN_KEYS.get(table, ()):
                cursor.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
        cursor.execute("ANALYZE")


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgres_admin_uri() -> str:
    """The PostgreSQL server to build in: ``$FLIGHTMESH_PG_URI`` or the local test server."""
    return os.environ.get("FLIGHTMESH_PG_URI", DEFAULT_POSTGRES)


def postgres_problem(uri: str | None = None) -> str | None:
    """Why PostgreSQL at ``uri`` cannot be used, or None when it can."""
    uri = uri or postgres_admin_uri()
    parts = urlsplit(uri)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
            pass
    except OSError as error:
        return f"PostgreSQL is not reachable at {parts.hostname}:{parts.port or 5432}: {error}"
    try:
        import adbc_driver_postgresql.dbapi as adbc_pg

        with (
            contextlib.closing(adbc_pg.connect(uri, autocommit=True)) as connection,
            contextlib.closing(connection.cursor()) as cursor,
        ):
            cursor.execute("SELECT 1")
            cursor.fetchall()
    except Exception as error:  # any failure means "cannot use it"
        return f"cannot connect to PostgreSQL ({_with(uri, password='***')}): {error}"
    return None


def require_postgres(uri: str | None = None) -> None:
    """Skip the calling test visibly when PostgreSQL is not usable, but fail when ``CI=true``."""
    import pytest

    problem = postgres_problem(uri)
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem} (CI=true: PostgreSQL is required)", pytrace=False)
    pytest.skip(problem)


def _load_postgres(data: TpchData, admin: str, database: str) -> bool:
    """Create and load ``database`` unless a finished load of this layout is there. True if loaded."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    stamp = f"{LAYOUT} sf={data.sf:g}"
    with (
        contextlib.closing(adbc_pg.connect(admin, autocommit=True)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        # Any key works as long as every build uses it; this one is "fmtpch" in ASCII.
        cursor.execute("SELECT pg_advisory_lock(112109116112099104)")
        cursor.fetchall()
        try:
            cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           f"WHERE datname = {_literal(database)}")
            found = cursor.fetchall()
            if found and found[0][0] == stamp:
                return False
            cursor.execute(f"SELECT 1 FROM pg_roles WHERE rolname = {_literal(READER)}")
            if not cursor.fetchall():
                cursor.execute(f"CREATE ROLE {READER} LOGIN PASSWORD {_literal(READER)}")
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{database}"')
            _fill_postgres(_with(admin, database=database), data)
            cursor.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {READER}')
            # The stamp goes last: a load that died half-way leaves no stamp and is redone.
            cursor.execute(f'COMMENT ON DATABASE "{database}" IS {_literal(stamp)}')
        finally:
            cursor.execute("SELECT pg_advisory_unlock(112109116112099104)")
            cursor.fetchall()
    return True


def _fill_postgres(uri: str, data: TpchData) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    with (
        contextlib.closing(adbc_pg.connect(uri)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        for table in _tables_of("customers"):
            columns = ", ".join(f"{name} {kind} NOT NULL" for name, kind in SCHEMA[table])
            cursor.execute(f"CREATE TABLE {table} ({columns})")
            cursor.adbc_ingest(table, _arrow(data.source, table), mode="append")  # COPY, binary
            cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(PRIMARY_KEYS[table])})")
            for column in _JOIN_KEYS.get(table, ()):
                cursor.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
        cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
        connection.commit()
    with (
        contextlib.closing(adbc_pg.connect(uri, autocommit=True)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        cursor.execute("ANALYZE")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _with(uri: str, *, user: str | None = None, password: str | None = None,
          database: str | None = None) -> str:
    """``uri`` with its user, password or database replaced."""
    parts = urlsplit(uri)
    user = user if user is not None else parts.username
    if password is None and user == parts.username:
        password = parts.password
    host = parts.hostname or "127.0.0.1"
    netloc = f"{host}:{parts.port}" if parts.port else host
    if user:
        netloc = f"{user}:{password}@{netloc}" if password else f"{user}@{netloc}"
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


# -- the descriptor ------------------------------------------------------------------------------


def _descriptor(sf: float, postgres_uri: str) -> str:
    import yaml

    engines: dict[str, dict[str, Any]] = {
        "sales": {"kind": "duckdb", "path": "data/sales.duckdb"},
        "customers": {"kind": "postgresql", "uri": _with(postgres_uri, password=""), "password": READER},
        "supply": {"kind": "sqlite", "path": "data/supply.sqlite"},
        "reference": {"kind": "parquet", "path": "data/reference"},
    }
    products = {
        product.name: {
            "domain": product.domain,
            "owner": f"{product.domain}-team@tpch.example",
            "description": product.description,
            "engine": engines[product.name],
            "tables": {table: {} for table in product.tables},
            "access": {"read": ["analyst"]},
        }
        for product in PRODUCTS
    }
    document = {
        "mesh": {"name": "tpch", "sql_dialect": "duckdb",
                 "description": f"TPC-H at scale factor {sf:g}, split across four engines"},
        "products": products,
        "users": {name: {"password": password, "roles": ["analyst"]} for name, password in USERS.items()},
    }
    header = (f"# Written by benchmarks/tpch_mesh.py ({LAYOUT}, TPC-H SF {sf:g}); rebuilt on demand, "
              "edits are lost.\n")
    return header + str(yaml.safe_dump(document, sort_keys=False, width=110))


# -- small helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    with open(folder / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_value(step: str, sf: float) -> str:
    # The generated data depends only on the scale factor: a new LAYOUT does not regenerate it.
    return json.dumps({"layout": "tpchgen-cli parquet" if step == "source" else LAYOUT, "sf": f"{sf:g}"})


def _stamped(out: Path, step: str, sf: float) -> bool:
    path = out / f".{step}.done"
    return path.is_file() and path.read_text() == _stamp_value(step, sf)


def _stamp(out: Path, step: str, sf: float) -> None:
    _replace_text(out / f".{step}.done", _stamp_value(step, sf))


def _replace_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _timed(step: Any, *args: Any) -> float:
    start = time.perf_counter()
    step(*args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=0.01, help="TPC-H scale factor (default 0.01)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to build in (default benchmarks/data/tpch-sf<SF>)")
    parser.add_argument("--postgres", default=None,
                        help=f"administrator URI of the PostgreSQL to load (default $FLIGHTMESH_PG_URI "
                             f"or {DEFAULT_POSTGRES})")
    parser.add_argument("--oracle-only", action="store_true", help="stop after the oracle (no PostgreSQL)")
    args = parser.parse_args(argv)
    out = args.out or REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(args.sf)}"
    start = time.perf_counter()
    result: TpchData = (prepare_data(args.sf, out) if args.oracle_only
                        else build(args.sf, out, postgres=args.postgres))
    for step, seconds in result.timings.items():
        print(f"{step:>10}: {seconds:7.2f} s")
    print(f"{'total':>10}: {time.perf_counter() - start:7.2f} s (steps not listed were reused)")
    print(f"oracle:     {result.oracle}")
    if isinstance(result, TpchMesh):
        print(f"descriptor: {result.descriptor}")
        print(f"postgresql: {_with(result.postgres_uri, password='***')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
