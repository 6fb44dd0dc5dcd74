"""Engine failures reach the client as clear, typed errors (issue 10, item 3).

One table, the same rows, in every local engine kind (DuckDB, SQLite, Parquet, PostgreSQL,
MariaDB), served by a real Flight server and read by ADBC. Each product exposes it three times:

* ``orders``  a row filter hides the ``internal`` row (its code is ``HIDDEN-4711``);
* ``guarded`` a row filter that itself converts every raw code to INTEGER: it fails on the
  hidden row's code, a value no client may see, whatever the client writes;
* ``masked``  ``code`` masked by the literal ``'n/a'``: a policy's literal, not the client's;
* ``misfiltered`` a row filter comparing the integer ``order_id`` with the literal ``'none'``:
  the engine fails on a literal of the statement it ran, but the literal is the policy's.

The oracle for "does this fail" is DuckDB over the same rows in one file (``_oracle_fails``): a
case is asserted to fail in the mesh only where the mesh dialect fails. Where an engine answers
instead of raising (MariaDB and SQLite convert silently), that engine has no such case.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_manager
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from adbc_driver_manager import AdbcStatusCode

from flightmesh.connectors.engine_errors import Failure, Problem, client_literals, mysql_failure, postgresql_failure
from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.connectors.conftest import mysql_execute, pg_execute
from tests.server.conftest import adbc_connect

HIDDEN = "HIDDEN-4711"
HIDDEN_BIG = 4711_4711
ROWS = {
    "order_id": pa.array([1, 2, 3, 4], pa.int32()),
    "code": ["10", "20", "30", HIDDEN],
    "region": ["EU", "US", "EU", "internal"],
    "qty": pa.array([3, 0, 7, 1], pa.int32()),
    "big": pa.array([9_223_372_036_854_775_000, -9_223_372_036_854_775_807, 1, HIDDEN_BIG], pa.int64()),
    "day": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(2024, 4, 1)],
}
TABLE = pa.table(ROWS)
PRODUCTS = ("dk", "lite", "pq", "pg", "my")
# every value a row holds, as text: none may appear in a message unless the client typed it
ROW_TEXTS = [str(value) for column in ROWS.values() for value in (column.to_pylist() if isinstance(column, pa.Array)
                                                                   else column)]

_POLICIES = """\
    tables: {{orders: {{source: {source}}}, guarded: {{source: {source}}}, masked: {{source: {source}}},
              misfiltered: {{source: {source}}}}}
    access: {{read: [analyst]}}
    policies:
      row_filters:
        - {{table: orders, where: "region <> 'internal'"}}
        - {{table: guarded, where: "CAST(code AS INTEGER) < 100"}}
        - {{table: masked, where: "region <> 'internal'"}}
        - {{table: misfiltered, where: "order_id <> 'none'"}}
      masks:
        - {{table: masked, column: code, with: "'n/a'"}}
"""

_DESCRIPTOR = """\
mesh: {{name: errs}}
products:
  dk:
    engine: {{kind: duckdb, path: data/dk.duckdb}}
{dk}
  lite:
    engine: {{kind: sqlite, path: data/lite.sqlite}}
{lite}
  pq:
    engine: {{kind: parquet, path: data/pq}}
{pq}
  pg:
    engine: {{kind: postgresql, uri: "{pg_uri}", allow_privileged: true}}  # a throwaway test database
{pg}
  my:
    engine: {{kind: mysql, uri: "{my_uri}", allow_privileged: true}}
{my}
users:
  alice: {{password: alice-secret, roles: [analyst]}}
