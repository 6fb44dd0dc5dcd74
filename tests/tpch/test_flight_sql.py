"""The 22 TPC-H queries through a real Flight SQL client (ADBC) against a flightmesh server over
the four-engine mesh: each result equals the one-file oracle's, and EXPLAIN answers as rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pytest

from benchmarks.tpch_mesh import USERS, TpchMesh
from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer

QUERIES = range(1, 23)


@pytest.fixture(scope="module")
def cursor(tpch_mesh: TpchMesh) -> Iterator[Any]:
    with MeshRuntime.open(tpch_mesh.descriptor) as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server, \
            flightsql.connect(f"grpc://127.0.0.1:{server.port}", autocommit=True,
                              db_kwargs={"username": "analyst", "password": USERS["analyst"]}) as conn, \
            conn.cursor() as cursor:
        yield cursor


@pytest.mark.parametrize("number", QUERIES, ids=[f"q{n:02d}" for n in QUERIES])
def test_query_through_adbc_equals_oracle(number, cursor, tpch_mesh, tpch_queries, tpch_check) -> None:  # type: ignore[no-untyped-def]
    cursor.execute(tpch_mesh.qualify(tpch_queries[number]))
    tpch_check(number, cursor.fetch_arrow_table())


def test_explain_through_adbc(cursor, tpch_mesh, tpch_queries) -> None:  # type: ignore[no-untyped-def]
    cursor.execute("EXPLAIN " + tpch_mesh.qualify(tpch_queries[5]))
    rows = cursor.fetch_arrow_table().to_pylist()
    engines = {row["engine"] for row in rows if row["kind"] == "fragment"}
    assert engines == {"duckdb", "postgresql", "sqlite"}
    postgres = next(row for row in rows if row["engine"] == "postgresql")
    assert "'ASIA'" in postgres["sql"]
    assert rows[-1]["kind"] == "residual" or any(row["kind"] == "residual" for row in rows)
