"""The one-file oracle of a small mesh: every table in one in-memory DuckDB, under its product's name."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

__all__ = ["oracle_of"]


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
