"""Every mesh data type a CAST may name is either a type the engine has, or declared missing.

sqlglot prints a type its dialect has no name for as it is (``CAST(x AS UTINYINT)``): the engine
then refuses the fragment or, SQLite, reads the name by its affinity rules (``TIMESTAMP_S`` is
NUMERIC affinity: ``'2024-01-01'`` becomes 2024). Each type not in ``missing_types`` is rendered
for the engine and run there (PostgreSQL, MariaDB) or checked against SQLite's own type names.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from flightmesh.connectors.base import Capabilities
from flightmesh.connectors.mysql import MySQLConnector
from flightmesh.connectors.postgresql import PostgreSQLConnector
from flightmesh.connectors.sqlite import SQLiteConnector
from flightmesh.governance.language import CAST_TYPES
from tests.connectors.conftest import mysql_execute, pg_execute

NESTED = {exp.DataType.Type.ARRAY, exp.DataType.Type.LIST, exp.DataType.Type.STRUCT, exp.DataType.Type.MAP}
SCALARS = sorted(CAST_TYPES - NESTED, key=lambda t: t.value)


def _rendered(capabilities: Capabilities, data_type: exp.DataType.Type) -> str | None:
    """``CAST(NULL AS <type>)`` in the engine's dialect; None when sqlglot refuses it (it stays in the merge)."""
    node = exp.cast(exp.Null(), exp.DataType(this=data_type))
    try:
        return node.sql(dialect=capabilities.dialect, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError:
        return None


def _pushed(capabilities: Capabilities) -> list[tuple[exp.DataType.Type, str]]:
    found = []
    for data_type in SCALARS:
        if data_type in capabilities.missing_types:
            continue
        sql = _rendered(capabilities, data_type)
        if sql is not None:
            found.append((data_type, sql))
    return found


def test_postgresql_has_every_type_it_is_sent(postgres_database: str) -> None:
    failures = []
    for data_type, sql in _pushed(PostgreSQLConnector.capabilities):
        try:
            pg_execute(postgres_database, f"SELECT {sql}")
        except Exception as error:
            failures.append((data_type.value, sql, str(error).splitlines()[0]))
    assert failures == []


def test_mariadb_has_every_type_it_is_sent(mysql_database: str) -> None:
    failures = []
    for data_type, sql in _pushed(MySQLConnector.capabilities):
        try:
            mysql_execute(mysql_database, f"SELECT {sql}")
        except Exception as error:
            failures.append((data_type.value, sql, str(error).splitlines()[0]))
    assert failures == []


# SQLite accepts any name; what counts is the affinity the name gets. These are the names whose
# affinity is the one the mesh type means (SQLite's documentation, "Determination Of Column Affinity").
SQLITE_NAMES = {"INTEGER", "REAL", "TEXT", "BLOB"}


def test_sqlite_is_sent_only_its_own_type_names() -> None:
    failures = []
    connection = sqlite3.connect(":memory:")
    for data_type, sql in _pushed(SQLiteConnector.capabilities):
        connection.execute(f"SELECT {sql}")  # it parses (sqlglot may render a function, e.g. DATE(NULL))
        cast = exp.maybe_parse(sql, dialect="sqlite")
        target = cast.to.sql(dialect="sqlite").upper() if isinstance(cast, exp.Cast) else None
        if target is not None and target not in SQLITE_NAMES:
            failures.append((data_type.value, sql))
    assert failures == []


@pytest.mark.parametrize("connector", [SQLiteConnector, PostgreSQLConnector, MySQLConnector])
def test_a_cast_to_a_missing_type_is_not_taken(connector: type) -> None:
    capabilities = connector.capabilities
    for data_type in capabilities.missing_types:
        assert not capabilities.supports(exp.DataType(this=data_type))
