"""The merge delegated to Apache Spark's own Spark Connect server (the JVM), not Sail.

Slow and opt-in like tests/connectors/test_spark_jvm.py, whose server fixture it shares
(``FLIGHTMESH_SPARK_JVM=1 pytest -m spark_jvm tests/connectors/test_spark_merge_jvm.py``; marked
``spark_jvm``). Apache Spark 4 runs with ANSI mode on by default, Sail with it off: the renderings
of ``executor/spark_renderings.py`` (integer SUMs as DECIMAL(38, 0), guarded divisions, AVG of a
DECIMAL, checked integer casts) and the Parquet exchange must hold on both.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import DataError, EngineError
from tests.oracle import assert_same_result

from .test_spark_jvm import SparkServer, spark_server  # noqa: F401 (the shared JVM fixture)

pytestmark = [
    pytest.mark.spark_jvm,
    pytest.mark.skipif(os.environ.get("FLIGHTMESH_SPARK_JVM") != "1",
                       reason="Apache Spark's JVM server: slow, opt-in (FLIGHTMESH_SPARK_JVM=1)"),
]

_MESH = """
mesh: {name: jvm_merge}
settings:
  merge_engine: {kind: spark, uri: "%(merge)s", exchange: "%(exchange)s"}
products:
  left: {engine: {kind: duckdb, path: left.duckdb}, tables: {nums: {}}, access: {read: [analyst]}}
  right: {engine: {kind: duckdb, path: right.duckdb}, tables: {nums: {}}, access: {read: [analyst]}}
users:
  ann: {password: "not-a-secret", roles: [analyst]}
"""

QUERIES = {
    "renderings": """
        SELECT a.k, sum(a.i) AS s, avg(a.d) AS m, CAST(sum(a.i) AS BIGINT) AS c, count(*) AS n,
               sum(a.d) / sum(b.d - b.d) AS by_zero, sum(a.d) / 7 AS seventh
        FROM left.nums a JOIN right.nums b ON a.x = b.x GROUP BY a.k""",
    "window_and_set": """
        SELECT a.x, rank() OVER (PARTITION BY a.k ORDER BY b.d DESC, a.x) AS rk FROM left.nums a
        JOIN right.nums b ON a.x = b.x WHERE a.x < 40
        UNION ALL SELECT x, 0 FROM right.nums WHERE x >= 190""",
}


def test_the_merge_on_apache_spark_equals_the_oracle(spark_server: SparkServer, tmp_path: Path) -> None:  # noqa: F811
    for name, rows in (("left", 300), ("right", 200)):
        with duckdb.connect(str(tmp_path / f"{name}.duckdb")) as connection:
            connection.execute(f"CREATE TABLE nums AS SELECT CAST(range AS DOUBLE) AS x, "
                               f"CAST(range % 3 AS DOUBLE) AS k, CAST(range AS INTEGER) AS i, "
                               f"CAST(range / 7 AS DECIMAL(10, 2)) AS d, "
                               f"CAST(4611686018427387904 AS BIGINT) AS big FROM range({rows})")
    exchange = tmp_path / "exchange"
    (tmp_path / "mesh.yaml").write_text(_MESH % {"merge": spark_server.uri, "exchange": exchange})
    oracle = duckdb.connect()
    for name in ("left", "right"):
        oracle.execute(f"ATTACH '{tmp_path / name}.duckdb' AS \"{name}\" (READ_ONLY)")
    with MeshRuntime.open(tmp_path / "mesh.yaml") as runtime:
        principal = runtime.principal_for("ann")
        assert principal is not None
        for sql in QUERIES.values():
            plan = runtime.query("EXPLAIN " + sql, principal).read_all().to_pylist()
            residual = next(row for row in plan if row["kind"] == "residual")
            assert residual["engine"] == "spark (merge)", residual["detail"]
            expected = oracle.sql(sql.replace("left.", '"left".').replace("right.", '"right".')).to_arrow_table()
            assert_same_result(runtime.query(sql, principal).read_all(), expected, ordered=False)
        # past 2**63 the checked cast raises, as DuckDB does
        overflow = ("SELECT a.k, CAST(sum(b.big) AS BIGINT) AS c FROM left.nums a JOIN right.nums b ON a.x = b.x "
                    "GROUP BY a.k")
        plan = runtime.query("EXPLAIN " + overflow, principal).read_all().to_pylist()
        assert next(row for row in plan if row["kind"] == "residual")["engine"] == "spark (merge)"
        with pytest.raises((DataError, EngineError)):
            runtime.query(overflow, principal).read_all()
    assert not [path for path in exchange.rglob("*") if path.is_file()]
    oracle.close()
