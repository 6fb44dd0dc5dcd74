"""The one-file oracle of a small mesh: every table in one in-memory DuckDB, under its product's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

from tests.oracle import assert_same_result

__all__ = ["assert_answers_as_oracle", "oracle_of"]


def oracle_of(tables: Mapping[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """``{"shop.orders": table, ...}`` -> a DuckDB where ``SELECT ... FROM shop.orders`` reads it.

    The query a test sends to the mesh runs there unchanged, computed independently of flightmesh.
    """
    oracle = duckdb.connect()
    for qualified, table in tables.items():
        schema, _, name = qualified.partition(".")
        oracle.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        oracle.register("incoming", table)
        oracle.execute(f'CREATE TABLE "{schema}"."{name}" AS SELECT * FROM incoming')
        oracle.unregister("incoming")
    return oracle


def assert_answers_as_oracle(runtime: Any, oracle: duckdb.DuckDBPyConnection, sql: str, user: str = "ann",
                             ordered: bool | None = None) -> None:
    """``sql`` through the mesh as ``user`` equals the oracle's answer; ordered where it orders
    unless ``ordered`` says otherwise."""
    principal = runtime.principal_for(user)
    assert principal is not None
    assert_same_result(runtime.query(sql, principal).read_all(), oracle.sql(sql).to_arrow_table(),
                       ordered="ORDER BY" in sql if ordered is None else ordered)
