"""Spark computes what the mesh dialect means, or the piece stays in DuckDB (issue 16, part C).

One table, ``lake.t`` on LakeSail (Spark Connect, in this process), holds rows made to provoke the
differences of ``connectors/spark_semantics.py`` that fragments meet and the merge already guards:
DOUBLEs printed as text (1e20, 1e-05), ``||`` over non-text operands (a DOUBLE, a TIMESTAMPTZ, an
integer), and integers cast to narrower integers. The same rows in one DuckDB are the oracle.

- ``test_mesh_answers_as_duckdb``: each query through the mesh equals DuckDB over the oracle.
- ``test_plain_rendering_differs``: the plain Spark rendering, run on Sail, answers otherwise (or fails),
  so deleting the declaration makes the matching mesh test fail.
- ``test_narrowing_cast_raises_as_in_duckdb``: Sail 0.7.2 raises for a narrowing cast out of range
  ("Can't cast value 300 to type Int8"), as DuckDB does; the mesh answers with a typed DataError.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.spark import SparkConnector
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import CancelScope, DataError, FlightmeshError
from tests.oracle import assert_same_result

from .harness import load_spark_views

T = pa.table({
    "id": pa.array([1, 2, 3, 4, 5], pa.int32()),
    "x": pa.array([1e20, 0.00001, 0.1, -2.5, None], pa.float64()),
    "big": pa.array([300, 3_000_000_000, 1, -129, None], pa.int64()),
    "small": pa.array([1, 2, 3, 4, None], pa.int32()),
    "stamp": pa.array([dt.datetime(2024, 1, 1, 12, 0), dt.datetime(1999, 12, 31, 23, 59, 59), None,
                    dt.datetime(2020, 2, 29), dt.datetime(2024, 6, 1)], pa.timestamp("us", tz="UTC")),
    "s": pa.array(["a", "b", None, "d", "e"], pa.string()),
})

_MESH = """
mesh: {name: spark_semantics}
products:
  lake:
    engine: {kind: spark, uri: "%(spark)s", pool_size: 2}
    tables: {t: {source: global_temp.sem_t}}
    access: {read: [analyst]}
users:
  ann: {password: "not-a-secret", roles: [analyst]}
"""

QUERIES = {
    "double_to_text": "SELECT id, CAST(x AS VARCHAR) AS v FROM lake.t",
    "double_concat": "SELECT id, x || '!' AS v FROM lake.t",
    "timestamptz_concat": "SELECT id, stamp || '' AS v FROM lake.t",
    "concat_function": "SELECT id, concat(s, x) AS v FROM lake.t",
    "integer_concat": "SELECT id, s || small AS v FROM lake.t",
    "text_concat_still_right": "SELECT id, s || '-' || s AS v FROM lake.t",
    "widening_cast": "SELECT id, CAST(small AS BIGINT) + 1 AS v FROM lake.t",
}

# The plain rendering of each, run on Sail, answers otherwise than DuckDB
DIFFERING = ("double_to_text", "double_concat", "timestamptz_concat", "concat_function")


@pytest.fixture(scope="module")
def semantics_mesh(sail_endpoint: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    folder = tmp_path_factory.mktemp("spark_semantics")
    load_spark_views(sail_endpoint, folder / "views", {"sem_t": T})
    descriptor = folder / "mesh.yaml"
    descriptor.write_text(_MESH % {"spark": sail_endpoint})
    runtime = MeshRuntime.open(descriptor)
    oracle = duckdb.connect()
    oracle.execute("SET TimeZone = 'UTC'")
    oracle.execute("CREATE SCHEMA lake")
    oracle.register("incoming", T)
    oracle.execute("CREATE TABLE lake.t AS SELECT * FROM incoming")
    oracle.unregister("incoming")
    try:
        yield runtime, oracle
    finally:
        runtime.close()
        oracle.close()


def _ann(runtime: MeshRuntime) -> Any:
    principal = runtime.principal_for("ann")
    assert principal is not None
    return principal


@pytest.mark.parametrize("name", list(QUERIES))
def test_mesh_answers_as_duckdb(name: str, semantics_mesh: tuple[MeshRuntime, Any]) -> None:
    runtime, oracle = semantics_mesh
    sql = QUERIES[name]
    assert_same_result(runtime.query(sql, _ann(runtime)).read_all(), oracle.sql(sql).to_arrow_table(), ordered=False)


@pytest.mark.parametrize("name", DIFFERING)
def test_plain_rendering_differs(name: str, semantics_mesh: tuple[MeshRuntime, Any], sail_endpoint: str) -> None:
    _, oracle = semantics_mesh
    sql = QUERIES[name]
    plain = sqlglot.transpile(sql.replace("lake.t", "global_temp.sem_t"), read="duckdb", write="spark")[0]
    connector = SparkConnector("plain", sail_endpoint, pool_size=1)
    try:
        on_sail = connector.execute(FragmentQuery(plain), CancelScope()).read_all()
    except FlightmeshError:
        return  # Sail refuses it (concat's COALESCE(x, '') of a DOUBLE): as much a difference
    finally:
        connector.close()
    expected = oracle.sql(sql).to_arrow_table()
    assert sorted(map(str, on_sail.column("v").to_pylist())) != sorted(map(str, expected.column("v").to_pylist()))


def test_narrowing_cast_raises_as_in_duckdb(semantics_mesh: tuple[MeshRuntime, Any], sail_endpoint: str) -> None:
    runtime, oracle = semantics_mesh
    sql = "SELECT id, CAST(big AS TINYINT) AS v FROM lake.t"
    with pytest.raises(duckdb.Error):
        oracle.sql(sql).fetchall()
    with pytest.raises(DataError):
        runtime.query(sql, _ann(runtime)).read_all()
    # Sail itself raises for the pushed cast, and the connector types its error the same way
    connector = SparkConnector("plain", sail_endpoint, pool_size=1)
    try:
        with pytest.raises(DataError):
            connector.execute(FragmentQuery("SELECT CAST(big AS TINYINT) AS v FROM global_temp.sem_t"),
                              CancelScope()).read_all()
    finally:
        connector.close()


def test_text_operands_are_still_pushed(semantics_mesh: tuple[MeshRuntime, Any]) -> None:
    """``||`` of text and a cast of text to text stay in the Spark fragment."""
    runtime, _ = semantics_mesh
    plan = runtime.query("EXPLAIN SELECT id, s || '-' AS v FROM lake.t WHERE CAST(s AS VARCHAR) <> 'b'",
                         _ann(runtime)).read_all()
    text = "\n".join(str(value) for column in plan.columns for value in column.to_pylist())
    assert "'-'" in text and "`global_temp`.`sem_t`" in text


def test_narrowing_casts_are_declared() -> None:
    """A cast that may not fit (wider integer, out-of-range literal) stays in DuckDB for a Spark with
    ANSI mode off, where it would wrap around; a widening cast or a literal that fits is pushed."""
    from sqlglot.optimizer.annotate_types import annotate_types

    capabilities = SparkConnector.capabilities

    def pushed(sql: str) -> bool:
        tree = annotate_types(sqlglot.parse_one(sql, read="duckdb"), dialect="duckdb")
        return all(capabilities.supports(node) for node in tree.walk())

    assert not pushed("SELECT CAST(CAST(1 AS BIGINT) AS INTEGER) AS v")
    assert not pushed("SELECT CAST(300 AS TINYINT) AS v")
    assert pushed("SELECT CAST(CAST(1 AS INTEGER) AS BIGINT) AS v")
    assert pushed("SELECT CAST(100 AS TINYINT) AS v")
