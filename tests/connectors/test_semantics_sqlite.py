"""SQLite computes what the mesh dialect means, or the piece stays in DuckDB (issue 10 item 1).

One table, ``lite.t``, holds rows made to provoke the differences (mixed case, trailing spaces,
'straße', accents, GLOB metacharacters, negatives, zero divisors, DECIMALs SQLite stores as REAL
or INTEGER, pre-1970 dates, timestamps with fractions, NULLs), stored as SQLite applications
store them (ISO text dates, 0/1 booleans). The same rows are in a DuckDB file: the oracle.

- ``test_mesh_answers_as_duckdb``: each query through the mesh equals DuckDB over the oracle.
- ``test_plain_rendering_differs``: for each declared Difference and faithful rewrite, the plain
  rendering of the query (what would be pushed without it), run on the real SQLite through the
  connector, answers differently from DuckDB or fails. So deleting a declaration makes the
  matching mesh test fail.
- ``test_still_pushed``: the faithful renderings keep the work in SQLite (LIKE as GLOB, integer
  division), as TPC-H's filters on part need.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.sqlite import SQLiteConnector
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import CancelScope, FlightmeshError, Principal
from tests.oracle import assert_same_result

COLUMNS = {"id": "INTEGER", "s": "TEXT", "n": "INTEGER", "m": "INTEGER", "d": "DECIMAL(10,2)",
           "x": "DOUBLE", "b": "BOOLEAN", "dt": "DATE", "ts": "TIMESTAMP"}
DUCK_TYPES = {"id": "INTEGER", "s": "VARCHAR", "n": "BIGINT", "m": "BIGINT", "d": "DECIMAL(10,2)",
              "x": "DOUBLE", "b": "BOOLEAN", "dt": "DATE", "ts": "TIMESTAMP"}
ROWS: list[tuple[Any, ...]] = [
    (1, "apple", 7, 2, Decimal("12.30"), 2.5, True, "2020-01-31", "2020-01-01 10:00:00.5"),
    (2, "Apple", -7, -2, Decimal("-2.50"), -2.5, False, "1969-12-31", "1969-07-20 20:17:40"),
    (3, "APPLE ", 15, 0, Decimal("0.29"), 0.49999999999999994, None, "2000-02-29", "2021-03-04 05:06:07.123456"),
    (4, "straße", 0, 3, Decimal("3.00"), 7.5, True, "2020-01-31", "2020-01-31 00:00:00"),
    (5, "STRASSE", None, 5, Decimal("0.06"), -7.5, False, "1900-03-01", None),
    (6, "é", 1, -3, Decimal("1.15"), 1e20, True, None, "2020-01-01 10:00:00"),
    (7, "É", -15, 4, Decimal("0.07"), 0.1, None, "2024-12-31", "1999-12-31 23:59:59.999999"),
    (8, "a%b_c*d?[e]", 22, 7, Decimal("0.10"), None, False, "2020-01-01", "2020-01-01 10:00:00.25"),
    (9, "", 3, 1, Decimal("0.20"), 0.25, True, "2021-01-31", "2020-01-01 00:00:00"),
    (10, None, -1, None, None, 15.0, None, "2019-01-31", "2020-02-29 12:00:00"),
    (11, "apple", 5, 2, Decimal("100.00"), 100.0, True, "2020-01-31", "2020-01-01 10:00:00.5"),
]

USER = "reader"


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection,
                                                                       SQLiteConnector]]:
    root = tmp_path_factory.mktemp("semantics-sqlite")
    lite = root / "lite.sqlite"
    with contextlib.closing(sqlite3.connect(lite)) as connection:
        connection.execute(f"CREATE TABLE t ({', '.join(f'{c} {t}' for c, t in COLUMNS.items())})")
        # What SQLite applications store: ISO text dates, exact decimals as text (NUMERIC
        # affinity keeps them as REAL, or INTEGER when integral), booleans as 0/1.
        connection.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(COLUMNS))})",
                               [tuple(_stored(v) for v in row) for row in ROWS])
        connection.commit()
    oracle_path = root / "oracle.duckdb"
    with contextlib.closing(duckdb.connect(str(oracle_path))) as oracle:
        oracle.execute("CREATE SCHEMA lite")
        oracle.execute(f"CREATE TABLE lite.t ({', '.join(f'{c} {t}' for c, t in DUCK_TYPES.items())})")
        oracle.executemany(f"INSERT INTO lite.t VALUES ({', '.join('?' * len(COLUMNS))})", ROWS)
    descriptor = root / "mesh.yaml"
    descriptor.write_text(f"""\
