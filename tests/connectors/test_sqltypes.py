"""The one Arrow->SQL type map and literal helper (``flightmesh.mesh.sqltypes``), held to the engines.

Each decision the module documents is checked where it matters: exact types come back from
DuckDB (the merge engine) as the Arrow type they were made from, and every portable type — what
a NULL mask casts to — is accepted by every engine kind once sqlglot renders it.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from flightmesh.mesh.sqltypes import UnsupportedLiteral, portable_sql_type, sql_literal, sql_type, type_name

_TYPES = [
    pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(),
    pa.uint64(), pa.float32(), pa.float64(), pa.decimal128(12, 2), pa.date32(), pa.time64("us"),
    pa.timestamp("us"), pa.timestamp("us", "UTC"), pa.month_day_nano_interval(), pa.string(), pa.binary(),
    pa.list_(pa.int32()),
]


@pytest.mark.parametrize("arrow_type", _TYPES, ids=str)
def test_exact_type_comes_back_from_duckdb_unchanged(arrow_type: pa.DataType) -> None:
    # int8 -> TINYINT, not SMALLINT (the copy in governance had drifted): a column keeps its type
    # whether or not a NULL mask replaced its values.
    name = sql_type(arrow_type)
    assert name is not None
    table = duckdb.connect().sql(f"SELECT CAST(NULL AS {name}) AS v").to_arrow_table()
    read = table.schema.field("v").type
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz:
        # TIMESTAMPTZ comes back in the session's zone (Etc/UTC here): aware, same unit
        assert pa.types.is_timestamp(read) and read.tz and read.unit == arrow_type.unit
    else:
        assert read == arrow_type


def test_decisions() -> None:
    assert sql_type(pa.int8()) == "TINYINT"
    assert portable_sql_type(pa.int8()) == "TINYINT"
    assert portable_sql_type(pa.float32()) == "FLOAT"
    assert portable_sql_type(pa.uint16()) == "INT"            # holds 65535; SMALLINT did not
    assert portable_sql_type(pa.uint64()) == "DECIMAL(20, 0)"
    assert portable_sql_type(pa.binary()) is None             # no CAST to VARBINARY in MariaDB
    assert sql_type(pa.struct([("a", pa.int8())])) is None
    assert sql_type(pa.list_(pa.struct([("a", pa.int8())]))) is None
    assert type_name(pa.int32()) == "INTEGER"
    assert type_name(pa.decimal128(12, 2)) == "DECIMAL(12,2)"
    assert type_name(pa.dictionary(pa.int8(), pa.string())) == "VARCHAR"


def _runners(postgres: str | None, mysql: str | None) -> dict[str, Callable[[str], Any]]:
    runners: dict[str, Callable[[str], Any]] = {
        "duckdb": lambda sql: duckdb.connect().execute(sql).fetchall(),
        "sqlite": lambda sql: sqlite3.connect(":memory:").execute(sql).fetchall(),
    }
    if postgres is not None:
        import adbc_driver_postgresql.dbapi as adbc_pg

        def on_postgres(sql: str) -> Any:
            with adbc_pg.connect(postgres) as connection, connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()

        runners["postgres"] = on_postgres
    if mysql is not None:
        import pymysql

        from flightmesh.connectors.address import EngineAddress

        address = EngineAddress.parse(mysql, default_port=3306, default_user="root")

        def on_mysql(sql: str) -> Any:
            connection = pymysql.connect(host=address.host, port=address.port, user=address.user,
                                         password=address.password or "")
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
                    return cursor.fetchall()
            finally:
                connection.close()

        runners["mysql"] = on_mysql
    return runners


def test_portable_casts_run_on_every_engine(postgres_database: str, mysql_database: str) -> None:
    failures = []
    for dialect, run in _runners(postgres_database, mysql_database).items():
        for arrow_type in _TYPES:
            name = portable_sql_type(arrow_type)
            if name is None:
                continue
            sql = exp.select(exp.cast(exp.Null(), name).as_("v")).sql(dialect)
            try:
                run(sql)
            except Exception as error:  # collected, reported together
                failures.append(f"{dialect}: {sql}: {error}")
    assert not failures


def test_literals() -> None:
    aware = datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC)
    assert sql_literal(aware).sql("duckdb") == "CAST('2024-01-02 03:04:00+00:00' AS TIMESTAMPTZ)"
    assert sql_literal(float("nan")).sql("duckdb") == "CAST('nan' AS DOUBLE)"
    assert sql_literal(1.5).sql("duckdb") == "CAST(1.5 AS DOUBLE)"
    assert sql_literal(True).sql("duckdb") == "TRUE"
    assert isinstance(sql_literal(b"\x01"), exp.HexString)
    with pytest.raises(UnsupportedLiteral):
        sql_literal(object())


@pytest.mark.parametrize("value", [0, 7, -7, 2**31, -(2**31), 2**63 - 1, -(2**63) + 1])
def test_integer_literals_read_back_as_the_integer(value: int) -> None:
    # Built directly (not through Literal.number's text round trip), still the tree sqlglot builds,
    # and each engine kind that runs in process reads the rendering back as the same integer.
    assert sql_literal(value) == exp.Literal.number(value)
    assert duckdb.connect().sql(f"SELECT {sql_literal(value).sql('duckdb')} AS v").fetchall() == [(value,)]
    assert sqlite3.connect(":memory:").execute(f"SELECT {sql_literal(value).sql('sqlite')}").fetchone() == (value,)


def test_attribute_and_parameter_literals_are_the_same_helper() -> None:
    from flightmesh.governance.principal_sql import PolicySqlError, literal_of

    aware = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    # An attribute's time zone used to be dropped (TIMESTAMP); a parameter's never was.
    assert literal_of(aware).sql() == sql_literal(aware).sql()
    assert literal_of(float("inf")).sql("duckdb") == "CAST('inf' AS DOUBLE)"
    with pytest.raises(PolicySqlError, match="cannot be used in SQL"):
        literal_of(object())
