"""MariaDB answers what the mesh dialect means (issue 10 item 1), checked against DuckDB as oracle.

One mesh: product ``maria`` on the real MariaDB (tables ``t`` in the server's default utf8mb4
collation, ``tl`` in latin1, ``t3`` in utf8mb3, each with an index on ``s``) and product ``duck`` in
a DuckDB file; the oracle is one DuckDB file with the same rows under the same names. The data is
chosen to make engines disagree: strings differing only in case, accents or trailing spaces,
backslashes, negatives, NULLs, dates before 1970, fractions of seconds.

Each case runs twice:

- through the mesh, compared with the oracle, with a check of where the construct ran (``pushed``:
  a text the MariaDB fragment must hold, so the faithful rendering keeps the work in the engine;
  ``kept``: a text it must not hold, so the declared Difference kept the node in DuckDB);
- rendered plainly (sqlglot's mysql dialect, no faithful rewrite) and run on MariaDB directly:
  it must answer otherwise than the oracle (or fail), which is why the rewrite or the Difference
  exists. Deleting either makes the first test of its case fail.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from tests.oracle import assert_same_result

from .conftest import mysql_connect

pytestmark = pytest.mark.mysql

STRINGS = ["Berlin", "berlin", "BERLIN", "Berlin ", " Berlin", "Zürich", "Zurich", "zürich", "straße", "STRASSE",
           "Straße", "café", "CAFE", "cafe", "", "a%b", "a_b", "a\\b", "O'Brien", "ß", "Ä", "a", "A", "b ", "Øresund",
           "naïve", "z", "10", "9", "-1", None, "日本", "😀", "\uff5e"]
DOUBLES = [2.5, -2.5, 0.5, 1.5, None, -0.5, 3.0]
MONEY = [Decimal("12.30"), Decimal("-2.50"), Decimal("2.55"), None, Decimal("15.00")]
DAYS = [dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(1900, 3, 1), dt.date(2024, 2, 29), None]
STAMPS = [dt.datetime(1969, 12, 31, 23, 59, 59, 500000), dt.datetime(2024, 2, 29, 12, 34, 56, 123456),
          dt.datetime(2000, 1, 1), None]
MYSQL_COLUMNS = "id BIGINT, s VARCHAR(40), n INT, d DOUBLE, b BOOLEAN, day DATE, ts DATETIME(6), m DECIMAL(10,2)"
DUCKDB_COLUMNS = "id BIGINT, s VARCHAR, n INTEGER, d DOUBLE, b BOOLEAN, day DATE, ts TIMESTAMP, m DECIMAL(10,2)"
CHARSETS = {"t": "utf8mb4", "tl": "latin1", "t3": "utf8mb3"}


def _rows(charset: str) -> list[tuple[Any, ...]]:
    rows = []
    for index, text in enumerate(STRINGS):
        if text is not None and charset == "latin1" and any(ord(char) > 255 for char in text):
            continue
        if text is not None and charset == "utf8mb3" and any(ord(char) > 0xFFFF for char in text):
            continue
        rows.append((index + 1, text, (index * 3) % 7 - 3 if index % 9 else None, DOUBLES[index % 7],
                     [True, False, None][index % 3], DAYS[index % 5], STAMPS[index % 4], MONEY[index % 5]))
    return rows


@dataclass
class Mesh:
    runtime: Any
    principal: Any
    oracle: duckdb.DuckDBPyConnection
    mysql_uri: str


@pytest.fixture(scope="module")
def mesh(mysql_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    from flightmesh.executor import MeshRuntime
    from flightmesh.mesh import load_descriptor

    root = tmp_path_factory.mktemp("semantics_mysql")
    connection = mysql_connect(mysql_database)
    oracle_path = root / "oracle.duckdb"
    oracle = duckdb.connect(str(oracle_path))
    oracle.execute("CREATE SCHEMA maria")
    oracle.execute("CREATE SCHEMA duck")
    try:
        with connection.cursor() as cursor:
            for name, charset in CHARSETS.items():
                cursor.execute(f"CREATE TABLE {name} ({MYSQL_COLUMNS}, KEY (s)) DEFAULT CHARSET = {charset}")
                cursor.executemany(f"INSERT INTO {name} VALUES ({', '.join(['%s'] * 8)})", _rows(charset))
                oracle.execute(f"CREATE TABLE maria.{name} ({DUCKDB_COLUMNS})")
                oracle.executemany(f"INSERT INTO maria.{name} VALUES ({', '.join('?' * 8)})", _rows(charset))
    finally:
        connection.close()
    _duckdb_product(root / "duck.duckdb")
    oracle.execute(f"CREATE TABLE duck.k ({DUCKDB_COLUMNS})")
    oracle.executemany(f"INSERT INTO duck.k VALUES ({', '.join('?' * 8)})", _rows("utf8mb4"))
    oracle.close()
    descriptor = root / "mesh.yaml"
    descriptor.write_text(f"""mesh: {{name: semantics}}
