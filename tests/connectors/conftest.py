"""Fixtures for the connector tests: the real PostgreSQL and MariaDB, and one dataset in every engine.

``service`` is the one place that decides what happens when a server engine is not reachable:
a visible skip on a developer's machine, a failure in CI (``CI=true``), where the engines are
part of the contract.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306


def service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) unless ``host:port`` accepts connections."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as error:
        message = f"{name} is not reachable on {host}:{port} ({error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run the connector suite against it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run; its URI. Dropped afterwards."""
    service("PostgreSQL", PG_HOST, PG_PORT)
    import adbc_driver_postgresql.dbapi as adbc_pg

    name = f"flightmesh_test_{uuid.uuid4().hex[:10]}"
    admin = adbc_pg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[str]:
    """A fresh MariaDB/MySQL database for this run; its URI. Dropped afterwards."""
    service("MariaDB", MYSQL_HOST, MYSQL_PORT)
    pytest.importorskip("connectorx")
    pymysql = pytest.importorskip("pymysql")
    name = f"flightmesh_test_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


# The least a PostgreSQL account needs to serve a product: what README "Engine accounts: least
# privilege" tells operators to grant ({role}, {database}, {schema}, {tables} are filled in).
PG_READ_ONLY_GRANTS = (
    'GRANT CONNECT ON DATABASE "{database}" TO {role}',
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT ON {tables} TO {role}",
)
# The same for MariaDB / MySQL ({user} is 'name'@'host').
MYSQL_READ_ONLY_GRANTS = ("GRANT SELECT ON `{database}`.* TO {user}",)


@pytest.fixture
def pg_account(postgres_database: str) -> Iterator[Callable[..., str]]:
    """``make(*statements)``: a fresh login role for ``postgres_database``; its URI.

    ``statements`` run as the administrator, with ``{role}`` and ``{database}`` filled in, e.g.
    the ``PG_READ_ONLY_GRANTS``. Every role made is dropped afterwards.
    """
    from flightmesh.connectors.address import EngineAddress

    address = EngineAddress.parse(postgres_database, default_port=5432)
    made: list[str] = []

    def make(*statements: str) -> str:
        role = f"fm_account_{uuid.uuid4().hex[:10]}"
        made.append(role)
        pg_execute(postgres_database, f"CREATE ROLE {role} LOGIN PASSWORD '{role}'",
                   *(statement.format(role=role, database=address.database) for statement in statements))
        return f"postgresql://{role}:{role}@{address.host}:{address.port}/{address.database}"

    yield make
    for role in made:
        # DROP OWNED revokes what was granted in this database and on the database itself
        pg_execute(postgres_database, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


@pytest.fixture
def mysql_account(mysql_database: str) -> Iterator[Callable[..., str]]:
    """``make(*statements)``: a fresh MariaDB/MySQL user for ``mysql_database``; its URI.

    ``statements`` run as the administrator, with ``{user}`` ('name'@'%'), ``{name}`` and
    ``{database}`` filled in. Every user made (and every role named ``{name}_role``) is dropped
    afterwards.
    """
    from flightmesh.connectors.address import EngineAddress

    address = EngineAddress.parse(mysql_database, default_port=3306)
    made: list[str] = []

    def make(*statements: str) -> str:
        name = f"fm_account_{uuid.uuid4().hex[:10]}"
        made.append(name)
        user = f"'{name}'@'%'"
        mysql_execute(mysql_database, f"CREATE USER {user} IDENTIFIED BY '{name}'",
                      *(statement.format(user=user, name=name, database=address.database)
                        for statement in statements))
        return f"mysql://{name}:{name}@{address.host}:{address.port}/{address.database}"

    yield make
    for name in made:
        mysql_execute(mysql_database, f"DROP USER IF EXISTS '{name}'@'%'", f"DROP ROLE IF EXISTS {name}_role")


def pg_execute(uri: str, *statements: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def mysql_connect(uri: str) -> Any:
    import pymysql

    from flightmesh.connectors.address import EngineAddress

    address = EngineAddress.parse(uri, default_port=3306)
    return pymysql.connect(host=address.host, port=address.port, user=address.user,
                           password=address.password or "", database=address.database, autocommit=True)


def mysql_execute(uri: str, *statements: str) -> None:
    connection = mysql_connect(uri)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def sail_endpoint() -> Iterator[str]:
    """LakeSail's Spark Connect server, started in this process; its ``sc://`` URI. Stopped afterwards.

    Local mode (one process, threads per partition). Sail 0.7.2's local-cluster mode (a driver and
    workers on threads, ``SAIL_MODE=local-cluster``) starts as fast, but a job interrupted there
    keeps its workers busy: a cancelled cross join was still running 100 s later, so every later
    test waited. ``sail_cluster_endpoint`` starts that mode for the tests that do not cancel.
    """
    yield from _sail("local", 0)


@pytest.fixture(scope="session")
def sail_cluster_endpoint() -> Iterator[str]:
    """Sail in local-cluster mode: a driver and two workers in this process; its ``sc://`` URI."""
    yield from _sail("local-cluster", 2)


@pytest.fixture(scope="session")
def sail_flight_endpoint() -> Iterator[str]:
    """Sail's Arrow Flight SQL server (local mode), started in this process; its ``grpc://`` URI."""
    yield from _sail("local", 0, protocol="flight-sql")


@pytest.fixture(scope="session")
def sail_flight_cluster_endpoint() -> Iterator[str]:
    """Sail's Flight SQL server in local-cluster mode (a driver and two workers in this process)."""
    yield from _sail("local-cluster", 2, protocol="flight-sql")


def _sail(mode: str, workers: int, *, protocol: str = "spark-connect") -> Iterator[str]:
    """A Sail server started the one way the project starts Sail (``executor.sail_embedded``)."""
    pytest.importorskip("pysail")
    from flightmesh.executor.sail_embedded import EmbeddedSail

    server = EmbeddedSail(mode, workers, protocol=protocol)
    try:
        yield server.uri
    finally:
        server.stop()