mesh: {{name: semantics}}
products:
  lite:
    engine: {{kind: sqlite, path: {lite}}}
    tables: {{t: {{}}}}
    access: {{read: [analyst]}}
users:
  {USER}: {{password: "reader-secret", roles: [analyst]}}
""")
    runtime = MeshRuntime.open(descriptor)
    oracle = duckdb.connect(str(oracle_path), read_only=True)
    direct = SQLiteConnector("direct", lite)
    try:
        yield runtime, oracle, direct
    finally:
        direct.close()
        oracle.close()
        runtime.close()


def _stored(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str) and len(value) > 10 and value[:4].isdigit() and value[10] == " ":
        # Python's isoformat, as an application writing datetimes would: six fraction digits
        return dt.datetime.fromisoformat(value).isoformat(sep=" ")
    return value


def reader(runtime: MeshRuntime) -> Principal:
    principal = runtime.principal_for(USER)
    assert principal is not None
    return principal


def through_mesh(runtime: MeshRuntime, sql: str) -> pa.Table:
    return runtime.query(sql, reader(runtime)).read_all()


def pushed_sql(runtime: MeshRuntime, sql: str) -> list[str]:
    plan = runtime.bind(runtime.prepare(sql, reader(runtime)), reader(runtime))
    return [fragment.sql for fragment in plan.fragments]


def plain_rendering(sql: str, tables: dict[str, dict[str, str]] | None = None) -> str:
    """``sql`` as it would reach SQLite with no Difference and no faithful rewrite: sqlglot's own.

    Typed as the planner types it (sqlglot's rendering reads the types: it casts an integer
    numerator of ``/`` to REAL, not a decimal one).
    """
    tables = tables or {"t": DUCK_TYPES}
    for name in tables:
        sql = sql.replace(f"lite.{name}", name)
    tree = sqlglot.parse_one(sql, read="duckdb")
    schema = MappingSchema(tables, dialect="duckdb")
    tree = annotate_types(qualify(tree, schema=schema, dialect="duckdb"), schema=schema, dialect="duckdb")
    return tree.sql("sqlite", unsupported_level=sqlglot.ErrorLevel.RAISE)


def ordered(sql: str) -> bool:
    return " ORDER BY " in sql.upper()


# The mesh must answer these as DuckDB does. Queries order by id (unique) when they list rows.
CASES: dict[str, str] = {
    # strings: SQLite's BINARY collation is DuckDB's order (case, trailing spaces, accents)
    "string_eq": "SELECT id FROM lite.t WHERE s = 'apple' ORDER BY id",
    "string_lt": "SELECT id FROM lite.t WHERE s < 'apple' ORDER BY id",
    "string_in": "SELECT id FROM lite.t WHERE s IN ('Apple', 'é', 'APPLE') ORDER BY id",
    "order_by_string": "SELECT s, id FROM lite.t ORDER BY s, id",
    "order_by_string_desc": "SELECT s, id FROM lite.t ORDER BY s DESC, id",
    "group_by_string": "SELECT s, count(*) AS c FROM lite.t GROUP BY s",
    "distinct_string": "SELECT DISTINCT s FROM lite.t",
    "min_max_string": "SELECT min(s) AS lo, max(s) AS hi FROM lite.t",
    "join_on_string": "SELECT a.id AS a, b.id AS b FROM lite.t a JOIN lite.t b ON a.s = b.s ORDER BY a.id, b.id",
    # LIKE: case-sensitive, character-wise, GLOB metacharacters in data and pattern
    "like_prefix": "SELECT id FROM lite.t WHERE s LIKE 'app%' ORDER BY id",
    "like_underscore": "SELECT id FROM lite.t WHERE s LIKE 'stra_e' ORDER BY id",
    "like_upper": "SELECT id FROM lite.t WHERE s LIKE 'APP%' ORDER BY id",
    "not_like": "SELECT id FROM lite.t WHERE s NOT LIKE '%e' ORDER BY id",
    "like_accent": "SELECT id FROM lite.t WHERE s LIKE 'é%' ORDER BY id",
    "like_glob_star": "SELECT id FROM lite.t WHERE s LIKE '%*d?[%' ORDER BY id",
    "like_escape": "SELECT id FROM lite.t WHERE s LIKE 'a!%b!_%' ESCAPE '!' ORDER BY id",
    "like_column_pattern": "SELECT a.id AS a, b.id AS b FROM lite.t a, lite.t b WHERE a.s LIKE b.s ORDER BY a, b",
    "ilike": "SELECT id FROM lite.t WHERE s ILIKE 'é' ORDER BY id",
    "upper": "SELECT id, upper(s) AS u FROM lite.t ORDER BY id",
    "lower": "SELECT id, lower(s) AS l FROM lite.t ORDER BY id",
    "substr_negative": "SELECT id, substr(s, -3) AS a, substr(s, -3, 2) AS b, substr(s, 0, 2) AS c FROM lite.t "
                       "ORDER BY id",
    "length_chars": "SELECT id, length(s) AS n FROM lite.t ORDER BY id",
    "concat_null": "SELECT id, concat(s, NULL) AS a, s || NULL AS b, s || n AS c FROM lite.t ORDER BY id",
    "concat_decimal_boolean": "SELECT id, s || d AS a, concat(s, b) AS c FROM lite.t ORDER BY id",
    # numbers
    "int_division": "SELECT id, n / 2 AS q FROM lite.t ORDER BY id",
    "int_division_by_column": "SELECT id, n / m AS q FROM lite.t ORDER BY id",
    "decimal_division": "SELECT id, d / 3 AS q FROM lite.t ORDER BY id",
    "integer_floor_division": "SELECT id, n // 2 AS q, n % 3 AS r, -n % 4 AS s FROM lite.t ORDER BY id",
    "modulo_double": "SELECT id, x % 2 AS r FROM lite.t ORDER BY id",
    "round_negative_digits": "SELECT id, round(n, -1) AS r FROM lite.t ORDER BY id",
    "round_double": "SELECT id, round(x) AS r FROM lite.t ORDER BY id",
    "round_decimal": "SELECT id, round(d, 1) AS r FROM lite.t ORDER BY id",
    "math_domain": "SELECT id, sqrt(x) AS a, ln(x) AS b, log10(x) AS c, asin(x) AS e, acos(x) AS f FROM lite.t "
                   "WHERE abs(x) < 1e9 ORDER BY id",
    "power_fractional": "SELECT id, power(x, 0.5) AS p, x ^ 2 AS q FROM lite.t ORDER BY id",
    "cot": "SELECT id, cot(x) AS c FROM lite.t WHERE x <> 0 ORDER BY id",
    "functions_sqlite_lacks": "SELECT id, skewness(x) OVER () AS a, regr_slope(x, n) OVER () AS r, isinf(x) AS i, "
                              "bit_length(s) AS l, ascii(s) AS c, translate(s, 'ap', 'AP') AS t, sha256(s) AS h, "
                              "xor(n, 5) AS x FROM lite.t ORDER BY id",
    "date_parts": "SELECT id, week(dt) AS w, isodow(dt) AS i, dayname(dt) AS dn, monthname(dt) AS mn, "
                  "epoch(ts) AS e, to_timestamp(n) AS u FROM lite.t ORDER BY id",
    "date_parts_strftime": "SELECT id, year(dt) AS y, quarter(dt) AS q, month(dt) AS m, day(dt) AS d, "
                           "dayofmonth(dt) AS dm, dayofyear(dt) AS j, hour(ts) AS h, minute(ts) AS mi, "
                           "second(ts) AS s, year(ts) AS ty FROM lite.t ORDER BY id",
    "date_part_grouped": "SELECT year(dt) AS y, count(*) AS c FROM lite.t GROUP BY year(dt)",
    "date_part_of_text": "SELECT id, year(CAST(s AS DATE)) AS y FROM lite.t WHERE s IS NULL ORDER BY id",
    "hex_unicode": "SELECT id, hex(s) AS h, unicode(s) AS u FROM lite.t ORDER BY id",
    "shift_left": "SELECT id, n << 2 AS l, n >> 1 AS r FROM lite.t WHERE n >= 0 ORDER BY id",
    "decimal_sum_compare": "SELECT id FROM lite.t WHERE d + 0.01 = 0.07 OR d - 0.01 = 0.05 ORDER BY id",
    "decimal_product": "SELECT id FROM lite.t WHERE d * 3 = 0.21 ORDER BY id",
    "decimal_sum_having": "SELECT count(*) AS c FROM lite.t WHERE id IN (8, 9) HAVING sum(d) = 0.30",
    "decimal_sum": "SELECT b, sum(d) AS total FROM lite.t GROUP BY b",
    "avg_integers": "SELECT b, avg(n) AS a, sum(n) AS t FROM lite.t GROUP BY b",
    "greatest_least_null": "SELECT id, greatest(n, m) AS g, least(n, m) AS l FROM lite.t ORDER BY id",
    # casts
    "cast_decimal_to_bigint": "SELECT id, CAST(d AS BIGINT) AS i FROM lite.t ORDER BY id",
    "cast_double_to_bigint": "SELECT id, CAST(x AS BIGINT) AS i FROM lite.t WHERE abs(x) < 1e9 ORDER BY id",
    "cast_literal_to_bigint": "SELECT id, CAST(2.50 AS BIGINT) AS i FROM lite.t ORDER BY id",
    "cast_decimal_to_text": "SELECT id, CAST(d AS VARCHAR) AS v FROM lite.t ORDER BY id",
    "cast_boolean_to_text": "SELECT id, CAST(b AS VARCHAR) AS v FROM lite.t ORDER BY id",
    "cast_double_to_text": "SELECT id, CAST(x AS VARCHAR) AS v FROM lite.t ORDER BY id",
    "cast_timestamp_to_text": "SELECT id, CAST(ts AS VARCHAR) AS v FROM lite.t ORDER BY id",
    "cast_date_to_text": "SELECT id, CAST(dt AS VARCHAR) AS v, CAST(n AS VARCHAR) AS w FROM lite.t ORDER BY id",
    "cast_text_to_boolean": "SELECT id, CAST(CASE WHEN n > 0 THEN 'true' ELSE 'false' END AS BOOLEAN) AS v "
                            "FROM lite.t ORDER BY id",
    "cast_integer_to_boolean": "SELECT DISTINCT CAST(n AS BOOLEAN) AS v FROM lite.t",
    "cast_integer_to_boolean_grouped": "SELECT CAST(abs(n) AS BOOLEAN) AS v, count(*) AS c FROM lite.t GROUP BY 1",
    "cast_date_to_timestamp": "SELECT id, CAST(dt AS TIMESTAMP) AS v, CAST(ts AS DATE) AS w FROM lite.t ORDER BY id",
    "cast_to_decimal": "SELECT id, CAST(x AS DECIMAL(10, 1)) AS v FROM lite.t WHERE abs(x) < 1e9 ORDER BY id",
    "cast_to_float": "SELECT id FROM lite.t WHERE CAST(x AS FLOAT) <> x ORDER BY id",
    # SQLite keeps an integral DECIMAL as INTEGER: a batch of only such values (or only NULLs)
    # comes from the driver as int64, and must still read as the DECIMAL
    "integral_decimals_alone": "SELECT id, d FROM lite.t WHERE id IN (4, 11) ORDER BY id",
    "null_columns_alone": "SELECT id, d, x, dt, ts, s, b FROM lite.t WHERE id = 10 ORDER BY id",
    "integral_decimal_aggregate": "SELECT max(d) AS hi, min(d) AS lo FROM lite.t WHERE id = 11",
    # dates and timestamps
    "date_minus_date": "SELECT id, dt - DATE '2020-01-01' AS days FROM lite.t ORDER BY id",
    "date_plus_days": "SELECT id, dt + 365 AS later FROM lite.t ORDER BY id",
    "date_plus_month": "SELECT id, dt + INTERVAL '1' MONTH AS later FROM lite.t ORDER BY id",
    "last_day": "SELECT id, last_day(dt) AS e FROM lite.t ORDER BY id",
    "date_filter": "SELECT id FROM lite.t WHERE dt < DATE '2000-01-01' ORDER BY id",
    "timestamp_fraction_literal": "SELECT id FROM lite.t WHERE ts = TIMESTAMP '2020-01-01 10:00:00.5' ORDER BY id",
    "timestamp_fraction_range": "SELECT id FROM lite.t WHERE ts > TIMESTAMP '2020-01-01 10:00:00.25' ORDER BY id",
    "date_vs_timestamp": "SELECT id FROM lite.t WHERE dt = ts ORDER BY id",
    "integer_vs_text": "SELECT id FROM lite.t WHERE n = '7' OR n IN ('22', ' 3 ') ORDER BY id",
    "integer_vs_decimal_text": "SELECT id FROM lite.t WHERE n = '14.5' ORDER BY id",
    "decimal_vs_text": "SELECT id FROM lite.t WHERE d = '0.289' ORDER BY id",
    "date_vs_text": "SELECT id FROM lite.t WHERE dt BETWEEN '2020-01-01' AND '2020-02-01' ORDER BY id",
    "date_vs_short_text": "SELECT id FROM lite.t WHERE dt = '2020-1-31' ORDER BY id",
    # NULL ordering: the mesh's is NULLS LAST ascending and descending
    "nulls_last_asc": "SELECT n, id FROM lite.t ORDER BY n, id",
    "nulls_desc": "SELECT n, id FROM lite.t ORDER BY n DESC, id",
    "nulls_first": "SELECT n, id FROM lite.t ORDER BY n NULLS FIRST, id",
    # aggregates
    "string_agg_distinct": "SELECT length(string_agg(DISTINCT s, ',')) AS n FROM lite.t",
    "count_distinct": "SELECT count(DISTINCT s) AS n FROM lite.t",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_mesh_answers_as_duckdb(engines: tuple[MeshRuntime, duckdb.DuckDBPyConnection, SQLiteConnector],
                                name: str) -> None:
    runtime, oracle, _ = engines
    sql = CASES[name]
    expected = oracle.sql(sql).arrow()
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    assert_same_result(through_mesh(runtime, sql), expected, ordered=ordered(sql))


@pytest.mark.parametrize("sql", [
    "SELECT id, n // m AS q FROM lite.t ORDER BY id",   # n // 0: SQLite's is NULL
    "SELECT id, n % m AS q FROM lite.t ORDER BY id",    # n % 0: SQLite's is NULL
    "SELECT id, n << 2 AS q FROM lite.t ORDER BY id",   # -7 << 2: SQLite's is -28
])
def test_errors_where_duckdb_errors(engines: tuple[MeshRuntime, duckdb.DuckDBPyConnection, SQLiteConnector],
                                    sql: str) -> None:
    runtime, oracle, direct = engines
    with pytest.raises(duckdb.Error):
        oracle.sql(sql).fetchall()
    with pytest.raises(FlightmeshError):
        through_mesh(runtime, sql)
    # The plain rendering answers on SQLite: pushing it would answer where the mesh dialect raises.
    schema = pa.schema([pa.field("id", pa.int32()), pa.field("q", pa.int64())])
    assert direct.execute(FragmentQuery(plain_rendering(sql), expected_schema=schema),
                          CancelScope()).read_all().num_rows == len(ROWS)


# The plain rendering of these differs from DuckDB on the real engine (or fails): each is why a
# Difference is declared or a faithful rewrite exists. name of a CASES query -> the declaration.
NEEDED: dict[str, str] = {
    "like_upper": "Like (GLOB rendering)",
    "not_like": "Like (GLOB rendering)",
    "like_column_pattern": "Like with a non-literal pattern",
    "ilike": "ILike",
    "upper": "Upper",
    "lower": "Lower",
    "concat_decimal_boolean": "Concat/DPipe of non-text",
    "int_division_by_column": "Div by a possible zero",
    "decimal_division": "Div: numerator cast to REAL",
    "modulo_double": "Mod of non-integers",
    "round_negative_digits": "Round",
    "round_decimal": "Round",
    "decimal_sum_compare": "Add/Sub of decimals",
    "math_domain": "Sqrt, Ln, Log, Asin, Acos",
    "power_fractional": "Pow with a fractional exponent",
    "cot": "Cot (SQLite lacks it)",
    "functions_sqlite_lacks": "functions SQLite lacks",
    "date_parts": "date part functions SQLite lacks",
    "date_parts_strftime": "date parts rendered with strftime",
    "hex_unicode": "Hex, Unicode",
    "decimal_product": "Mul of decimals",
    "decimal_sum_having": "Sum of decimals",
    "cast_decimal_to_bigint": "Cast to integer",
    "cast_double_to_bigint": "Cast to integer",
    "cast_literal_to_bigint": "Cast to integer",
    "cast_decimal_to_text": "Cast to text",
    "cast_boolean_to_text": "Cast to text",
    "cast_double_to_text": "Cast to text",
    "cast_timestamp_to_text": "Cast to text",
    "cast_text_to_boolean": "Cast to boolean",
    "cast_to_decimal": "Cast to decimal",
    "cast_integer_to_boolean": "Cast to boolean rendered x <> 0",
    "cast_integer_to_boolean_grouped": "Cast to boolean rendered x <> 0",
    "cast_to_float": "Cast to float",
    "date_minus_date": "Sub of dates",
    "date_plus_days": "Add of dates",
    "date_plus_month": "Interval",
    "last_day": "LastDay",
    "timestamp_fraction_literal": "Cast of a timestamp literal with a fraction",
    "timestamp_fraction_range": "Cast of a timestamp literal with a fraction",
    "date_vs_timestamp": "EQ of DATE and TIMESTAMP",
    "string_agg_distinct": "GroupConcat DISTINCT with a separator",
    "integer_vs_decimal_text": "EQ of an INTEGER and a text literal",
    "decimal_vs_text": "EQ of a DECIMAL and a text literal",
    "date_vs_short_text": "EQ of a DATE and a non-ISO text literal",
}


def _plain_answer(direct: SQLiteConnector, sql: str, schema: pa.Schema) -> pa.Table | None:
    try:
        return direct.execute(FragmentQuery(plain_rendering(sql), expected_schema=schema), CancelScope()).read_all()
    except FlightmeshError:
        return None  # the engine refused it, or its values do not fit the mesh's type


@pytest.mark.parametrize("name", sorted(NEEDED))
def test_plain_rendering_differs(engines: tuple[MeshRuntime, duckdb.DuckDBPyConnection, SQLiteConnector],
                                 name: str) -> None:
    _, oracle, direct = engines
    sql = CASES[name]
    expected = oracle.sql(sql).arrow()
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    plain = _plain_answer(direct, sql, expected.schema)
    if plain is None:
        return
    with pytest.raises(AssertionError):
        assert_same_result(plain, expected, ordered=ordered(sql))


def test_text_that_is_no_integer_errors_as_in_duckdb(
        engines: tuple[MeshRuntime, duckdb.DuckDBPyConnection, SQLiteConnector]) -> None:
    runtime, oracle, direct = engines
    sql = "SELECT id FROM lite.t WHERE n = 'abc'"
    with pytest.raises(duckdb.Error):
        oracle.sql(sql).fetchall()
    with pytest.raises(FlightmeshError):
        through_mesh(runtime, sql)
    # SQLite answers (no row) where DuckDB raises: the comparison must not be pushed.
    schema = pa.schema([pa.field("id", pa.int32())])
    assert direct.execute(FragmentQuery(plain_rendering(sql), expected_schema=schema),
                          CancelScope()).read_all().num_rows == 0


@pytest.mark.parametrize(("name", "pushed"), [
    ("like_prefix", "GLOB 'app*'"),
    ("like_upper", "GLOB 'APP*'"),
    ("not_like", "NOT (\"t\".\"s\" GLOB '*e')"),
    ("like_glob_star", "GLOB '*[*]d[?][[]*'"),
    ("like_escape", "GLOB 'a%b_*'"),
    ("like_accent", "GLOB 'é*'"),
    ("integer_floor_division", "\"t\".\"n\" / 2"),
    ("date_filter", "DATE('2000-01-01')"),
    ("string_in", "IN ('Apple', 'é', 'APPLE')"),
    ("date_part_grouped", "CAST(STRFTIME('%Y', \"t\".\"dt\") AS INTEGER)"),
    ("cast_integer_to_boolean", "(\"t\".\"n\" <> 0)"),
])
def test_still_pushed(engines: tuple[MeshRuntime, duckdb.DuckDBPyConnection, SQLiteConnector], name: str,
                      pushed: str) -> None:
    runtime, _, _ = engines
    assert any(pushed in sql for sql in pushed_sql(runtime, CASES[name])), pushed_sql(runtime, CASES[name])


def test_plain_like_folds_ascii_case(engines: tuple[MeshRuntime, duckdb.DuckDBPyConnection, SQLiteConnector]
                                     ) -> None:
    _, _, direct = engines
    schema = pa.schema([pa.field("id", pa.int32())])
    answer = direct.execute(FragmentQuery("SELECT id FROM t WHERE s LIKE 'APP%' ORDER BY id", expected_schema=schema),
                            CancelScope()).read_all()
    assert answer.column("id").to_pylist() == [1, 2, 3, 11]  # DuckDB: [3] only


def test_integer_division_above_two_to_the_53(tmp_path: Path) -> None:
    """sqlglot's // rendering divides as REAL; the faithful rendering divides integers exactly."""
    path = tmp_path / "big.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE big (n INTEGER)")
        connection.execute("INSERT INTO big VALUES (?)", (2**62 + 1,))
        connection.commit()
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(f"""\
mesh: {{name: big}}
products:
  lite:
    engine: {{kind: sqlite, path: {path}}}
    tables: {{big: {{}}}}
    access: {{read: [analyst]}}
users:
  {USER}: {{password: "reader-secret", roles: [analyst]}}
""")
    sql = "SELECT n // 1 AS q FROM lite.big"
    expected = duckdb.sql(f"SELECT {2**62 + 1} // 1 AS q").fetchall()[0][0]
    with MeshRuntime.open(descriptor) as runtime:
        assert through_mesh(runtime, sql).column("q").to_pylist() == [expected]
        assert all("CAST" not in fragment for fragment in pushed_sql(runtime, sql))
    direct = SQLiteConnector("direct", path)
    try:
        schema = pa.schema([pa.field("q", pa.int64())])
        plain = direct.execute(FragmentQuery(plain_rendering(sql, {"big": {"n": "BIGINT"}}), expected_schema=schema),
                               CancelScope()).read_all()
        assert plain.column("q").to_pylist() != [expected]
    finally:
        direct.close()


