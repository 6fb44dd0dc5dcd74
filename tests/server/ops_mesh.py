"""A mesh for the operations tests (admission, history, kill, faults): a real PostgreSQL and a DuckDB file.

``pgshop`` (PostgreSQL) holds ``items`` (2,000 rows) and two views that make its engine misbehave:

* ``stall``   answers nothing for ``STALL_SECONDS`` (an init-plan ``pg_sleep``): a fragment stuck in its engine;
* ``endless`` streams 8 * 10^9 rows (items cubed): a stream the client leaves in the middle.

``sales`` (DuckDB) holds ``orders`` (500 rows). Users: alice and bob read both (role analyst), root
administers (auth.admin_roles: [admin]) and reads both, carol has no role. The data is also
returned as Arrow tables, so a test computes its expectation with DuckDB over them (``oracle``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import yaml

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.connectors.conftest import pg_execute

__all__ = ["PASSWORDS", "STALL_SECONDS", "Background", "OpsMesh", "build_ops_mesh", "connect", "engine_queries",
           "eventually", "flight_client", "kill", "serving"]

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw", "carol": "carol-pw"}
STALL_SECONDS = 120

ITEMS = pa.table({"id": pa.array(range(1, 2001), pa.int32()),
                  "v": pa.array([i % 97 for i in range(1, 2001)], pa.int32()),
                  "label": [f"x{i}" for i in range(1, 2001)]})
ORDERS = pa.table({"order_id": pa.array(range(1, 501), pa.int64()),
                   "item_id": pa.array([(i * 7) % 2000 + 1 for i in range(1, 501)], pa.int64()),
                   "amount": [float(i % 50) + 0.5 for i in range(1, 501)]})


@dataclass(frozen=True)
class OpsMesh:
    descriptor: Path
    pg_uri: str

    @staticmethod
    def oracle(sql: str) -> list[tuple[Any, ...]]:
        """``sql`` run by DuckDB over the same data (tables ``items`` and ``orders``)."""
        with duckdb.connect() as connection:
            connection.register("items", ITEMS)
            connection.register("orders", ORDERS)
            return [tuple(row) for row in connection.sql(sql).fetchall()]


def _prepare_postgres(uri: str) -> None:
    pg_execute(uri, "CREATE TABLE IF NOT EXISTS items (id integer PRIMARY KEY, v integer NOT NULL, "
                    "label text NOT NULL)")
    pg_execute(uri, "TRUNCATE items",
               "INSERT INTO items SELECT i, i % 97, 'x' || i FROM generate_series(1, 2000) AS i",
               f"CREATE OR REPLACE VIEW stall AS SELECT i AS id FROM generate_series(1, 3) AS i "
               f"WHERE (SELECT pg_sleep({STALL_SECONDS})::text) IS NOT NULL",
               # a cross join streams (generate_series would be materialized before the first row)
               "CREATE OR REPLACE VIEW endless AS SELECT a.id::bigint * 4000000 + b.id * 2000 + c.id AS id, c.v AS k "
               "FROM items AS a CROSS JOIN items AS b CROSS JOIN items AS c")


def build_ops_mesh(folder: Path, pg_uri: str, *, settings: dict[str, Any] | None = None) -> OpsMesh:
    folder.mkdir(parents=True, exist_ok=True)
    _prepare_postgres(pg_uri)
    sales = folder / "sales.duckdb"
    if not sales.exists():
        with duckdb.connect(str(sales)) as connection:
            connection.register("src", ORDERS)
            connection.execute("CREATE TABLE orders AS SELECT * FROM src")
    descriptor: dict[str, Any] = {
        "mesh": {"name": "ops"},
        "products": {
            # the test database's owner is the superuser: allowed here, as every engine test does
            "pgshop": {"engine": {"kind": "postgresql", "uri": pg_uri, "allow_privileged": True},
                       "tables": {"items": {}, "stall": {}, "endless": {}},
                       "access": {"read": ["analyst"]}},
            "sales": {"engine": {"kind": "duckdb", "path": "sales.duckdb"}, "tables": {"orders": {}},
                      "access": {"read": ["analyst"]}},
        },
        "users": {"alice": {"password": PASSWORDS["alice"], "roles": ["analyst"]},
                  "bob": {"password": PASSWORDS["bob"], "roles": ["analyst"]},
                  "root": {"password": PASSWORDS["root"], "roles": ["admin", "analyst"]},
                  "carol": {"password": PASSWORDS["carol"], "roles": []}},
        "auth": {"admin_roles": ["admin"]},
        "state": {"path": "state/flightmesh.sqlite"},
    }
    if settings:
        descriptor["settings"] = settings
    path = folder / "mesh.yaml"
    path.write_text(yaml.safe_dump(descriptor, sort_keys=False))
    return OpsMesh(path, pg_uri)


def connect(port: int, user: str) -> Any:
    return dbapi.connect(f"grpc://127.0.0.1:{port}", db_kwargs={"username": user, "password": PASSWORDS[user]},
                         autocommit=True)


def flight_client(port: int, user: str) -> tuple[flight.FlightClient, flight.FlightCallOptions]:
    client = flight.connect(f"grpc://127.0.0.1:{port}")
    header = client.authenticate_basic_token(user, PASSWORDS[user])
    return client, flight.FlightCallOptions(headers=[header])


def engine_queries(pg_uri: str, marker: str) -> list[str]:
    """The statements flightmesh runs in the test database now whose text contains ``marker``."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    database = pg_uri.rsplit("/", 1)[1]
    with adbc_pg.connect(pg_uri, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE application_name = 'flightmesh' "
                       "AND state = 'active' AND pid <> pg_backend_pid() AND datname = $1", parameters=(database,))
        return [row[0] for row in cursor.fetchall() if marker in row[0]]


def eventually(condition: Callable[[], Any], seconds: float = 20.0) -> Any:
    """``condition()`` once it is truthy; AssertionError if it never is within ``seconds`` (a bound, not a speed)."""
    limit = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > limit:
            raise AssertionError("the condition never held")
        time.sleep(0.05)


@contextlib.contextmanager
def serving(mesh: OpsMesh) -> Iterator[tuple[MeshRuntime, FlightMeshServer]]:
    """A runtime and a server over ``mesh``; queries still running at the end are stopped first."""
    with MeshRuntime.open(mesh.descriptor) as runtime, FlightMeshServer(runtime) as server:
        try:
            yield runtime, server
        finally:
            for query in runtime.tracker.registry.snapshot():
                query.scope.cancel()


class Background:
    """One query run by ``user`` on a thread of its own, through ADBC, read to the end: ``rows`` or ``error``."""

    def __init__(self, port: int, user: str, sql: str) -> None:
        self.rows: list[tuple[Any, ...]] | None = None
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, args=(port, user, sql), daemon=True)
        self._thread.start()

    def _run(self, port: int, user: str, sql: str) -> None:
        try:
            with connect(port, user) as connection, connection.cursor() as cursor:
                cursor.execute(sql)
                self.rows = [tuple(row) for row in cursor.fetchall()]
        except Exception as error:
            self.error = error

    def join(self, seconds: float = 60.0) -> Background:
        self._thread.join(seconds)
        assert not self._thread.is_alive(), "the query never ended"
        return self


def kill(port: int, user: str, query_id: str) -> dict[str, Any]:
    """The Flight action ``kill`` as ``user``; its JSON reply."""
    import json

    client, options = flight_client(port, user)
    try:
        results = list(client.do_action(flight.Action("kill", query_id.encode()), options))
        reply: dict[str, Any] = json.loads(results[0].body.to_pybytes())
        return reply
    finally:
        client.close()
