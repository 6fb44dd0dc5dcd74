"""GetSqlInfo as ADBC, flightsql-dbapi and the JDBC driver ask for it."""

from __future__ import annotations

from importlib import metadata

import adbc_driver_flightsql.dbapi as dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.mesh import Settings
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql
from flightmesh.server.sqlinfo import server_info, sql_info_batch
from tests.server.conftest import adbc_connect, flight_client, uri_of
from tests.server.support import PASSWORDS

# The spec's union, written out independently of the server's constant.
SPEC_SCHEMA = pa.schema([
    pa.field("info_name", pa.uint32(), nullable=False),
    pa.field("value", pa.dense_union([
        pa.field("string_value", pa.utf8(), nullable=False),
        pa.field("bool_value", pa.bool_(), nullable=False),
        pa.field("bigint_value", pa.int64(), nullable=False),
        pa.field("int32_bitmask", pa.int32(), nullable=False),
        pa.field("string_list", pa.list_(pa.utf8()), nullable=False),
        pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())), nullable=False),
    ], type_codes=[0, 1, 2, 3, 4, 5]), nullable=False),
])

# Union child each id must use, as the JDBC driver casts them (notes §1.2).
STRING_IDS = {0, 1, 504, 513, 514, 529, 530, 531}
BOOL_IDS = {3, 515, 516, 518, 519, 520, 521, 523, 524, 527, 532, 536, 537, 539, 556, 563, 565, 566,
            572, 573, 574, 575, 576}
BIGINT_IDS = set(range(541, 556)) | set(range(557, 562)) | {562}
INT32_IDS = {522, 525, 526, 528, 533, 534, 535, 538, 540, 564, 567, 503, 505, 507}  # 503-507: the spec says int32


def _sql_info(server: FlightMeshServer, ids: list[int]) -> pa.Table:
    client, options = flight_client(server)
    descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandGetSqlInfo(info=ids)))
    info = client.get_flight_info(descriptor, options)
    assert info.schema.equals(SPEC_SCHEMA)
    assert client.get_schema(descriptor, options).schema.equals(SPEC_SCHEMA)
    table = client.do_get(info.endpoints[0].ticket, options).read_all()
    assert table.schema.equals(SPEC_SCHEMA) and table.column(1).num_chunks == 1
    return table


def _as_dict(table: pa.Table) -> dict[int, tuple[int, object]]:
    values = table.column("value").chunk(0)
    return {
        name: (values.type_codes[position].as_py(), values[position].as_py())
        for position, name in enumerate(table.column("info_name").to_pylist())
    }


def test_adbc_get_info_reports_flightmesh(server: FlightMeshServer) -> None:
    with adbc_connect(server) as connection:
        info = connection.adbc_get_info()
    assert info["vendor_name"] == "flightmesh"
    assert info["vendor_version"] == metadata.version("flightmesh")
    assert info["vendor_arrow_version"] == pa.__version__


def test_adbc_falls_back_to_autocommit_because_transactions_are_none(server: FlightMeshServer) -> None:
    """ADBC reads id 8 on connect; NONE (0) makes it refuse manual commit instead of sending
    BeginTransaction."""
    db_kwargs = {"username": "alice", "password": PASSWORDS["alice"]}
    with pytest.warns(Warning, match="autocommit"):
        connection = dbapi.connect(uri_of(server), db_kwargs=db_kwargs)
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]


def test_flightsql_dbapi_request(server: FlightMeshServer) -> None:
    """flightsql-dbapi's dialect asks [0, 2, 3, 504] and indexes 3 and 504 directly."""
    answers = _as_dict(_sql_info(server, [0, 2, 3, 504]))
    assert answers == {0: (0, "flightmesh"), 2: (0, pa.__version__), 3: (1, True), 504: (0, '"')}


def test_unknown_ids_are_skipped_and_order_is_kept(server: FlightMeshServer) -> None:
    answers = _sql_info(server, [8, 99_999, 9, 10_000, 8])
    assert answers.column("info_name").to_pylist() == [8, 9]
    assert _as_dict(answers) == {8: (3, 0), 9: (1, False)}


def test_all_is_only_enum_ids_each_in_the_child_jdbc_reads(server: FlightMeshServer) -> None:
    answers = _as_dict(_sql_info(server, []))
    assert set(answers) <= set(sql.SqlInfo.values())
    assert {0, 1, 2, 3, 4, 8, 9, 504} <= set(answers)
    for info, (code, _) in answers.items():
        expected = 0 if info in STRING_IDS else 1 if info in BOOL_IDS else 2 if info in BIGINT_IDS else \
            3 if info in INT32_IDS else None
        if expected is not None:
            assert code == expected, f"SqlInfo {info} is sent as union child {code}, clients read {expected}"
    assert answers[3] == (1, True)  # read-only
    assert answers[8] == (3, 0)  # no transactions
    assert answers[9] == (1, False)  # no CancelQuery


def test_encoding_of_every_child_kind() -> None:
    values = server_info(Settings())
    batch = sql_info_batch(values, [])
    batch.validate(full=True)
    assert batch.schema.equals(SPEC_SCHEMA)
    assert batch.num_rows == len(values)
    empty = sql_info_batch(values, [12345])
    assert empty.num_rows == 0 and empty.schema.equals(SPEC_SCHEMA)


def test_jdbc_function_lists_and_conversions(server: FlightMeshServer) -> None:
    """JDBC's getSQLKeywords/getNumericFunctions/getStringFunctions/getSystemFunctions/
    getTimeDateFunctions read 508-512 as string lists, supportsConvert reads 517 as a map.
    The names listed are ones the server runs; escape hatches are not listed."""
    answers = _as_dict(_sql_info(server, [508, 509, 510, 511, 512, 517]))
    assert {code for code, _ in answers.values()} == {4, 5}
    numeric, string, datetime = answers[509][1], answers[510][1], answers[512][1]
    assert {"ABS", "ROUND", "SQRT"} <= set(numeric)
    assert {"UPPER", "SUBSTRING", "REPLACE"} <= set(string)
    assert {"DATE_TRUNC", "EXTRACT", "YEAR"} <= set(datetime)
    listed = set(numeric) | set(string) | set(datetime)
    assert not listed & {"PG_READ_FILE", "READ_CSV", "GETENV", "AI_CLASSIFY", "LOAD_EXTENSION"}
    conversions = dict(answers[517][1])
    assert sql.SQL_CONVERT_DATE in conversions[sql.SQL_CONVERT_VARCHAR]
    assert sql.SQL_CONVERT_DATE not in conversions[sql.SQL_CONVERT_INTEGER]
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        for name in ("ABS", "SQRT", "UPPER", "REVERSE", "YEAR"):
            argument = "'abc'" if name in ("UPPER", "REVERSE") else "DATE '2024-05-01'" if name == "YEAR" else "4"
            cursor.execute(f"SELECT {name}({argument}) FROM sales.orders LIMIT 1")
            assert cursor.fetchall()