def test_a_batch_of_integral_decimals_then_fractions(tmp_path: Path) -> None:
    """The driver types a column by its first batch (65,536 rows): integral DECIMALs there, which
    SQLite keeps as INTEGER, or a COALESCE(x, 0) over NULLs, must not fail the REALs that follow."""
    leading = 70_000
    path = tmp_path / "prices.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE prices (id INTEGER, price DECIMAL(10,2), x DOUBLE)")
        connection.executemany("INSERT INTO prices VALUES (?, ?, ?)",
                               [(i, "3.00", None) for i in range(leading)] + [(leading, "2.50", 2.5)])
        connection.commit()
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(f"""\
mesh: {{name: prices}}
products:
  lite:
    engine: {{kind: sqlite, path: {path}}}
    tables: {{prices: {{}}}}
    access: {{read: [analyst]}}
users:
  {USER}: {{password: "reader-secret", roles: [analyst]}}
""")
    with MeshRuntime.open(descriptor) as runtime:
        table = through_mesh(runtime, "SELECT id, price, coalesce(x, 0) AS x FROM lite.prices ORDER BY id")
    assert table.num_rows == leading + 1
    assert table.column("price")[0].as_py() == Decimal("3.00")
    assert table.column("price")[leading].as_py() == Decimal("2.50")
    assert table.column("x")[0].as_py() == 0 and table.column("x")[leading].as_py() == 2.5
    # The plain rendering fails on the engine at the first REAL after the integral batch.
    direct = SQLiteConnector("direct", path)
    try:
        schema = pa.schema([pa.field("price", pa.decimal128(10, 2))])
        with pytest.raises(FlightmeshError):
            direct.execute(FragmentQuery('SELECT "price" AS "price" FROM "prices" ORDER BY "id"',
                                         expected_schema=schema), CancelScope()).read_all()
    finally:
        direct.close()


