"""Where a residual runs with a Spark merge engine (``executor/merge_route.py``), without a cluster.

The answers themselves are compared with the one-file oracle on Sail in
tests/connectors/test_spark_merge.py; here each rule is shown to decide as documented.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from flightmesh.executor.merge_route import route_residual

SCHEMAS = {
    "f0": pa.schema([("id", pa.int32()), ("amount", pa.decimal128(10, 2)), ("score", pa.float64()),
                     ("name", pa.string()), ("big", pa.decimal128(38, 10))]),
    "f1": pa.schema([("id", pa.int32()), ("label", pa.string()), ("day", pa.date32())]),
}

DELEGATED = [
    'SELECT "f0"."name", "f1"."label" FROM "f0" AS "f0" JOIN "f1" AS "f1" ON "f1"."id" = "f0"."id"',
    'SELECT "f1"."label", SUM("f0"."amount") AS "s", COUNT(*) AS "n" FROM "f0" AS "f0" JOIN "f1" AS "f1" '
    'ON "f1"."id" = "f0"."id" GROUP BY "f1"."label" ORDER BY "f1"."label" LIMIT 5',
    'SELECT "f0"."id" FROM "f0" AS "f0" WHERE "f0"."id" IN (SELECT "f1"."id" FROM "f1" AS "f1")',
    'SELECT EXTRACT(YEAR FROM "f1"."day") AS "y", SUM("f0"."id") AS "s" FROM "f0" AS "f0" JOIN "f1" AS "f1" '
    'ON "f1"."id" = "f0"."id" GROUP BY 1',
]

KEPT = {
    # construct not vetted for the Spark merge
    'SELECT STRING_AGG("f1"."label", \',\') AS "s" FROM "f0" AS "f0" JOIN "f1" AS "f1" ON "f1"."id" = "f0"."id"':
        "not among the constructs",
    # declared difference: integer + wraps around on Spark
    'SELECT "f0"."id" + "f1"."id" AS "s" FROM "f0" AS "f0" JOIN "f1" AS "f1" ON "f1"."id" = "f0"."id"':
        "wraps around",
    # a number compared with text: coerced differently
    'SELECT "f0"."id" FROM "f0" AS "f0" JOIN "f1" AS "f1" ON "f1"."label" = "f0"."id"': "coerce",
    # a DECIMAL product past 38 digits
    'SELECT "f0"."big" * "f0"."amount" * "f0"."amount" AS "p" FROM "f0" AS "f0" JOIN "f1" AS "f1" '
    'ON "f1"."id" = "f0"."id"': "38 digits",
    # a DOUBLE divisor that may be -0.0
    'SELECT "f0"."id" / "f0"."score" AS "q" FROM "f0" AS "f0" JOIN "f1" AS "f1" ON "f1"."id" = "f0"."id"':
        "division by zero",
    # the text of a DOUBLE
    'SELECT CAST("f0"."score" AS TEXT) AS "t" FROM "f0" AS "f0" JOIN "f1" AS "f1" ON "f1"."id" = "f0"."id"':
        "prints otherwise",
}


@pytest.mark.parametrize("sql", DELEGATED)
def test_a_residual_that_means_the_same_runs_on_spark(sql: str) -> None:
    route = route_residual(sql, SCHEMAS, "sail")
    assert route.delegated and route.engine == "sail", route.reason
    assert set(route.fragments) == {"f0", "f1"} or route.fragments == ("f0",)


@pytest.mark.parametrize("sql", list(KEPT))
def test_a_residual_spark_computes_otherwise_stays_in_duckdb(sql: str) -> None:
    route = route_residual(sql, SCHEMAS, "sail")
    assert not route.delegated and route.engine == "duckdb"
    assert KEPT[sql] in route.reason and "runs in the embedded duckdb" in route.reason


@pytest.mark.parametrize(("schema", "why"), [
    (pa.schema([("id", pa.int32()), ("u", pa.uint64())]), "no Spark equivalent"),
    (pa.schema([("id", pa.int32()), ("Id", pa.int64())]), "only in case"),
    (pa.schema([("id", pa.int32()), ("at", pa.timestamp("ns"))]), "does not cross Parquet"),
    (pa.schema([("id", pa.int32()), ("xs", pa.list_(pa.int64()))]), "not exchanged"),
])
def test_a_column_type_parquet_or_spark_would_change_keeps_the_residual(schema: pa.Schema, why: str) -> None:
    sql = 'SELECT "f0"."id" FROM "f0" AS "f0" JOIN "f1" AS "f1" ON "f1"."id" = "f0"."id"'
    route = route_residual(sql, {"f0": schema, "f1": SCHEMAS["f1"]}, "sail")
    assert not route.delegated and why in route.reason


def test_the_spark_sql_reads_each_fragment_from_the_exchange_by_position() -> None:
    sql = ('SELECT "f1"."label", SUM("f0"."id") AS "s", CAST(SUM("f0"."id") AS BIGINT) AS "c" FROM "f0" AS "f0" '
           'JOIN "f1" AS "f1" ON "f1"."id" = "f0"."id" GROUP BY "f1"."label"')
    route = route_residual(sql, SCHEMAS, "spark")
    assert route.delegated, route.reason
    rendered = route.spark_sql({"f0": ("/x/q/f0", tuple(SCHEMAS["f0"].names)),
                                "f1": ("/x/q/f1", tuple(SCHEMAS["f1"].names))})
    assert "FROM `parquet`.`/x/q/f0`" in rendered and "`c0` AS `id`" in rendered
    assert "CAST(`f0`.`id` AS DECIMAL(38, 0))" in rendered   # an integer SUM summed as DuckDB does
    assert "RAISE_ERROR(" in rendered.upper()                  # the narrowing cast raises on overflow