products:
  maria:
    engine: {{kind: mysql, uri: "{mysql_database}", allow_privileged: true}}
    tables: {{t: {{}}, tl: {{}}, t3: {{}}}}
    access: {{read: [analyst]}}
  duck:
    engine: {{kind: duckdb, path: duck.duckdb}}
    tables: {{k: {{}}}}
    access: {{read: [analyst]}}
users:
  reader: {{password: "reader-pw", roles: [analyst]}}
""")
    runtime = MeshRuntime.open(load_descriptor(descriptor))
    try:
        yield Mesh(runtime, runtime.principal_for("reader"), duckdb.connect(str(oracle_path), read_only=True),
                   mysql_database)
    finally:
        runtime.close()


def _duckdb_product(path: Path) -> None:
    connection = duckdb.connect(str(path))
    connection.execute(f"CREATE TABLE k ({DUCKDB_COLUMNS})")
    connection.executemany(f"INSERT INTO k VALUES ({', '.join('?' * 8)})", _rows("utf8mb4"))
    connection.close()


@dataclass(frozen=True)
class Case:
    id: str
    sql: str
    pushed: str | None = None      # the MariaDB fragment holds this text: the work stayed in the engine
    kept: str | None = None        # the MariaDB fragment lacks this text: the node stayed in DuckDB
    ordered: bool = False

    def __str__(self) -> str:
        return self.id


EXACT = "utf8mb4_nopad_bin"

# Each case differs on MariaDB when rendered plainly (test_plain_rendering_differs proves it).
CASES = [
    # -- collation: case, accents, trailing spaces ------------------------------------------------
    Case("equal_literal", "SELECT count(*) AS c FROM maria.t WHERE s = 'berlin'", pushed=EXACT),
    Case("in_list", "SELECT count(*) AS c FROM maria.t WHERE s IN ('a', 'Berlin', 'zurich')", pushed=EXACT),
    Case("not_equal", "SELECT count(*) AS c FROM maria.t WHERE s <> 'BERLIN'", pushed=EXACT),
    Case("less_than", "SELECT count(*) AS c FROM maria.t WHERE s < 'b'", pushed=EXACT),
    Case("between", "SELECT count(*) AS c FROM maria.t WHERE s BETWEEN 'a' AND 'c'", pushed=EXACT),
    Case("like", "SELECT count(*) AS c FROM maria.t WHERE s LIKE 'b%'", pushed="LIKE"),
    Case("like_accent", "SELECT count(*) AS c FROM maria.t WHERE s LIKE 'caf_'", pushed="LIKE"),
    Case("not_like", "SELECT count(*) AS c FROM maria.t WHERE s NOT LIKE 'B%'", pushed="NOT LIKE"),
    Case("locate", "SELECT id, instr(s, 'b') AS a, strpos(s, 'É') AS b FROM maria.t", pushed="LOCATE"),
    Case("string_agg_order", "SELECT string_agg(s, ',' ORDER BY s) AS a FROM maria.t", pushed="GROUP_CONCAT"),
    Case("union_all_order", "SELECT s FROM maria.t UNION ALL SELECT s FROM maria.tl ORDER BY s DESC",
         pushed="UNION ALL", ordered=True),
    Case("window_order", "SELECT id, row_number() OVER (ORDER BY s, id) AS r FROM maria.t", pushed="ROW_NUMBER"),
    Case("like_backslash", "SELECT id FROM maria.t WHERE s LIKE 'a\\b'", pushed="LIKE"),
    Case("distinct", "SELECT DISTINCT s FROM maria.t", pushed="DISTINCT"),
    Case("group_by", "SELECT s, count(*) AS c FROM maria.t GROUP BY s", pushed="GROUP BY"),
    Case("order_by", "SELECT s, id FROM maria.t ORDER BY s, id", pushed="ORDER BY", ordered=True),
    Case("order_by_alias", "SELECT s || '.' AS v, id FROM maria.t ORDER BY v DESC, id", pushed="ORDER BY",
         ordered=True),
    Case("min_max", "SELECT min(s) AS lo, max(s) AS hi FROM maria.t WHERE id < 20", pushed="MIN("),
    Case("count_distinct", "SELECT count(DISTINCT s) AS c FROM maria.t", pushed="DISTINCT"),
    Case("join_inside", "SELECT count(*) AS c FROM maria.t a JOIN maria.t b ON a.s = b.s", pushed="JOIN"),
    Case("join_latin1", "SELECT count(*) AS c FROM maria.t a JOIN maria.tl b ON a.s = b.s", pushed="JOIN"),
    Case("join_utf8mb3", "SELECT count(*) AS c FROM maria.t3 a JOIN maria.t b ON a.s = b.s", pushed="JOIN"),
    Case("join_using", "SELECT count(*) AS c FROM maria.t a JOIN maria.t b USING (s)", pushed="JOIN"),
    # a literal latin1 / utf8mb3 cannot hold: the raw comparison is refused ("Illegal mix of
    # collations"), so it is not used to narrow; the exact one alone answers
    Case("literal_beyond_latin1", "SELECT count(*) AS c FROM maria.tl WHERE s = '日本' OR s IN ('😀', 'Zürich') "
         "OR s LIKE '日%'", pushed=EXACT),
    Case("literal_beyond_utf8mb3", "SELECT count(*) AS c FROM maria.t3 WHERE s = '😀' OR s IN ('😀', 'a')",
         pushed=EXACT),
    Case("group_latin1", "SELECT s, count(*) AS c FROM maria.tl GROUP BY s", pushed="GROUP BY"),
    Case("order_utf8mb3", "SELECT s, id FROM maria.t3 ORDER BY s DESC, id", pushed="ORDER BY", ordered=True),
    Case("union", "SELECT s FROM maria.t UNION SELECT s FROM maria.tl", pushed="UNION"),
    Case("intersect", "SELECT s FROM maria.t INTERSECT SELECT s FROM maria.t3", pushed="INTERSECT"),
    Case("except", "SELECT s FROM maria.t EXCEPT SELECT s FROM maria.tl WHERE s = 'BERLIN'", pushed="EXCEPT"),
    Case("window_partition", "SELECT id, count(*) OVER (PARTITION BY s) AS c FROM maria.t", pushed="PARTITION"),
    Case("nullif", "SELECT id, nullif(s, 'berlin') AS v FROM maria.t", pushed="NULLIF"),
    Case("case_simple", "SELECT id, CASE s WHEN 'a' THEN 1 ELSE 0 END AS v FROM maria.t", pushed="CASE"),
    # text functions sqlglot leaves untyped compare under the collation all the same
    Case("lpad_like", "SELECT id FROM maria.t WHERE lpad(s, 6, '*') LIKE '%e%'", pushed=EXACT),
    Case("replace_order", "SELECT replace(s, 'e', 'E') AS v, id FROM maria.t ORDER BY v, id", pushed=EXACT,
         ordered=True),
    # NULLS LAST is spelt CASE WHEN <key> IS NULL: NOT b IS NULL would read NOT (b IS NULL)
    Case("not_order", "SELECT NOT b AS v, id FROM maria.t ORDER BY v, id", pushed="(NOT", ordered=True),
    # the example: a MariaDB DISTINCT feeding a join in DuckDB
    Case("distinct_feeds_join", "SELECT count(*) AS c FROM (SELECT DISTINCT s FROM maria.t) x JOIN duck.k ON x.s = k.s",
         pushed="DISTINCT"),
    Case("group_feeds_join", "SELECT count(*) AS c FROM (SELECT s, count(*) AS n FROM maria.t GROUP BY s) x "
         "JOIN duck.k ON x.s = k.s", pushed="GROUP BY"),
    # -- functions --------------------------------------------------------------------------------
    Case("greatest_null", "SELECT id, greatest(n, NULL, -1) AS g, least(d, NULL) AS l FROM maria.t", pushed="GREATEST"),
    Case("greatest_strings", "SELECT id, greatest(s, 'b') AS g FROM maria.t", pushed="GREATEST"),
    Case("bool_text", "SELECT id, CAST(b AS VARCHAR) AS v FROM maria.t", pushed="'true'"),
    Case("timestamp_literal", "SELECT id, CAST('2024-01-01 10:00:00.5' AS TIMESTAMP) AS v FROM maria.t",
         pushed="DATETIME(6)"),
    Case("exact_division", "SELECT id, n / 7000000 AS v, m / 7000000 AS w FROM maria.t", pushed="DOUBLE"),
    Case("epoch", "SELECT id, extract(epoch FROM ts) AS e, extract(epoch FROM day) AS f FROM maria.t",
         kept="UNIX_TIMESTAMP"),
    Case("dow", "SELECT id, extract(dow FROM day) AS w FROM maria.t", kept="DOW"),
    Case("week", "SELECT id, extract(week FROM day) AS w FROM maria.t", kept="WEEK"),
    Case("microsecond", "SELECT id, extract(microsecond FROM ts) AS w FROM maria.t", kept="MICROSECOND"),
    Case("round_double", "SELECT id, round(d) AS r, round(2.5e0) AS r2 FROM maria.t", kept="ROUND"),
    Case("double_text", "SELECT id, CAST(d AS VARCHAR) AS v FROM maria.t", kept="CAST"),
    Case("timestamp_text", "SELECT id, CAST(ts AS VARCHAR) AS v FROM maria.t", kept="CAST"),
    Case("concat_bool", "SELECT id, s || b AS v, concat(s, d) AS w FROM maria.t", kept="CONCAT"),
    Case("divide_by_zero", "SELECT id, n / 0 AS a, d / 0 AS b, d % 0 AS c FROM maria.t", kept="/ 0"),
    Case("int_div_double", "SELECT id, d // 2 AS a, m // 2 AS b FROM maria.t", kept="DIV"),
    Case("substr_negative", "SELECT id, substr(s, -2) AS a, substr(s, -3, 2) AS b FROM maria.t", kept="SUBSTRING"),
    Case("date_minus_int", "SELECT id, day - 1 AS v FROM maria.t", kept="- 1"),
    Case("date_minus_date", "SELECT id, day - DATE '1970-01-01' AS v FROM maria.t", kept="-"),
    Case("left_negative", "SELECT id, left(s, -1) AS a, right(s, -2) AS b FROM maria.t", kept="LEFT"),
    Case("trim_characters", "SELECT id, trim(s, 'Be') AS a, ltrim(s, 'aB') AS b FROM maria.t", kept="TRIM"),
    Case("math_domain", "SELECT id, sqrt(m) AS a, ln(m) AS b, log10(m) AS c, acos(d) AS e, power(d, 0.5) AS f "
         "FROM maria.t", kept="SQRT"),
    Case("time_fraction", "SELECT id, CAST(ts AS TIME) AS a, TIME '10:00:00.5' AS b FROM maria.t", pushed="TIME(6)"),
    Case("ascii_chr", "SELECT id, ascii(s) AS a, chr(223) AS b FROM maria.t", kept="ASCII"),
    Case("bitwise", "SELECT id, ~n AS a, n & -2 AS b FROM maria.t", kept="~"),
    Case("bool_from_number", "SELECT DISTINCT CAST(n AS BOOLEAN) AS a, CAST(d AS BOOLEAN) AS b FROM maria.t",
         pushed="<> 0"),
    Case("date_diff_month", "SELECT id, date_diff('month', day, DATE '2023-01-01') AS a, "
         "date_diff('year', day, DATE '2023-01-01') AS b FROM maria.t", kept="DATEDIFF"),
    Case("boolean_vs_text", "SELECT id FROM maria.t WHERE b = 'true' OR b = 'f'", kept="'true'"),
    Case("upper_sharp_s", "SELECT id, upper(s) AS v FROM maria.t", kept="UPPER"),
    Case("ilike", "SELECT count(*) AS c FROM maria.t WHERE s ILIKE 'zürich'", kept="LIKE"),
    Case("full_join_aggregate", "SELECT count(*) AS c FROM maria.t a FULL JOIN maria.t b ON a.id = b.id + 100",
         kept="UNION"),
]

# Cases where MariaDB already agrees when rendered plainly: pushed as they are, checked all the same.
AGREEING = [
    Case("extract_same_fields", "SELECT id, extract(year FROM day) AS y, extract(quarter FROM day) AS q, "
         "extract(month FROM ts) AS mo, extract(day FROM ts) AS d, extract(hour FROM ts) AS h, "
         "extract(minute FROM ts) AS mi, extract(second FROM ts) AS s FROM maria.t", pushed="EXTRACT"),
    Case("round_exact", "SELECT id, round(m, 1) AS a, round(n, -1) AS b, round(m) AS c, round(m, -1) AS e "
         "FROM maria.t", pushed="ROUND"),
    Case("int_div_mod", "SELECT id, n // 2 AS a, n % 2 AS b, n // -3 AS c, n % -3 AS e FROM maria.t", pushed="DIV"),
    Case("ceil_floor", "SELECT id, ceil(m) AS a, floor(m) AS b, ceil(d) AS c, floor(d) AS e FROM maria.t",
         pushed="CEIL"),
    Case("avg_int", "SELECT avg(n) AS a, avg(m) AS b FROM maria.t", pushed="AVG"),
    Case("concat_null", "SELECT id, s || NULL AS a, concat(s, NULL) AS b, s || n AS c FROM maria.t", pushed="CONCAT"),
    Case("null_order", "SELECT id, n FROM maria.t ORDER BY n NULLS FIRST, id DESC", pushed="ORDER BY", ordered=True),
    Case("null_order_desc", "SELECT id, n FROM maria.t ORDER BY n DESC, id", pushed="ORDER BY", ordered=True),
    Case("text_exact", "SELECT id, CAST(m AS VARCHAR) AS a, CAST(day AS VARCHAR) AS b, CAST(n AS VARCHAR) AS c "
         "FROM maria.t", pushed="CAST"),
    Case("substr_positive", "SELECT id, substr(s, 2, 2) AS a, substr(s, 1) AS b, length(s) AS c FROM maria.t",
         pushed="SUBSTRING"),
    Case("string_ends", "SELECT id, chr(65) AS c, trim(s, 'B') AS t, left(s, 2) AS l, right(s, 2) AS r, "
         "replace(s, 'b', 'X') AS x, lpad(s, 8, '*') AS p, reverse(s) AS v FROM maria.t", pushed="LEFT"),
    Case("math_defined", "SELECT id, power(n, 2) AS f, exp(n) AS h, abs(n) AS b, sign(d) AS c FROM maria.t",
         pushed="POWER"),
    Case("typed_literals", "SELECT id FROM maria.t WHERE day = '2024-02-29' OR ts >= '2024-01-01 00:00:00' "
         "OR n = '1' OR m IN ('2.55', '12.3') OR n BETWEEN '-1' AND '0'", pushed="'2024-02-29'"),
    Case("date_diff_day", "SELECT id, date_diff('day', day, DATE '2023-01-01') AS a FROM maria.t", pushed="DATEDIFF"),
    # same values, but MariaDB's type (BIGINT under MIN) does not fit DECIMAL(10, 0): cast in the engine
    Case("min_ceil_decimal", "SELECT min(ceil(m)) AS a, max(floor(m)) AS b FROM maria.t", pushed="DECIMAL(10, 0)"),
    Case("full_join_rows", "SELECT a.id AS x, b.id AS y FROM maria.t a FULL JOIN maria.t b ON a.id = b.id + 30"),
]


def _mysql_fragments(mesh: Mesh, sql: str) -> list[str]:
    plan = mesh.runtime.bind(mesh.runtime.prepare(sql, mesh.principal), mesh.principal).plan
    return [fragment.sql for fragment in plan.fragments if fragment.engine == "mysql"]


@pytest.mark.parametrize("case", CASES + AGREEING, ids=str)
def test_mesh_equals_oracle(mesh: Mesh, case: Case) -> None:
    got = mesh.runtime.query(case.sql, mesh.principal).read_all()
    want = mesh.oracle.sql(case.sql).to_arrow_table()
    order = [term.alias_or_name for term in sqlglot.parse_one(case.sql, read="duckdb").args["order"].expressions] \
        if case.ordered else None
    assert_same_result(got, want, ordered=case.ordered, order_by=order, check_names=False)
    fragments = _mysql_fragments(mesh, case.sql)
    assert fragments, "nothing ran on MariaDB"
    if case.pushed is not None:
        assert any(case.pushed in sql for sql in fragments), fragments
    if case.kept is not None:
        assert not any(case.kept in sql for sql in fragments), fragments


def _plain(sql: str) -> str:
    """The query in MariaDB's dialect as sqlglot renders it, names of the maria product unqualified."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    for table in tree.find_all(exp.Table):
        table.set("db", None)
    return tree.sql("mysql")


