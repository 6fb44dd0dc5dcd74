"""flightsql-dbapi (PyPI ``flightsql-dbapi``, import name ``flightsql``) against a real server:
its DB-API connection runs queries (plain and with parameters, which it sends as dense-union
columns) and lists schemas, tables and columns the way its SQLAlchemy dialect reflects them.

Not in the dev extras: flightsql-dbapi 0.2.2 (the latest release) requires ``sqlalchemy<2.0``,
and ``sqlalchemy-adbc`` (also a dev extra) requires ``sqlalchemy>=2.0``, so pip cannot install
both. Its DB-API part imports only ``sqlalchemy.types`` and runs on SQLAlchemy 2:
``pip install --no-deps flightsql-dbapi`` into the venv runs this module; otherwise it skips.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from flightmesh.server.app import FlightMeshServer
from tests.server.support import PASSWORDS
from tests.server.test_clients_adbc_tools import SYSTEM_SCHEMAS, VISIBLE, governed_server

if importlib.util.find_spec("flightsql") is None or importlib.util.find_spec("sqlalchemy") is None:
    pytest.skip("flightsql-dbapi (or the SQLAlchemy it imports) is not installed: it pins sqlalchemy<2, "
                "see this module's docstring", allow_module_level=True)

__all__ = ["governed_server"]   # the module-scoped server fixture, shared with the ADBC tools' tests

SQL_IDENTIFIER_QUOTE_CHAR, FLIGHT_SQL_SERVER_READ_ONLY = "504", "3"

# The client runs in its own process: its bundled flightsql_pb2 registers the Flight SQL messages
# (package arrow.flight.protocol.sql) in protobuf's default pool, as flightmesh's own classes do,
# and one process cannot hold both ("duplicate symbol 'arrow.flight.protocol.sql.SqlInfo'").
CLIENT = textwrap.dedent("""
    import json, sys
    import flightsql

    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    calls = json.loads(sys.stdin.read())
    client = flightsql.FlightSQLClient(host="127.0.0.1", port=port, user=user, password=password, insecure=True)
    connection = flightsql.connect(client)
    out = []
    for call, args in calls:
        try:
            if call == "execute":
                cursor = connection.cursor()
                cursor.execute(*args)
                value = {"columns": [c[0] for c in cursor.description], "rows": [list(r) for r in cursor.fetchall()]}
            elif call == "columns":
                value = [column["name"] for column in connection.flightsql_get_columns(*args)]
            else:
                value = getattr(connection, "flightsql_" + call)(*args)
            out.append({"ok": value})
        except Exception as error:
            out.append({"error": str(error)})
    connection.close()
    print(json.dumps(out, default=str))
""")


def run(server: FlightMeshServer, user: str, *calls: tuple[str, list[Any]]) -> list[Any]:
    """Run flightsql-dbapi calls as ``user`` in a client process; each call's value (or error)."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(server.port), user, PASSWORDS[user]],
        input=json.dumps(calls), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


def value(answer: dict[str, Any]) -> Any:
    assert "ok" in answer, answer
    return answer["ok"]


def test_dialect_initialize_sql_info(governed_server: FlightMeshServer) -> None:
    """What the SQLAlchemy dialect's ``initialize`` reads; it indexes 504 and 3 directly."""
    (info,) = run(governed_server, "alice", ("get_sql_info", [[0, 2, 3, 504]]))
    assert value(info)[SQL_IDENTIFIER_QUOTE_CHAR] == '"'
    assert value(info)[FLIGHT_SQL_SERVER_READ_ONLY] is True


def test_query_and_parameters(governed_server: FlightMeshServer) -> None:
    plain, parameters = run(
        governed_server, "alice",
        ("execute", ["SELECT count(*) AS n, CAST(sum(quantity) AS BIGINT) AS q FROM sales.orders"]),
        ("execute", ["SELECT name FROM crm.customers WHERE customer_id = ? OR name = ? ORDER BY name",
                     [7, "customer 09"]]),
    )
    assert value(plain) == {"columns": ["n", "q"], "rows": [[500, 1500]]}
    assert value(parameters)["rows"] == [["customer 07"], ["customer 09"]]


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_reflection_lists_only_what_the_principal_may_read(governed_server: FlightMeshServer, user: str) -> None:
    visible = VISIBLE[user]
    hidden = sorted({"sales", "crm", "catalog", "telemetry"} - set(visible))
    calls: list[tuple[str, list[Any]]] = [("get_schema_names", [])]
    calls += [("get_table_names", [schema]) for schema in visible]
    # Its get_columns takes row 0 of GetTables(table pattern, include_schema).
    calls += [("columns", [table, schema]) for schema, tables in visible.items() for table in tables]
    calls += [("get_table_names", [schema]) for schema in hidden]
    answers = iter(run(governed_server, user, *calls))
    assert set(value(next(answers))) - SYSTEM_SCHEMAS == set(visible)
    for tables in visible.values():
        assert set(value(next(answers))) == set(tables)
    for tables in visible.values():
        for columns in tables.values():
            assert set(value(next(answers))) == columns
    for _ in hidden:
        assert value(next(answers)) == []


def test_hidden_objects_are_refused_as_missing(governed_server: FlightMeshServer) -> None:
    column, table, allowed = run(
        governed_server, "bob",
        ("execute", ["SELECT country FROM crm.customers"]),
        ("execute", ["SELECT * FROM catalog.products"]),
        ("execute", ["SELECT * FROM crm.customers ORDER BY customer_id LIMIT 1"]),
    )
    for refused in (column, table):
        assert "error" in refused
        assert any(word in refused["error"].lower() for word in ("does not exist", "unknown", "not found"))
    assert value(allowed)["columns"] == ["customer_id", "name"]