# An application's SQLite table whose text columns fold case (NOCASE) or ignore trailing spaces
# (RTRIM); the mesh dialect compares bytes. The oracle holds the same rows in DuckDB.
NAMES = [(1, "apple", "apple"), (2, "Apple", "Apple "), (3, "APPLE", "apple  "), (4, "pear", "Pear"),
         (5, None, None), (6, "é", "É")]
NOCASE_CASES = {
    "eq": "SELECT id FROM lite.names WHERE a = 'apple' ORDER BY id",
    "eq_rtrim": "SELECT id FROM lite.names WHERE r = 'apple' ORDER BY id",
    "in": "SELECT id FROM lite.names WHERE a IN ('APPLE', 'x') ORDER BY id",
    "lt": "SELECT id FROM lite.names WHERE a < 'B' ORDER BY id",
    "group_by": "SELECT a, count(*) AS c FROM lite.names GROUP BY a",
    "distinct": "SELECT DISTINCT r FROM lite.names",
    "count_distinct": "SELECT count(DISTINCT a) AS a, count(DISTINCT r) AS r FROM lite.names",
    "order_by": "SELECT a, id FROM lite.names ORDER BY a, id",
    "min_max": "SELECT min(a) AS lo, max(r) AS hi FROM lite.names",
    "join": "SELECT x.id AS x, y.id AS y FROM lite.names x JOIN lite.names y ON x.a = y.r ORDER BY x, y",
    "in_subquery": "SELECT id FROM lite.names WHERE 'APPLe' IN (SELECT a FROM lite.names) AND id = 1",
    "union": "SELECT a FROM lite.names UNION SELECT r FROM lite.names",
}


