"""TPC-H fixtures: the SF 0.01 data, its one-file DuckDB oracle, the four-engine mesh, the queries.

The data is built once into ``tests/.data/tpch-sf0_01`` (gitignored) and reused by later runs;
``benchmarks/tpch_mesh.py`` says what is where. Fixtures that need PostgreSQL skip visibly when
it is not reachable, and fail instead when ``CI=true``.

A test of the federated planner looks like::

    def test_query(tpch_mesh, tpch_queries, tpch_check, number):
        sql = tpch_mesh.qualify(tpch_queries[number])       # lineitem -> sales.lineitem ...
        tpch_check(number, run_through_flightmesh(tpch_mesh.descriptor, sql))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from benchmarks.tpch_mesh import TpchData, TpchMesh, build, load_queries, prepare_data, require_postgres
from tests.oracle import assert_same_result, order_keys, query_limit

SF = 0.01
DATA = Path(__file__).resolve().parent.parent / ".data" / "tpch-sf0_01"


@pytest.fixture(scope="session")
def tpch_data() -> TpchData:
    """Generated data and oracle only: no PostgreSQL needed."""
    return prepare_data(SF, DATA)


@pytest.fixture(scope="session")
def tpch_mesh(tpch_data: TpchData) -> TpchMesh:
    """The whole mesh: sales (DuckDB), customers (PostgreSQL), supply (SQLite), reference (Parquet)."""
    require_postgres()
    return build(SF, DATA)


@pytest.fixture(scope="session")
def tpch_oracle(tpch_data: TpchData) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the oracle: DuckDB over all eight tables in one file."""
    connection = tpch_data.connect_oracle()
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def tpch_queries() -> dict[int, str]:
    """The 22 TPC-H query texts by number, with unqualified table names."""
    return load_queries()


@pytest.fixture(scope="session")
def tpch_expected(tpch_oracle: duckdb.DuckDBPyConnection,
                  tpch_queries: dict[int, str]) -> dict[int, pa.Table]:
    """Each query's result on the oracle, computed once per session."""
    return {number: tpch_oracle.sql(sql).to_arrow_table() for number, sql in tpch_queries.items()}


@pytest.fixture(scope="session")
def tpch_check(tpch_queries: dict[int, str],
               tpch_expected: dict[int, pa.Table]) -> Callable[[int, pa.Table], None]:
    """``tpch_check(number, actual)`` asserts ``actual`` is the oracle's result for query ``number``.

    Queries with ORDER BY are compared in order, rows tied on the ORDER BY columns as
    multisets, and a run of ties cut by the query's LIMIT on its ORDER BY columns only.
    """

    def check(number: int, actual: pa.Table) -> None:
        sql = tpch_queries[number]
        keys = order_keys(sql)
        assert_same_result(actual, tpch_expected[number], ordered=keys is not None, order_by=keys,
                           limit=query_limit(sql))

    return check
