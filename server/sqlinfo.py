"""GetSqlInfo: what flightmesh tells clients about itself, and how that is encoded.

The answer is a table ``<info_name: uint32 not null, value: dense_union not null>`` whose union
has exactly the six children of the spec, in the spec's order, non-nullable. Clients index the
children by position (ADBC reads id 8 from child 3 of *every* batch), so the union type never
changes, whatever ids were asked for.

Rules (``../shared/notes/flight-sql-clients.md`` §1.1-1.3):

* an empty request means "all", and "all" is only ids of the ``SqlInfo`` enum (JDBC stores the
  answer in an EnumMap and fails on an id it cannot name);
* unknown ids are skipped, never an error (ADBC asks for ids it may not get);
* each id uses the union child the spec (or, for 562, the JDBC driver) reads it as;
* what flightmesh cannot vouch for is left out; clients then use their defaults.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata

import pyarrow as pa

from flightmesh.governance.language import DATETIME_FUNCTIONS, NUMERIC_FUNCTIONS, STRING_FUNCTIONS, function_names
from flightmesh.mesh import Settings

from .proto import FlightSql_pb2 as sql

__all__ = ["SQL_INFO_SCHEMA", "SQL_INFO_VALUE_TYPE", "InfoValue", "Kind", "server_info", "sql_info_batch"]


SQL_INFO_VALUE_TYPE = pa.dense_union(
    [
        pa.field("string_value", pa.utf8(), nullable=False),
        pa.field("bool_value", pa.bool_(), nullable=False),
        pa.field("bigint_value", pa.int64(), nullable=False),
        pa.field("int32_bitmask", pa.int32(), nullable=False),
        pa.field("string_list", pa.list_(pa.utf8()), nullable=False),
        pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())), nullable=False),
    ]
)
SQL_INFO_SCHEMA = pa.schema(
    [
        pa.field("info_name", pa.uint32(), nullable=False),
        pa.field("value", SQL_INFO_VALUE_TYPE, nullable=False),
    ]
)


class Kind(enum.IntEnum):
    """Union child (and type code) of a value."""

    STRING = 0
    BOOL = 1
    BIGINT = 2
    INT32 = 3  # the child is called int32_bitmask; ordinals use it too
    STRING_LIST = 4
    INT32_LIST_MAP = 5


@dataclass(frozen=True)
class InfoValue:
    kind: Kind
    value: object


def _bits(*positions: int) -> int:
    """A bitmask with (1 << position) set for each enum value given."""
    mask = 0
    for position in positions:
        mask |= 1 << position
    return mask


def _flightmesh_version() -> str:
    try:
        return metadata.version("flightmesh")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def server_info(settings: Settings, server_name: str = "flightmesh") -> dict[int, InfoValue]:
    """Every SqlInfo id flightmesh answers, with its value."""
    S, B, I64, I32 = Kind.STRING, Kind.BOOL, Kind.BIGINT, Kind.INT32
    # Prepared statements left idle this long are closed (see statements.py).
    handle_timeout_ms = min(int(settings.token_ttl_seconds * 1000), 2**31 - 1)
    values: dict[int, InfoValue] = {
        sql.FLIGHT_SQL_SERVER_NAME: InfoValue(S, server_name),
        sql.FLIGHT_SQL_SERVER_VERSION: InfoValue(S, _flightmesh_version()),
        sql.FLIGHT_SQL_SERVER_ARROW_VERSION: InfoValue(S, pa.__version__),
        sql.FLIGHT_SQL_SERVER_READ_ONLY: InfoValue(B, True),
        sql.FLIGHT_SQL_SERVER_SQL: InfoValue(B, True),
        sql.FLIGHT_SQL_SERVER_SUBSTRAIT: InfoValue(B, False),
        # NONE: ADBC then runs in autocommit instead of sending BeginTransaction.
        sql.FLIGHT_SQL_SERVER_TRANSACTION: InfoValue(I32, sql.SQL_SUPPORTED_TRANSACTION_NONE),
        sql.FLIGHT_SQL_SERVER_CANCEL: InfoValue(B, False),
        sql.FLIGHT_SQL_SERVER_BULK_INGESTION: InfoValue(B, False),
        sql.FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED: InfoValue(B, False),
        sql.FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT: InfoValue(I32, handle_timeout_ms),
        sql.FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT: InfoValue(I32, 0),
        sql.SQL_DDL_CATALOG: InfoValue(B, False),
        sql.SQL_DDL_SCHEMA: InfoValue(B, False),
        sql.SQL_DDL_TABLE: InfoValue(B, False),
        sql.SQL_IDENTIFIER_CASE: InfoValue(I32, sql.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE),
        sql.SQL_IDENTIFIER_QUOTE_CHAR: InfoValue(S, '"'),
        # The mesh dialect is DuckDB's: quoted names resolve without case too, and NULLs sort last
        # in both directions unless NULLS FIRST is written.
        sql.SQL_QUOTED_IDENTIFIER_CASE: InfoValue(I32, sql.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE),
        sql.SQL_NULL_ORDERING: InfoValue(I32, sql.SQL_NULLS_SORTED_AT_END),
        sql.SQL_ALL_TABLES_ARE_SELECTABLE: InfoValue(B, True),  # metadata lists readable tables only
        sql.SQL_SEARCH_STRING_ESCAPE: InfoValue(S, "\\"),  # metadata LIKE patterns honour \% and \_
        sql.SQL_EXTRA_NAME_CHARACTERS: InfoValue(S, ""),
        sql.SQL_SUPPORTS_COLUMN_ALIASING: InfoValue(B, True),
        sql.SQL_NULL_PLUS_NULL_IS_NULL: InfoValue(B, True),
        sql.SQL_SUPPORTS_TABLE_CORRELATION_NAMES: InfoValue(B, True),
        sql.SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES: InfoValue(B, False),
        sql.SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY: InfoValue(B, True),
        sql.SQL_SUPPORTS_ORDER_BY_UNRELATED: InfoValue(B, True),
        sql.SQL_SUPPORTED_GROUP_BY: InfoValue(
            I32, _bits(sql.SQL_GROUP_BY_UNRELATED, sql.SQL_GROUP_BY_BEYOND_SELECT)
        ),
        sql.SQL_SUPPORTED_GRAMMAR: InfoValue(I32, _bits(sql.SQL_MINIMUM_GRAMMAR, sql.SQL_CORE_GRAMMAR)),
        sql.SQL_ANSI92_SUPPORTED_LEVEL: InfoValue(I32, _bits(sql.ANSI92_ENTRY_SQL)),
        sql.SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY: InfoValue(B, False),
        sql.SQL_OUTER_JOINS_SUPPORT_LEVEL: InfoValue(I32, sql.SQL_FULL_OUTER_JOINS),
        sql.SQL_SCHEMA_TERM: InfoValue(S, "schema"),
        sql.SQL_PROCEDURE_TERM: InfoValue(S, "procedure"),
        sql.SQL_CATALOG_TERM: InfoValue(S, "catalog"),
        sql.SQL_CATALOG_AT_START: InfoValue(B, True),
        sql.SQL_SCHEMAS_SUPPORTED_ACTIONS: InfoValue(I32, 0),
        sql.SQL_CATALOGS_SUPPORTED_ACTIONS: InfoValue(I32, 0),
        sql.SQL_SUPPORTED_POSITIONED_COMMANDS: InfoValue(I32, 0),
        sql.SQL_SELECT_FOR_UPDATE_SUPPORTED: InfoValue(B, False),
        sql.SQL_STORED_PROCEDURES_SUPPORTED: InfoValue(B, False),
        sql.SQL_SUPPORTED_SUBQUERIES: InfoValue(
            I32,
            _bits(sql.SQL_SUBQUERIES_IN_COMPARISONS, sql.SQL_SUBQUERIES_IN_EXISTS, sql.SQL_SUBQUERIES_IN_INS,
                  sql.SQL_SUBQUERIES_IN_QUANTIFIEDS),
        ),
        sql.SQL_CORRELATED_SUBQUERIES_SUPPORTED: InfoValue(B, True),
        sql.SQL_SUPPORTED_UNIONS: InfoValue(I32, _bits(sql.SQL_UNION, sql.SQL_UNION_ALL)),
        # JDBC reads this one as a Long although the spec text says int32.
        sql.SQL_DEFAULT_TRANSACTION_ISOLATION: InfoValue(I64, sql.SQL_TRANSACTION_NONE),
        sql.SQL_TRANSACTIONS_SUPPORTED: InfoValue(B, False),
        sql.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS: InfoValue(I32, 0),
        sql.SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT: InfoValue(B, False),
        sql.SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED: InfoValue(B, False),
        sql.SQL_SUPPORTED_RESULT_SET_TYPES: InfoValue(I32, _bits(sql.SQL_RESULT_SET_TYPE_FORWARD_ONLY)),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED: InfoValue(I32, 0),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY: InfoValue(
            I32, _bits(sql.SQL_RESULT_SET_CONCURRENCY_READ_ONLY)
        ),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE: InfoValue(I32, 0),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE: InfoValue(I32, 0),
        sql.SQL_BATCH_UPDATES_SUPPORTED: InfoValue(B, False),
        sql.SQL_SAVEPOINTS_SUPPORTED: InfoValue(B, False),
        sql.SQL_NAMED_PARAMETERS_SUPPORTED: InfoValue(B, False),
        sql.SQL_LOCATORS_UPDATE_COPY: InfoValue(B, False),
        sql.SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED: InfoValue(B, False),
    }
    # The names the closed language accepts (governance/language.py), per JDBC's categories.
    L = Kind.STRING_LIST
    values[sql.SQL_KEYWORDS] = InfoValue(L, list(_KEYWORDS))
    values[sql.SQL_NUMERIC_FUNCTIONS] = InfoValue(L, function_names(NUMERIC_FUNCTIONS))
    values[sql.SQL_STRING_FUNCTIONS] = InfoValue(L, function_names(STRING_FUNCTIONS))
    values[sql.SQL_SYSTEM_FUNCTIONS] = InfoValue(L, ["CURRENT_USER", "SESSION_USER"])
    values[sql.SQL_DATETIME_FUNCTIONS] = InfoValue(L, function_names(DATETIME_FUNCTIONS))
    values[sql.SQL_SUPPORTS_CONVERT] = InfoValue(Kind.INT32_LIST_MAP, _conversions())
    # SQL_MAX_*: 0 means "no known limit".
    for limit in range(sql.SQL_MAX_BINARY_LITERAL_LENGTH, sql.SQL_MAX_USERNAME_LENGTH + 1):
        if limit != sql.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS:
            values[limit] = InfoValue(I64, 0)
    values[sql.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS] = InfoValue(B, False)
    unknown = set(values) - set(sql.SqlInfo.values())
    assert not unknown, f"SqlInfo ids outside the enum: {sorted(unknown)}"
    return values


# Keywords of the mesh dialect beyond SQL:2003 that a vetted statement may use (JDBC getSQLKeywords).
_KEYWORDS = ("ILIKE", "QUALIFY", "TRY_CAST", "NULLS")


def _conversions() -> list[tuple[int, list[int]]]:
    """SQL_SUPPORTS_CONVERT: CAST between these JDBC type classes (the mesh's CAST_TYPES allow them).

    Numbers convert to numbers and text; text converts to and from everything; dates and
    timestamps to each other and to text; binary to binary and text.
    """
    numbers: list[int] = [
        sql.SQL_CONVERT_BIGINT, sql.SQL_CONVERT_DECIMAL, sql.SQL_CONVERT_FLOAT, sql.SQL_CONVERT_INTEGER,
        sql.SQL_CONVERT_NUMERIC, sql.SQL_CONVERT_REAL, sql.SQL_CONVERT_SMALLINT, sql.SQL_CONVERT_TINYINT,
        sql.SQL_CONVERT_BIT,
    ]
    text: list[int] = [sql.SQL_CONVERT_CHAR, sql.SQL_CONVERT_VARCHAR, sql.SQL_CONVERT_LONGVARCHAR]
    times: list[int] = [sql.SQL_CONVERT_DATE, sql.SQL_CONVERT_TIME, sql.SQL_CONVERT_TIMESTAMP]
    binary: list[int] = [sql.SQL_CONVERT_BINARY, sql.SQL_CONVERT_VARBINARY, sql.SQL_CONVERT_LONGVARBINARY]
    everything = numbers + text + times + binary
    table: dict[int, list[int]] = {}
    for kind in numbers:
        table[kind] = numbers + text
    for kind in text:
        table[kind] = everything
    for kind in times:
        table[kind] = times + text
    for kind in binary:
        table[kind] = binary + text
    return sorted((kind, sorted(targets)) for kind, targets in table.items())


def sql_info_batch(values: Mapping[int, InfoValue], requested: Iterable[int]) -> pa.RecordBatch:
    """The GetSqlInfo answer for ``requested`` ids (all of ``values`` when empty), one batch."""
    wanted = list(dict.fromkeys(requested))  # keep the client's order, drop repeats
    ids = [info for info in wanted if info in values] if wanted else sorted(values)
    children: list[list[object]] = [[] for _ in Kind]
    type_codes: list[int] = []
    offsets: list[int] = []
    for info in ids:
        entry = values[info]
        type_codes.append(int(entry.kind))
        offsets.append(len(children[entry.kind]))
        children[entry.kind].append(entry.value)
    arrays = [
        pa.array(items, type=field.type) for items, field in zip(children, SQL_INFO_VALUE_TYPE, strict=True)
    ]
    union = pa.UnionArray.from_dense(
        pa.array(type_codes, pa.int8()),
        pa.array(offsets, pa.int32()),
        arrays,
        [field.name for field in SQL_INFO_VALUE_TYPE],
        [int(kind) for kind in Kind],
    )
    # from_dense builds nullable children and a cast to the non-nullable union is unsupported;
    # a view reinterprets the same buffers with the spec's exact type.
    value = union.view(SQL_INFO_VALUE_TYPE)
    return pa.RecordBatch.from_arrays([pa.array(ids, pa.uint32()), value], schema=SQL_INFO_SCHEMA)