@pytest.fixture(scope="module")
def collated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection,
                                                                        SQLiteConnector]]:
    root = tmp_path_factory.mktemp("semantics-sqlite-collations")
    lite = root / "names.sqlite"
    with contextlib.closing(sqlite3.connect(lite)) as connection:
        connection.execute("CREATE TABLE names (id INTEGER, a TEXT COLLATE NOCASE, r TEXT COLLATE RTRIM)")
        connection.executemany("INSERT INTO names VALUES (?, ?, ?)", NAMES)
        connection.commit()
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA lite")
    oracle.execute("CREATE TABLE lite.names (id INTEGER, a VARCHAR, r VARCHAR)")
    oracle.executemany("INSERT INTO lite.names VALUES (?, ?, ?)", NAMES)
    descriptor = root / "mesh.yaml"
    descriptor.write_text(f"""\
mesh: {{name: collations}}
products:
  lite:
    engine: {{kind: sqlite, path: {lite}}}
    tables: {{names: {{}}}}
    access: {{read: [analyst]}}
users:
  {USER}: {{password: "reader-secret", roles: [analyst]}}
""")
    runtime = MeshRuntime.open(descriptor)
    direct = SQLiteConnector("direct", lite)
    try:
        yield runtime, oracle, direct
    finally:
        direct.close()
        oracle.close()
        runtime.close()


