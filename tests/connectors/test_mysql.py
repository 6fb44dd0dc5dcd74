# ruff: noqa: E501 - the type table reads better one type per line
"""MariaDB/MySQL specifics: every type round-trips, errors name the product, the engine comes back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from .conftest import MYSQL_PORT, mysql_execute
from .proxy import Proxy

pytestmark = pytest.mark.mysql

# column, MariaDB type, Arrow type, a value (as SQL literal), the value read back
TYPES = [
    ("c_tinyint", "tinyint", pa.int8(), "-128", -128),
    ("c_utinyint", "tinyint unsigned", pa.uint8(), "255", 255),
    ("c_smallint", "smallint", pa.int16(), "-32768", -32768),
    ("c_mediumint", "mediumint", pa.int32(), "-8388608", -8388608),
    ("c_int", "int", pa.int32(), "2147483647", 2147483647),
    ("c_uint", "int unsigned", pa.uint32(), "4294967295", 4294967295),
    ("c_bigint", "bigint", pa.int64(), "-9223372036854775808", -9223372036854775808),
    ("c_ubigint", "bigint unsigned", pa.uint64(), "18446744073709551615", 18446744073709551615),
    ("c_decimal", "decimal(12,4)", pa.decimal128(12, 4), "-12345678.9012", Decimal("-12345678.9012")),
    ("c_decimal_max", "decimal(28,10)", pa.decimal128(28, 10), "123456789012345678.0123456789", Decimal("123456789012345678.0123456789")),
    ("c_float", "float", pa.float32(), "1.5", 1.5),
    ("c_double", "double", pa.float64(), "-2.25e300", -2.25e300),
    ("c_bool", "boolean", pa.bool_(), "true", True),
    ("c_char", "char(3)", pa.string(), "'ab'", "ab"),
    ("c_varchar", "varchar(20)", pa.string(), "'ünïcode ''q'''", "ünïcode 'q'"),
    ("c_text", "text", pa.string(), "'long text'", "long text"),
    ("c_binary", "varbinary(4)", pa.binary(), "X'00FF10'", b"\x00\xff\x10"),
    ("c_blob", "blob", pa.binary(), "X'DEADBEEF'", b"\xde\xad\xbe\xef"),
    ("c_bit", "bit(8)", pa.binary(), "b'10100101'", b"\xa5"),
    ("c_date", "date", pa.date32(), "'2024-02-29'", dt.date(2024, 2, 29)),
    ("c_time", "time(6)", pa.time64("us"), "'23:59:59.999999'", dt.time(23, 59, 59, 999999)),
    ("c_datetime", "datetime(6)", pa.timestamp("us"), "'2024-02-29 12:00:00.5'", dt.datetime(2024, 2, 29, 12, 0, 0, 500000)),
    # TIMESTAMP is stored in UTC: inserted under time_zone +02:00 it reads back 2 hours earlier in UTC
    ("c_timestamp", "timestamp(6) NULL", pa.timestamp("us", tz="UTC"), "'2024-02-29 12:00:00'", dt.datetime(2024, 2, 29, 10, 0, tzinfo=dt.UTC)),
    ("c_year", "year", pa.int16(), "2024", 2024),
    ("c_json", "json", pa.string(), "'{\"a\": [1, 2]}'", '{"a": [1, 2]}'),
    ("c_enum", "enum('sad','happy')", pa.string(), "'happy'", "happy"),
    ("c_set", "set('a','b')", pa.string(), "'a,b'", "a,b"),
    ("c_uuid", "uuid", pa.string(), "'123e4567-e89b-12d3-a456-426614174000'", "123e4567-e89b-12d3-a456-426614174000"),
]


@pytest.fixture(scope="module")
def typed(mysql_database: str) -> Any:
    from flightmesh.connectors.mysql import MySQLConnector

    columns = ", ".join(f"{name} {kind}" for name, kind, *_ in TYPES)
    values = ", ".join(literal for _, _, _, literal, _ in TYPES)
    mysql_execute(mysql_database,
                  f"CREATE TABLE every_type (id int NOT NULL, {columns})",
                  "SET time_zone = '+02:00'",
                  f"INSERT INTO every_type VALUES (1, {values})",
                  "INSERT INTO every_type (id) VALUES (2)",
                  "CREATE TABLE odd (id int, shape geometry, wide decimal(40,2))")
    connector = MySQLConnector("shop", mysql_database, pool_size=2)
    yield connector
    connector.close()


def test_describe_maps_every_type(typed: Any) -> None:
    schema = typed.describe("every_type")
    assert schema.field("id").nullable is False
    assert [(f.name, f.type) for f in schema][1:] == [(name, arrow) for name, _, arrow, _, _ in TYPES]


def test_values_round_trip(typed: Any) -> None:
    from flightmesh.connectors.base import FragmentQuery
    from flightmesh.mesh import CancelScope

    schema = typed.describe("every_type")
    reader = typed.execute(FragmentQuery("SELECT * FROM `every_type` ORDER BY id", expected_schema=schema),
                           CancelScope())
    assert reader.schema.equals(schema)
    rows = reader.read_all().to_pylist()
    assert rows[0] == {"id": 1, **{name: value for name, _, _, _, value in TYPES}}
    assert rows[1] == {"id": 2, **{name: None for name, *_ in TYPES}}


def test_unknown_and_inexact_types_are_clear_errors(typed: Any) -> None:
    from flightmesh.mesh import EngineError

    with pytest.raises(EngineError) as caught:
        typed.describe("odd")
    assert caught.value.product == "shop" and "shape" in caught.value.detail and "geometry" in caught.value.detail
    mysql_execute(typed.address.uri("mysql"), "ALTER TABLE odd DROP COLUMN shape")
    with pytest.raises(EngineError, match=r"decimal\(40,2\)"):
        typed.describe("odd")


def test_dropped_table_names_the_product(mysql_database: str) -> None:
    from flightmesh.connectors.base import FragmentQuery
    from flightmesh.connectors.mysql import MySQLConnector
    from flightmesh.mesh import CancelScope, EngineError

    mysql_execute(mysql_database, "CREATE TABLE short_lived (x int)")
    connector = MySQLConnector("shop", mysql_database)
    try:
        assert connector.describe("short_lived").names == ["x"]
        mysql_execute(mysql_database, "DROP TABLE short_lived")
        with pytest.raises(EngineError) as caught:
            connector.execute(FragmentQuery("SELECT x FROM `short_lived`"), CancelScope())
        assert caught.value.product == "shop" and "no longer exists" in caught.value.detail
    finally:
        connector.close()


def test_estimates_are_cached_until_refreshed(mysql_database: str) -> None:
    from flightmesh.connectors.mysql import MySQLConnector

    mysql_execute(mysql_database, "CREATE TABLE counted (x int primary key)",
                  "INSERT INTO counted SELECT seq FROM seq_1_to_300", "ANALYZE TABLE counted")
    connector = MySQLConnector("shop", mysql_database)
    try:
        first = connector.estimate_rows("counted")
        assert first is not None and 150 <= first <= 600
        mysql_execute(mysql_database, "INSERT INTO counted SELECT seq FROM seq_301_to_3000", "ANALYZE TABLE counted")
        assert connector.estimate_rows("counted") == first        # cached
        connector.refresh_statistics()
        refreshed = connector.estimate_rows("counted")
        assert refreshed is not None and refreshed > 1500
    finally:
        connector.close()


def test_timeout_is_the_engines(typed: Any) -> None:
    from flightmesh.connectors.base import FragmentQuery
    from flightmesh.mesh import CancelScope, QueryTimeout

    with pytest.raises(QueryTimeout):
        typed.execute(FragmentQuery("SELECT SLEEP(5) AS x", timeout_seconds=0.3), CancelScope())


def test_unreachable_engine_then_recovery() -> None:
    from flightmesh.connectors.base import FragmentQuery
    from flightmesh.connectors.mysql import MySQLConnector
    from flightmesh.mesh import CancelScope, EngineUnavailable

    pytest.importorskip("connectorx")
    proxy = Proxy(MYSQL_PORT)
    connector = MySQLConnector("shop", f"mysql://root@127.0.0.1:{proxy.port}/test", pool_size=2)
    query = FragmentQuery("SELECT 1 AS one", expected_schema=pa.schema([("one", pa.int64())]))
    try:
        with pytest.raises(EngineUnavailable) as caught:      # constructing it touched nothing
            connector.execute(query, CancelScope())
        assert caught.value.product == "shop"
        proxy.start()
        assert connector.execute(query, CancelScope()).read_all().to_pylist() == [{"one": 1}]
        proxy.stop()                                           # the engine "goes down" mid-session
        with pytest.raises(EngineUnavailable):
            connector.execute(query, CancelScope())
        proxy.start()                                          # ... and comes back
        assert connector.execute(query, CancelScope()).read_all().to_pylist() == [{"one": 1}]
    finally:
        connector.close()
        proxy.stop()


def test_wrong_credentials_are_unavailable_naming_the_product() -> None:
    from flightmesh.connectors.mysql import MySQLConnector
    from flightmesh.mesh import EngineUnavailable

    connector = MySQLConnector("shop", "mysql://no_such_user_fm@127.0.0.1:3306/test")
    with pytest.raises(EngineUnavailable, match="credentials") as caught:
        connector.table_names()
    assert caught.value.product == "shop"
