# ruff: noqa: E501 - the type table reads better one type per line
"""PostgreSQL specifics: every type round-trips, errors name the product, the engine comes back."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.postgresql import PostgreSQLConnector
from flightmesh.mesh import CancelScope, EngineError, EngineUnavailable, ProductSpec, Settings
from flightmesh.mesh.descriptor import EngineSpec, TableSpec

from .conftest import PG_PORT, pg_execute
from .proxy import Proxy

pytestmark = pytest.mark.postgresql

UTC = dt.UTC
ID = uuid.UUID("123e4567-e89b-12d3-a456-426614174000")

# column, PostgreSQL type, Arrow type, a value (as PostgreSQL literal), the value read back
TYPES = [
    ("c_int2", "smallint", pa.int16(), "-32768", -32768),
    ("c_int4", "integer", pa.int32(), "2147483647", 2147483647),
    ("c_int8", "bigint", pa.int64(), "-9223372036854775808", -9223372036854775808),
    ("c_numeric", "numeric(12,4)", pa.decimal128(12, 4), "-12345678.9012", Decimal("-12345678.9012")),
    ("c_numeric_wide", "numeric(50,10)", pa.decimal256(50, 10), "1234567890123456789012345678901234567890.0123456789",
     Decimal("1234567890123456789012345678901234567890.0123456789")),
    ("c_numeric_free", "numeric", pa.float64(), "2.5", 2.5),
    ("c_real", "real", pa.float32(), "1.5", 1.5),
    ("c_double", "double precision", pa.float64(), "'-Infinity'", float("-inf")),
    ("c_bool", "boolean", pa.bool_(), "true", True),
    ("c_text", "text", pa.string(), "'ünïcode ''q'''", "ünïcode 'q'"),
    ("c_varchar", "varchar(5)", pa.string(), "'abc'", "abc"),
    ("c_char", "char(3)", pa.string(), "'ab'", "ab "),
    ("c_bytea", "bytea", pa.binary(), "'\\x00ff10'::bytea", b"\x00\xff\x10"),
    ("c_date", "date", pa.date32(), "'2024-02-29'", dt.date(2024, 2, 29)),
    ("c_time", "time", pa.time64("us"), "'23:59:59.999999'", dt.time(23, 59, 59, 999999)),
    ("c_timestamp", "timestamp", pa.timestamp("us"), "'2024-02-29 12:00:00.5'", dt.datetime(2024, 2, 29, 12, 0, 0, 500000)),
    ("c_timestamptz", "timestamptz", pa.timestamp("us", tz="UTC"), "'2024-02-29 12:00:00+02'",
     dt.datetime(2024, 2, 29, 10, 0, tzinfo=UTC)),
    ("c_interval", "interval", pa.month_day_nano_interval(), "'1 month 2 days 3 seconds'",
     pa.MonthDayNano([1, 2, 3_000_000_000])),
    ("c_uuid", "uuid", pa.string(), f"'{ID}'", str(ID)),
    ("c_json", "json", pa.string(), "'{\"a\": [1, 2]}'", '{"a": [1, 2]}'),
    ("c_jsonb", "jsonb", pa.string(), "'{\"b\": true}'", '{"b": true}'),
    ("c_int_array", "integer[]", pa.list_(pa.int32()), "ARRAY[1, NULL, 3]", [1, None, 3]),
    ("c_text_array", "text[]", pa.list_(pa.string()), "ARRAY['x', 'y']", ["x", "y"]),
    ("c_numeric_array", "numeric(6,2)[]", pa.list_(pa.decimal128(6, 2)), "ARRAY[1.25, -3]",
     [Decimal("1.25"), Decimal("-3.00")]),
    ("c_mood", "fm_mood", pa.string(), "'happy'", "happy"),
    ("c_domain", "fm_positive", pa.int32(), "7", 7),
]


@pytest.fixture(scope="module")
def typed(postgres_database: str) -> PostgreSQLConnector:
    columns = ", ".join(f"{name} {kind}" for name, kind, *_ in TYPES)
    values = ", ".join(literal for _, _, _, literal, _ in TYPES)
    pg_execute(postgres_database,
               "CREATE SCHEMA IF NOT EXISTS pgtypes",
               "CREATE TYPE pgtypes.fm_mood AS ENUM ('sad', 'happy')",
               "CREATE DOMAIN pgtypes.fm_positive AS integer CHECK (VALUE > 0)",
               "SET search_path = pgtypes, public",
               f"CREATE TABLE pgtypes.every_type (id integer NOT NULL, {columns.replace('fm_', 'pgtypes.fm_')})",
               f"INSERT INTO pgtypes.every_type VALUES (1, {values.replace('fm_', 'pgtypes.fm_')})",
               "INSERT INTO pgtypes.every_type (id) VALUES (2)",
               "CREATE TABLE pgtypes.odd (id integer, addr inet)")
    connector = PostgreSQLConnector("crm", postgres_database, pool_size=2)
    yield connector
    connector.close()


def test_describe_maps_every_type(typed: PostgreSQLConnector) -> None:
    schema = typed.describe("pgtypes.every_type")
    assert schema.field("id").nullable is False
    assert [(f.name, f.type) for f in schema][1:] == [(name, arrow) for name, _, arrow, _, _ in TYPES]


@pytest.mark.parametrize("planner_schema", [True, False], ids=["planner-schema", "own-schema"])
def test_values_round_trip(typed: PostgreSQLConnector, planner_schema: bool) -> None:
    schema = typed.describe("pgtypes.every_type")
    query = FragmentQuery('SELECT * FROM "pgtypes"."every_type" ORDER BY id',
                          expected_schema=schema if planner_schema else None)
    reader = typed.execute(query, CancelScope())
    assert reader.schema.equals(typed.result_schema(query))
    rows = reader.read_all().to_pylist()
    assert rows[0] == {"id": 1, **{name: value for name, _, _, _, value in TYPES}}
    assert rows[1] == {"id": 2, **{name: None for name, *_ in TYPES}}


def test_sum_of_numeric_is_exact_with_the_planners_type(typed: PostgreSQLConnector) -> None:
    schema = pa.schema([("total", pa.decimal128(38, 4))])
    query = FragmentQuery('SELECT sum(c_numeric) * 3 AS total FROM "pgtypes"."every_type"', expected_schema=schema)
    assert typed.execute(query, CancelScope()).read_all().to_pylist() == [{"total": Decimal("-37037036.7036")}]


def test_unknown_type_is_a_clear_error(typed: PostgreSQLConnector) -> None:
    with pytest.raises(EngineError) as caught:
        typed.describe("pgtypes.odd")
    assert caught.value.product == "crm" and "addr" in caught.value.detail and "inet" in caught.value.detail
    with pytest.raises(EngineError, match="inet"):
        typed.execute(FragmentQuery('SELECT addr FROM "pgtypes"."odd"'), CancelScope())


def test_dropped_table_names_the_product(postgres_database: str) -> None:
    pg_execute(postgres_database, "CREATE TABLE public.short_lived (x integer)")
    connector = PostgreSQLConnector("crm", postgres_database)
    try:
        assert connector.describe("short_lived").names == ["x"]
        pg_execute(postgres_database, "DROP TABLE public.short_lived")
        with pytest.raises(EngineError) as caught:
            connector.execute(FragmentQuery('SELECT x FROM "short_lived"'), CancelScope())
        assert caught.value.product == "crm" and "no longer exists" in caught.value.detail
        assert "short_lived" in (caught.value.internal or "")
    finally:
        connector.close()


def test_estimates_are_cached_until_refreshed(postgres_database: str) -> None:
    pg_execute(postgres_database, "CREATE TABLE public.counted AS SELECT generate_series(1, 500) AS x",
               "ANALYZE public.counted")
    connector = PostgreSQLConnector("crm", postgres_database)
    try:
        assert connector.estimate_rows("counted") == 500
        pg_execute(postgres_database, "INSERT INTO public.counted SELECT generate_series(1, 500)",
                   "ANALYZE public.counted")
        assert connector.estimate_rows("counted") == 500      # cached
        connector.refresh_statistics("counted")
        assert connector.estimate_rows("counted") == 1000
    finally:
        connector.close()


def test_identity_is_engine_database_and_user(postgres_database: str) -> None:
    one = PostgreSQLConnector("a", postgres_database)
    two = PostgreSQLConnector("b", postgres_database.replace("postgres@", "postgres:secret@"))
    other_user = PostgreSQLConnector("c", postgres_database.replace("postgres@", "reader@"))
    assert one.identity() == two.identity() != other_user.identity()
    assert "secret" not in two.identity()


def test_from_spec_takes_engine_options(postgres_database: str) -> None:
    spec = ProductSpec("crm", EngineSpec("postgresql", uri=postgres_database,
                                         options={"pool_size": 2, "timeout_seconds": 7, "password": "x"}),
                       {"t": TableSpec("t", "t")})
    connector = PostgreSQLConnector.from_spec(spec, Settings())
    assert connector.timeout_seconds == 7 and connector._pool.size == 2
    assert connector.address.password == "x"


def test_unreachable_engine_then_recovery() -> None:
    """Lazy open, UNAVAILABLE naming the product while down, and reconnection when it is back."""
    proxy = Proxy(PG_PORT)
    connector = PostgreSQLConnector("crm", f"postgresql://postgres@127.0.0.1:{proxy.port}/test", pool_size=2)
    query = FragmentQuery("SELECT 1 AS one", expected_schema=pa.schema([("one", pa.int32())]))
    try:
        with pytest.raises(EngineUnavailable) as caught:     # constructing it touched nothing
            connector.execute(query, CancelScope())
        assert caught.value.product == "crm"
        assert "unavailable" in str(caught.value)
        proxy.start()
        assert connector.execute(query, CancelScope()).read_all().to_pylist() == [{"one": 1}]
        proxy.stop()                                          # the engine "goes down" mid-session
        with pytest.raises(EngineUnavailable):
            connector.execute(query, CancelScope()).read_all()
        proxy.start()                                         # ... and comes back
        assert connector.execute(query, CancelScope()).read_all().to_pylist() == [{"one": 1}]
    finally:
        connector.close()
        proxy.stop()


def test_wrong_credentials_are_unavailable_naming_the_product() -> None:
    connector = PostgreSQLConnector("crm", "postgresql://no_such_role_fm@127.0.0.1:5432/test")
    with pytest.raises(EngineUnavailable, match="credentials") as caught:
        connector.table_names()
    assert caught.value.product == "crm"


def test_timeout_stops_the_statement(typed: PostgreSQLConnector) -> None:
    from flightmesh.mesh import QueryTimeout

    with pytest.raises(QueryTimeout):
        typed.execute(FragmentQuery("SELECT pg_sleep(5)::text AS x", timeout_seconds=0.2), CancelScope()).read_all()
    # the session's timeout is per fragment: the next one, without a limit, runs to its end
    table = typed.execute(FragmentQuery("SELECT pg_sleep(0.3)::text AS x", timeout_seconds=None), CancelScope())
    assert table.read_all().num_rows == 1