@pytest.mark.parametrize("name", sorted(NOCASE_CASES))
def test_declared_collations_do_not_leak(
        collated: tuple[MeshRuntime, duckdb.DuckDBPyConnection, SQLiteConnector], name: str) -> None:
    runtime, oracle, direct = collated
    sql = NOCASE_CASES[name]
    expected = oracle.sql(sql).arrow()
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    assert_same_result(through_mesh(runtime, sql), expected, ordered=ordered(sql))
    assert any("COLLATE BINARY" in fragment for fragment in pushed_sql(runtime, sql))
    # Without the explicit collation SQLite uses the declared one, and answers otherwise.
    tables = {"names": {"id": "INTEGER", "a": "VARCHAR", "r": "VARCHAR"}}
    plain = direct.execute(FragmentQuery(plain_rendering(sql, tables), expected_schema=expected.schema),
                           CancelScope()).read_all()
    with pytest.raises(AssertionError):
        assert_same_result(plain, expected, ordered=ordered(sql))


def test_a_date_part_is_rendered_only_over_a_known_date_or_timestamp() -> None:
    """strftime() reads ISO text; over an expression whose type the planner could not tell, the
    date part stays in DuckDB (an unknown type counts as possibly affected)."""
    capabilities = SQLiteConnector.capabilities
    untyped = exp.Year(this=exp.column("when_", "t"))
    dated = exp.Year(this=exp.column("dt", "t"))
    dated.this.type = exp.DataType.build("DATE")
    assert not capabilities.supports(untyped)
    assert capabilities.supports(dated)
