"""A MariaDB fragment's session: every setting in force, set up in one statement.

connectorx runs each pre-execution statement as a round trip of its own on the fresh connection
it opens per fragment, so the connector sends MariaDB one SET of all its assignments. These
tests read each setting back from inside a fragment, and check the one that guards writes by
making a fragment try one (a stored function that inserts, called from a SELECT).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import mysql_connect, mysql_execute

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def connector(mysql_database: str) -> Iterator[Any]:
    from flightmesh.connectors.mysql import MySQLConnector

    mysql_execute(mysql_database, "CREATE TABLE mf_session_log (id INT PRIMARY KEY AUTO_INCREMENT, note TEXT)",
                  "CREATE FUNCTION mf_session_write() RETURNS INT MODIFIES SQL DATA "
                  "BEGIN INSERT INTO mf_session_log (note) VALUES ('written'); RETURN 1; END")
    made = MySQLConnector("stock", mysql_database, pool_size=2)
    if made.flavor() != "mariadb":
        made.close()
        pytest.skip("the one-statement session is MariaDB's; MySQL keeps a statement per setting")
    yield made
    made.close()


def _run(connector: Any, sql: str, timeout: float | None = None) -> dict[str, Any]:
    from flightmesh.connectors.base import FragmentQuery
    from flightmesh.mesh import CancelScope

    rows = connector.execute(FragmentQuery(sql, timeout_seconds=timeout), CancelScope()).read_all().to_pylist()
    assert len(rows) == 1
    return dict(rows[0])


def test_one_statement_sets_the_session_up(connector: Any) -> None:
    assert len(connector._session(2.5)) == 1


def test_every_setting_is_in_force_inside_the_fragment(connector: Any) -> None:
    found = _run(connector, "SELECT @@time_zone AS tz, @@tx_read_only AS ro, @@div_precision_increment AS dpi, "
                            "@@net_write_timeout AS nwt, @@max_statement_time AS mst, "
                            "@@join_cache_level AS jcl", timeout=2.5)
    assert found == {"tz": "+00:00", "ro": 1, "dpi": 10, "nwt": 86_400, "mst": 2.5, "jcl": 4}
    assert _run(connector, "SELECT @@max_statement_time AS mst")["mst"] == 0  # no timeout: none


def test_a_fragment_cannot_write(connector: Any, mysql_database: str) -> None:
    from flightmesh.mesh import EngineError

    with pytest.raises(EngineError):
        _run(connector, "SELECT mf_session_write() AS w")
    connection = mysql_connect(mysql_database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM mf_session_log")
            assert cursor.fetchone()[0] == 0
            cursor.execute("SELECT mf_session_write()")  # the function itself works: the session refused it
            cursor.execute("SELECT COUNT(*) FROM mf_session_log")
            assert cursor.fetchone()[0] == 1
    finally:
        connection.close()


def test_a_timeout_still_stops_the_statement(connector: Any) -> None:
    from flightmesh.mesh import QueryTimeout

    with pytest.raises(QueryTimeout):
        _run(connector, "SELECT SLEEP(5) AS x", timeout=0.3)
