"""Engine schema changes seen without a restart: on ``refresh`` (the runtime, the admin action, the
CLI) and periodically; an unrelated query keeps working after a rename, one reading the renamed
column gets an error naming product, table and column. Real SQLite, DuckDB and PostgreSQL files and
databases are changed underneath a running mesh."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import UnknownColumn
from flightmesh.mesh.principal import Principal
from flightmesh.server import FlightMeshServer
from flightmesh.server.cli import main
from tests.connectors.conftest import PG_HOST, PG_PORT, pg_execute, service

ALICE = Principal("alice", frozenset({"analyst", "admin"}))


def _mesh(directory: Path, engine: str, refresh: float = 0) -> Path:
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: acme}\n"
        f"settings: {{schema_refresh_seconds: {refresh}}}\n"
        "users:\n  alice: {password: alice-pw, roles: [analyst, admin]}\n"
        "  bob: {password: bob-pw, roles: [analyst]}\n"
        "auth: {admin_roles: [admin]}\n"
        f"products:\n  crm:\n    engine: {engine}\n    access: {{read: [analyst]}}\n"
        "    tables: {customers: {source: customers}}\n")
    return descriptor


def _sqlite(directory: Path) -> Path:
    path = directory / "crm.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript("CREATE TABLE customers (id INTEGER, name TEXT, country TEXT);"
                                 "INSERT INTO customers VALUES (1, 'Ann', 'SE');")
    return path


def _sqlite_run(path: Path, script: str) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(script)
    finally:
        connection.close()


def _types(runtime: MeshRuntime, sql: str = "SELECT * FROM crm.customers") -> dict[str, pa.DataType]:
    schema = runtime.prepare(sql, ALICE).schema
    return {field.name: field.type for field in schema}


def test_refresh_sees_added_renamed_and_retyped_columns(tmp_path: Path) -> None:
    path = _sqlite(tmp_path)
    with MeshRuntime.open(_mesh(tmp_path, f"{{kind: sqlite, path: {path}}}")) as runtime:
        assert set(_types(runtime)) == {"id", "name", "country"}
        version = runtime.catalog.version
        runtime.refresh("crm")
        assert runtime.catalog.version == version  # nothing changed: no swap
        _sqlite_run(path, "ALTER TABLE customers ADD COLUMN email TEXT;"
                          "ALTER TABLE customers RENAME COLUMN country TO land;")
        runtime.refresh()
        assert set(_types(runtime)) == {"id", "name", "land", "email"}
        assert runtime.query("SELECT id, name FROM crm.customers", ALICE).read_all().to_pylist() == \
            [{"id": 1, "name": "Ann"}]
        with pytest.raises(UnknownColumn) as raised:
            runtime.query("SELECT country FROM crm.customers", ALICE)
        message = str(raised.value)
        assert "product crm" in message and "crm.customers" in message and "country" in message
        assert "dropped or renamed" in message
        # a type changed by recreating the table
        _sqlite_run(path, "DROP TABLE customers; CREATE TABLE customers (id TEXT, name TEXT, land TEXT, email TEXT);"
                          "INSERT INTO customers VALUES ('x1', 'Ann', 'SE', NULL);")
        assert _types(runtime)["id"] == pa.int64()
        runtime.refresh("crm")
        assert _types(runtime)["id"] == pa.string()
        assert runtime.query("SELECT id FROM crm.customers", ALICE).read_all().to_pylist() == [{"id": "x1"}]


def test_the_periodic_refresh_runs_in_the_background_and_stops_on_close(tmp_path: Path) -> None:
    path = _sqlite(tmp_path)
    runtime = MeshRuntime.open(_mesh(tmp_path, f"{{kind: sqlite, path: {path}}}", refresh=0.2))
    try:
        _sqlite_run(path, "ALTER TABLE customers ADD COLUMN email TEXT;")
        deadline = time.monotonic() + 10
        while "email" not in _types(runtime) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "email" in _types(runtime)
    finally:
        runtime.close()
    thread = runtime.schema_refresher._thread
    assert thread is not None and not thread.is_alive()


def test_the_refresh_action_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _sqlite(tmp_path)
    with MeshRuntime.open(_mesh(tmp_path, f"{{kind: sqlite, path: {path}}}")) as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        uri = f"grpc://127.0.0.1:{server.port}"
        _sqlite_run(path, "ALTER TABLE customers ADD COLUMN email TEXT;")
        assert main(["refresh", "--uri", uri, "-u", "bob", "--password", "bob-pw"]) == 1
        assert "refresh is reserved to the mesh's administrators" in capsys.readouterr().err
        assert main(["refresh", "--uri", uri, "-u", "alice", "--password", "alice-pw", "crm"]) == 0
        assert "schemas changed: crm" in capsys.readouterr().out
        assert "email" in _types(runtime)
        assert main(["refresh", "--uri", uri, "-u", "alice", "--password", "alice-pw"]) == 0
        assert "no schema changed" in capsys.readouterr().out
        assert main(["refresh", "--uri", uri, "-u", "alice", "--password", "alice-pw", "nope"]) == 1
        assert "there is no product 'nope'" in capsys.readouterr().err


@pytest.fixture
def pg_crm() -> Iterator[tuple[str, str]]:
    service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"flightmesh_refresh_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}"
    pg_execute(f"{admin}/postgres", f'CREATE DATABASE "{name}"')
    try:
        pg_execute(f"{admin}/{name}", "CREATE TABLE customers (id integer, name text, country text)",
                   "INSERT INTO customers VALUES (1, 'Ann', 'SE')")
        yield f"{admin}/{name}", name
    finally:
        pg_execute(f"{admin}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgresql_rename_and_retype(tmp_path: Path, pg_crm: tuple[str, str]) -> None:
    uri, _ = pg_crm
    engine = f"{{kind: postgresql, uri: \"{uri}\", allow_privileged: true}}"
    with MeshRuntime.open(_mesh(tmp_path, engine)) as runtime:
        assert runtime.query("SELECT name FROM crm.customers", ALICE).read_all().to_pylist() == [{"name": "Ann"}]
        pg_execute(uri, "ALTER TABLE customers RENAME COLUMN country TO land",
                   "ALTER TABLE customers ALTER COLUMN id TYPE bigint")
        runtime.refresh("crm")
        assert _types(runtime) == {"id": pa.int64(), "name": pa.string(), "land": pa.string()}
        assert runtime.query("SELECT id, name FROM crm.customers", ALICE).read_all().to_pylist() == \
            [{"id": 1, "name": "Ann"}]
        with pytest.raises(UnknownColumn, match=r"product crm .*country.*crm\.customers"):
            runtime.query("SELECT country FROM crm.customers", ALICE)