"""


def _write_engines(directory: Path, pg_uri: str, my_uri: str) -> None:
    data = directory / "data"
    (data / "pq").mkdir(parents=True)
    with duckdb.connect(str(data / "dk.duckdb")) as connection:
        connection.register("source", TABLE)
        connection.execute("CREATE TABLE orders AS SELECT * FROM source")
    pq.write_table(TABLE, data / "pq" / "orders.parquet")
    lite = sqlite3.connect(data / "lite.sqlite")
    lite.execute("CREATE TABLE orders (order_id INTEGER, code TEXT, region TEXT, qty INTEGER, big BIGINT, day DATE)")
    lite.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                     [(r["order_id"], r["code"], r["region"], r["qty"], r["big"], r["day"].isoformat())
                      for r in TABLE.to_pylist()])
    lite.commit()
    lite.close()
    values = ", ".join(f"({r['order_id']}, '{r['code']}', '{r['region']}', {r['qty']}, {r['big']}, "
                       f"DATE '{r['day'].isoformat()}')" for r in TABLE.to_pylist())
    pg_execute(pg_uri, "DROP TABLE IF EXISTS orders",
               "CREATE TABLE orders (order_id integer, code text, region text, qty integer, big bigint, day date)",
               f"INSERT INTO orders VALUES {values}")
    mysql_execute(my_uri, "DROP TABLE IF EXISTS orders",
                  "CREATE TABLE orders (order_id int, code varchar(20), region varchar(20), qty int, big bigint, "
                  "day date)", f"INSERT INTO orders VALUES {values}")
    policies = {name: _POLICIES.format(source="orders.parquet" if name == "pq" else "orders") for name in PRODUCTS}
    (directory / "mesh.yaml").write_text(_DESCRIPTOR.format(pg_uri=pg_uri, my_uri=my_uri, **policies))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, postgres_database: str,
           mysql_database: str) -> Iterator[FlightMeshServer]:
    directory = tmp_path_factory.mktemp("engine_errors")
    _write_engines(directory, postgres_database, mysql_database)
    with MeshRuntime.open(directory / "mesh.yaml") as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as running:
        yield running


def _oracle_fails(sql: str) -> bool:
    """Does DuckDB fail ``sql`` over the rows every principal here may see, in one database?

    Every product's ``orders`` is the visible rows (the row filter written by hand).
    """
    connection = duckdb.connect()
    try:
        connection.register("raw", TABLE)
        for product in PRODUCTS:
            connection.execute(f"CREATE SCHEMA {product}")
            connection.execute(f"CREATE VIEW {product}.orders AS SELECT * FROM raw WHERE region <> 'internal'")
        connection.sql(sql).fetchall()
    except duckdb.Error:
        return True
    finally:
        connection.close()
    return False


def _error(server: FlightMeshServer, sql: str) -> adbc_driver_manager.Error:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error) as raised:
            cursor.execute(sql)
            cursor.fetchall()
        cursor.execute("SELECT 1 AS still_serving")
        assert cursor.fetchall() == [(1,)]
    return raised.value


def _message(error: adbc_driver_manager.Error) -> str:
    """The status message the server sent (without ADBC's prefix and the status detail)."""
    text = str(error).split("] ", 1)[-1]
    return text.split(". Detail:", 1)[0]


def _assert_data_error(error: adbc_driver_manager.Error, product: str | None, *reasons: str) -> str:
    assert error.status_code == AdbcStatusCode.INVALID_ARGUMENT, str(error)
    message = _message(error)
    where = f"product {product}:" if product else "while combining products:"
    assert where in message, message
    assert any(reason in message for reason in reasons), message
    for forbidden in ("Traceback", "engine said", "Conversion Error", "SQLSTATE", "MySqlError"):
        assert forbidden not in str(error), str(error)
    return _without_query_id(message)


def _without_query_id(message: str) -> str:
    """The message without its ``(query id 20261202_...)`` suffix, whose digits are no row's."""
    return re.sub(r"\s*\(query id [^)]*\)", "", message)


def _row_values_in(message: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Row values found in ``message``, after removing the client's own literals (``allowed``)."""
    message = _without_query_id(message)
    for literal in sorted(allowed, key=len, reverse=True):
        message = message.replace(literal, "")
    return [text for text in ROW_TEXTS if len(text) > 1 and text in message]


# -- one table of cases: per engine, where the engine raises --------------------------------

_ALL_RAISING = ("dk", "pq", "pg")  # MariaDB and SQLite answer most of these instead (see the module doc)
CASES = [
    # (id, products, statement, what the message must say)
    ("literal", _ALL_RAISING, "SELECT order_id FROM {p}.orders WHERE order_id = 'abc'",
     "could not convert 'abc' to INTEGER"),
    ("cast-literal", _ALL_RAISING, "SELECT order_id FROM {p}.orders WHERE order_id < CAST('12x' AS INTEGER)",
     "could not convert '12x' to INTEGER"),
    ("overflow", (*_ALL_RAISING, "my"), "SELECT big + 1000 AS b FROM {p}.orders",
     "numeric overflow: a value is out of range for BIGINT"),
    ("abs-overflow", (*_ALL_RAISING, "lite"), "SELECT abs(big - 1) AS b FROM {p}.orders", "numeric overflow"),
    # DuckDB: integer division by zero raises (error_on_division_by_zero); '/' is a double's
    ("division", _ALL_RAISING, "SELECT order_id // qty AS d FROM {p}.orders", "division by zero"),
    # DuckDB names the type; PostgreSQL's 22008 says "date/time field value out of range" only
    ("date-literal", _ALL_RAISING, "SELECT order_id FROM {p}.orders WHERE day < CAST('2024-02-30' AS DATE)",
     "invalid date/time value '2024-02-30'"),
]
_PARAMETERS = [pytest.param(product, sql, reason, id=f"{name}-{product}")
               for name, products, sql, reason in CASES for product in products]


@pytest.mark.parametrize(("product", "template", "reason"), _PARAMETERS)
def test_a_data_error_names_product_and_reason(server: FlightMeshServer, product: str, template: str,
                                                reason: str) -> None:
    sql = template.format(p=product)
    assert _oracle_fails(sql)  # the mesh dialect fails it too
    message = _assert_data_error(_error(server, sql), product, reason)
    assert _row_values_in(message, allowed=tuple(client_literals(sql))) == []


# -- conversion of a row's value: never quoted, even when the client typed the same text -----


@pytest.mark.parametrize("product", ["dk", "pq", "pg"])
def test_a_hidden_rows_value_never_reaches_the_message(server: FlightMeshServer, product: str) -> None:
    # The row filter converts every raw code; it fails on the hidden row. The client guesses the
    # hidden value as a literal of its own: a matching quote would confirm the guess.
    sql = f"SELECT order_id, '{HIDDEN}' AS guess FROM {product}.guarded"
    error = _error(server, sql)
    if product == "pg":
        # PostgreSQL reads text as an integer otherwise than DuckDB ('12.5'), so this row filter
        # cannot run in its engine: refused before anything runs (planner/policy_placement.py).
        message = _message(error)
        assert "cannot run inside its product's engine" in message, message
    else:
        message = _assert_data_error(error, product, "could not be converted to INTEGER")
    assert HIDDEN not in message and "4711" not in message


@pytest.mark.parametrize("product", ["dk", "pq", "pg"])
def test_a_visible_rows_value_is_not_quoted_either(server: FlightMeshServer, product: str) -> None:
    sql = f"SELECT CAST(region AS INTEGER) AS r, 'EU' AS guess FROM {product}.orders"
    assert _oracle_fails(sql)
    message = _assert_data_error(_error(server, sql), product, "could not be converted to INTEGER")
    assert "'EU'" not in message and "'US'" not in message


@pytest.mark.parametrize("product", ["dk", "pq", "pg"])
def test_a_policy_literal_is_not_the_clients(server: FlightMeshServer, product: str) -> None:
    message = _assert_data_error(_error(server, f"SELECT CAST(code AS INTEGER) AS c FROM {product}.masked"),
                                 product, "could not be converted to INTEGER")
    assert "n/a" not in message


@pytest.mark.parametrize("product", ["dk", "pq", "pg"])
def test_a_failing_policy_literal_is_not_quoted(server: FlightMeshServer, product: str) -> None:
    # The engine shows the failing value is a literal of its statement; the client never wrote it.
    message = _assert_data_error(_error(server, f"SELECT order_id, 'other' AS x FROM {product}.misfiltered"),
                                 product, "could not be converted to INTEGER")
    assert "none" not in message


def test_the_same_literal_written_by_the_client_is_quoted(server: FlightMeshServer) -> None:
    message = _assert_data_error(_error(server, "SELECT order_id FROM dk.misfiltered WHERE order_id = 'none'"),
                                 "dk", "could not convert 'none' to INTEGER")
    assert message.endswith("could not convert 'none' to INTEGER")


def test_sqlite_division_by_zero_is_an_error_where_the_mesh_computes_it(server: FlightMeshServer) -> None:
    # SQLite answers NULL; the mesh dialect raises, so the division runs where it raises (the
    # residual today). The message names the product or the merge, whichever computed it.
    sql = "SELECT order_id // qty AS d FROM lite.orders"
    assert _oracle_fails(sql)
    error = _error(server, sql)
    assert error.status_code == AdbcStatusCode.INVALID_ARGUMENT, str(error)
    message = _message(error)
    assert ("product lite:" in message or "while combining products:" in message) and "division by zero" in message


# -- the merge engine ----------------------------------------------------------------------------

_JOIN = "FROM dk.orders a JOIN pg.orders b ON a.order_id = b.order_id"


@pytest.mark.parametrize(("sql", "reason"), [
    (f"SELECT CAST(a.code || b.region AS INTEGER) AS c {_JOIN}", "could not be converted to INTEGER"),
    (f"SELECT a.big + b.big AS s {_JOIN}", "numeric overflow"),
    (f"SELECT a.order_id // b.qty AS d {_JOIN}", "division by zero"),
], ids=["conversion", "overflow", "division"])
def test_the_merge_engine(server: FlightMeshServer, sql: str, reason: str) -> None:
    assert _oracle_fails(sql)
    message = _assert_data_error(_error(server, sql), None, reason)
    assert _row_values_in(message) == []
    assert "10EU" not in message


def test_the_merge_quotes_the_clients_literal(server: FlightMeshServer) -> None:
    sql = f"SELECT a.order_id {_JOIN} WHERE a.order_id + b.order_id > CAST('lots' AS BIGINT)"
    assert _oracle_fails(sql)
    error = _error(server, sql)
    assert error.status_code == AdbcStatusCode.INVALID_ARGUMENT, str(error)
    assert "could not convert 'lots' to BIGINT" in _message(error)


# -- a remote Flight SQL server (another flightmesh) --------------------------------------------


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, server: FlightMeshServer) -> Iterator[FlightMeshServer]:
    """A mesh whose product ``far`` is the mesh above, read over Flight SQL as alice."""
    directory = tmp_path_factory.mktemp("front")
    (directory / "mesh.yaml").write_text(f"""\
mesh: {{name: front}}
products:
  far:
    engine: {{kind: flightsql, uri: "grpc://127.0.0.1:{server.port}", username: alice, password: alice-secret}}
    tables: {{orders: {{source: dk.orders}}, misfiltered: {{source: dk.misfiltered}}}}
    access: {{read: [analyst]}}
users:
  alice: {{password: alice-secret, roles: [analyst]}}
""")
    with MeshRuntime.open(directory / "mesh.yaml") as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as running:
        yield running


def test_a_remotes_data_error_keeps_its_reason_class(front: FlightMeshServer) -> None:
    message = _assert_data_error(_error(front, "SELECT order_id FROM far.orders WHERE order_id = 'abc'"),
                                 "far", "a value could not be converted to INTEGER")
    assert "product dk" not in message  # the remote's own words stay in the log


def test_a_remotes_policy_literal_is_not_quoted(front: FlightMeshServer) -> None:
    message = _assert_data_error(_error(front, "SELECT order_id, 'none' AS guess FROM far.misfiltered"),
                                 "far", "could not be converted")
    assert "'none'" not in message


# -- other failures stay EngineError, with a reason class ------------------------------------


def test_an_engine_failure_that_is_not_about_data_is_internal_and_says_why() -> None:
    from flightmesh.connectors.engine_errors import mesh_error
    from flightmesh.mesh import EngineError

    error = mesh_error("pg", postgresql_failure("42883", "function nope(integer) does not exist",
                                                at_statement_position=True) or Failure(Problem.ENGINE), "raw")
    assert isinstance(error, EngineError) and str(error) == \
        "product pg: the engine rejected the fragment: it is not valid SQL for this engine"
    assert mysql_failure(1045, "Access denied") is None  # the connector's own case (credentials)


# -- the classifier's inputs, verified on the real engines -------------------------------------


def test_postgresql_codes(postgres_database: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    cases = {
        "SELECT 'abc'::integer": (Problem.CONVERSION, "INTEGER", "abc"),
        "SELECT x::integer FROM (VALUES ('abc')) AS t(x)": (Problem.CONVERSION, "INTEGER", None),
        "SELECT 2147483647 + x FROM (VALUES (1)) AS t(x)": (Problem.OVERFLOW, "INTEGER", None),
        "SELECT 1 / x FROM (VALUES (0)) AS t(x)": (Problem.DIVISION_BY_ZERO, None, None),
        "SELECT DATE '2024-02-30'": (Problem.INVALID_DATETIME, None, "2024-02-30"),
        "SELECT x::date FROM (VALUES ('abc')) AS t(x)": (Problem.INVALID_DATETIME, "DATE", None),
        "SELECT CAST('abcd' AS varchar(3)) || x::varchar(2) FROM (VALUES ('abc')) AS t(x)": None,
        "SELECT 'abcd'::char(2)::varchar(1)": None,
        "SELECT 'a' ~ x FROM (VALUES ('(')) AS t(x)": (Problem.INVALID_VALUE, None, None),
    }
    with adbc_pg.connect(postgres_database, autocommit=True) as connection, connection.cursor() as cursor:
        for sql, expected in cases.items():
            try:
                cursor.execute(sql)
                cursor.fetchall()
            except adbc_driver_manager.Error as error:
                details = {name.decode() if isinstance(name, bytes) else name:
                           value.decode() if isinstance(value, bytes) else value for name, value in error.details or ()}
                found = postgresql_failure(error.sqlstate or "", details["PG_DIAG_MESSAGE_PRIMARY"],
                                           at_statement_position="PG_DIAG_STATEMENT_POSITION" in details)
                assert found is not None and expected is not None, sql
                assert (found.problem, found.type_name, found.value) == expected, sql
            else:
                assert expected is None, sql  # PostgreSQL truncates explicit casts to varchar(n)


def test_mariadb_codes(mysql_database: str) -> None:
    import pymysql

    from tests.connectors.conftest import mysql_connect

    cases = {
        "SELECT 9223372036854775807 + x FROM (SELECT 1 AS x) t": (Problem.OVERFLOW, "BIGINT"),
        "SELECT exp(x) FROM (SELECT 1000 AS x) t": (Problem.OVERFLOW, "DOUBLE"),
        "SELECT DATE '2024-02-30'": (Problem.INVALID_DATETIME, "DATE"),
        "SELECT 'a' REGEXP '('": (Problem.INVALID_VALUE, None),  # a pattern from a row gives NULL
    }
    connection = mysql_connect(mysql_database)
    try:
        with connection.cursor() as cursor:
            for sql, expected in cases.items():
                with pytest.raises(pymysql.MySQLError) as raised:
                    cursor.execute(sql)
                code, text = raised.value.args[0], raised.value.args[1]
                found = mysql_failure(code, f"ERROR {code} (HY000): {text}")
                assert found is not None and (found.problem, found.type_name) == expected, (sql, code, text)
            # MariaDB converts silently in a SELECT: no error to classify (the planner's concern)
            cursor.execute("SELECT CAST('abc' AS SIGNED), 1 DIV 0")
            assert cursor.fetchall() == ((0, None),)
    finally:
        connection.close()


def test_duckdb_classes() -> None:
    from flightmesh.connectors.engine_errors import duckdb_failure

    cases = {
        "SELECT CAST('abc' AS INTEGER)": (Problem.CONVERSION, "INTEGER", "abc"),
        "SELECT CAST(x AS INTEGER) FROM (VALUES ('abc')) t(x)": (Problem.CONVERSION, "INTEGER", None),
        "SELECT CAST(300 AS TINYINT)": (Problem.OVERFLOW, "TINYINT", "300"),
        "SELECT x + 1 FROM (VALUES (9223372036854775807)) t(x)": (Problem.OVERFLOW, "BIGINT", None),
        "SELECT x // 0 FROM (VALUES (1)) t(x)": (Problem.DIVISION_BY_ZERO, None, None),
        "SELECT DATE '2024-02-30'": (Problem.INVALID_DATETIME, "DATE", "2024-02-30"),
        "SELECT CAST(x AS DATE) FROM (VALUES ('2024-02-30')) t(x)": (Problem.INVALID_DATETIME, "DATE", None),
        "SELECT regexp_matches('a', x) FROM (VALUES ('(')) t(x)": (Problem.INVALID_VALUE, None, None),
        "SELECT nope(1)": (Problem.COMPILE, None, None),
    }
    with duckdb.connect() as connection:
        for sql, expected in cases.items():
            with pytest.raises(duckdb.Error) as raised:
                connection.sql(sql).fetchall()
            found = duckdb_failure(raised.value)
            assert (found.problem, found.type_name, found.value) == expected, (sql, str(raised.value))


def test_sqlite_messages(tmp_path: Path) -> None:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    from flightmesh.connectors.engine_errors import sqlite_failure

    cases = {
        "SELECT abs(-9223372036854775807 - 1)": Problem.OVERFLOW,
        "SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)": Problem.OVERFLOW,
        "SELECT zeroblob(1000000000000)": Problem.STRING_TOO_LONG,
        "SELECT json('not json')": Problem.INVALID_VALUE,
        "SELECT nope(1)": Problem.COMPILE,
    }
    with adbc_sqlite.connect(str(tmp_path / "x.sqlite")) as connection, connection.cursor() as cursor:
        for sql, expected in cases.items():
            with pytest.raises(adbc_driver_manager.Error) as raised:
                cursor.execute(sql)
                cursor.fetchall()
            assert sqlite_failure(str(raised.value)).problem is expected, (sql, str(raised.value))
        cursor.execute("SELECT CAST('abc' AS INTEGER), 1 / 0")  # SQLite converts and divides silently
        assert cursor.fetchall() == [(0, None)]


def test_client_literals_are_the_statements_own_text() -> None:
    literals = client_literals("SELECT 'a''b', 42, -1.5 FROM t WHERE x = \"ident\" -- 'comment'")
    assert {"a'b", "42", "1.5"} <= literals
    assert "ident" not in literals and "comment" not in literals