def _normal(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, Decimal)):
        number = float(value)
        # 12 significant digits: a DECIMAL rounded to 10 places (1.429e-07) is not a DOUBLE's 1.42857e-07
        return "nan" if math.isnan(number) else float(f"{number:.12g}")
    return value


def _normal_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(_normal(value) for value in row) for row in rows]


@pytest.mark.parametrize("case", [case for case in CASES if "duck." not in case.sql], ids=str)
def test_plain_rendering_differs(mesh: Mesh, case: Case) -> None:
    import pymysql

    want = _normal_rows(mesh.oracle.sql(case.sql).fetchall())
    connection = mysql_connect(mesh.mysql_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION div_precision_increment = 10")  # what the connector's sessions use
            cursor.execute(_plain(case.sql))
            got = _normal_rows(list(cursor.fetchall()))
    except pymysql.MySQLError:
        return  # MariaDB refuses what the mesh dialect answers (EXTRACT(DOW ...)): a difference too
    finally:
        connection.close()
    if case.ordered:
        assert got != want
    else:
        assert collections.Counter(got) != collections.Counter(want)


@pytest.mark.parametrize("case", [case for case in CASES if "duck." in case.sql], ids=str)
def test_plain_feed_differs(mesh: Mesh, case: Case) -> None:
    """The MariaDB side of a cross-engine join, plainly rendered, returns other rows than DuckDB's."""
    inner = "SELECT DISTINCT s FROM t" if "DISTINCT" in case.sql else "SELECT s, count(*) AS n FROM t GROUP BY s"
    connection = mysql_connect(mesh.mysql_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute(inner)
            got = len(cursor.fetchall())
    finally:
        connection.close()
    assert got != len(mesh.oracle.sql(inner.replace("FROM t", "FROM maria.t")).fetchall())


@pytest.mark.parametrize(("sql", "table"), [
    ("SELECT id FROM maria.t WHERE s = 'berlin'", "t"),
    ("SELECT id FROM maria.tl WHERE s IN ('a', 'Berlin')", "tl"),
    ("SELECT a.id FROM maria.t a JOIN maria.t b ON a.s = b.s", "b"),
    ("SELECT id FROM maria.t WHERE s LIKE 'Ber%'", "t"),
])
def test_exact_equality_keeps_the_index(mesh: Mesh, sql: str, table: str) -> None:
    """``col = 'x'`` (and IN, joins, LIKE 'prefix%') stays index-served: the raw comparison narrows,
    the exact one decides."""
    (fragment,) = _mysql_fragments(mesh, sql)
    assert EXACT in fragment
    connection = mysql_connect(mesh.mysql_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {fragment}")
            columns = [column[0] for column in cursor.description]
            plans = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()
    (access,) = [plan for plan in plans if plan["table"] == table]
    assert access["key"] == "s" and access["type"] in ("ref", "range"), plans


# The mesh dialect raises; MariaDB, rendered plainly, answers rows: the node must stay in DuckDB.
RAISING = [
    "SELECT id FROM maria.t WHERE id = 'abc'",
    "SELECT id, n % 0 AS a FROM maria.t",
    "SELECT id, n // 0 AS a FROM maria.t",
    "SELECT id, CAST(s AS BOOLEAN) AS a FROM maria.t",
]


@pytest.mark.parametrize("sql", RAISING)
def test_mesh_raises_where_the_oracle_raises(mesh: Mesh, sql: str) -> None:
    from flightmesh.mesh import QueryError

    with pytest.raises(duckdb.Error):
        mesh.oracle.sql(sql).fetchall()
    with pytest.raises(QueryError):
        mesh.runtime.query(sql, mesh.principal).read_all()
    connection = mysql_connect(mesh.mysql_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute(_plain(sql))
            assert cursor.fetchall() is not None  # MariaDB answers (no error) what DuckDB refuses
    finally:
        connection.close()
