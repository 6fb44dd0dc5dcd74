
"""One conformance suite, run by every connector (Ibis-style), against real engines.

Each query of ``cases`` is rendered by sqlglot from one DuckDB AST into the connector's dialect
and its result compared with DuckDB over the same Arrow tables. Expected failures are derived
from the connector's declared ``Capabilities``: a query holding a node the connector says it
cannot take must fail on the real engine (``xfail(strict=True)``), so a declaration that is too
cautious shows up as an XPASS, and one that is too bold as a plain failure. Gaps a connector does
not declare are listed in ``UNDECLARED`` with the reason.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from flightmesh.connectors import connector_class
from flightmesh.connectors.base import FragmentQuery
from flightmesh.mesh import CancelScope, EngineError, QueryCancelled, UnknownTable

from .cases import FUNCTION_CASES, PUSHDOWN_CASES, Case
from .dataset import TYPES, TYPES_ROWS, tables
from .harness import (
    Harness,
    build_duckdb,
    build_flightsql,
    build_mysql,
    build_parquet,
    build_postgresql,
    build_spark,
    build_sqlite,
    render,
)

KINDS = ["duckdb", "sqlite", "parquet", "postgresql", "mysql", "flightsql", "spark"]
_MARKS = {"postgresql": [pytest.mark.postgresql], "mysql": [pytest.mark.mysql]}

# Gaps the connectors do not declare (yet): (kind, case) -> why. Reported to the connector's owner.
UNDECLARED: dict[tuple[str, str], str] = {
    # sqlglot parses hash() as an anonymous function: capabilities cannot name it (and the
    # planner's allow-list refuses anonymous functions before any engine sees them).
    ("sqlite", "hash"): "SQLite has no hash(); anonymous functions are not declarable",
    # PostgreSQL has no round(double precision, int): the planner pushes ROUND only where the
    # faithful rendering makes it DuckDB's (decimals, integers, round(double)), which this suite
    # does not apply; a Difference keeps round(double, n) in DuckDB (test_semantics_postgresql.py).
    ("postgresql", "round"): "plain ROUND(double precision, int) does not exist in PostgreSQL",
    ("spark", "hash"): "Spark's hash() is Murmur3 (DuckDB's is another); anonymous functions are not declarable",
    # A declared Difference (spark_semantics: AVG of a DECIMAL) keeps it in DuckDB; this suite
    # renders it plainly. Shown in tests/connectors/test_spark.py.
    ("spark", "average"): "Spark's AVG of a DECIMAL is a truncated DECIMAL, DuckDB's a DOUBLE",
}


def _capabilities(kind: str) -> Any:
    try:
        return connector_class(kind).capabilities
    except ImportError:
        return None


def _declared_gaps(kind: str, case: Case) -> list[str]:
    capabilities = _capabilities(kind)
    if capabilities is None:
        return []
    # Only what the engine cannot run: a declared semantic Difference (the engine runs the node
    # but may answer otherwise) reads annotated types and is verified by test_semantics_<kind>.py.
    capabilities = dataclasses.replace(capabilities, differences=())
    tree = sqlglot.parse_one(case.sql, read="duckdb")
    return sorted({type(node).__name__ for node in tree.walk() if not capabilities.supports(node)})


def _unrenderable(kind: str, case: Case) -> str | None:
    """Why sqlglot refuses to render ``case`` for the connector's dialect (the planner then keeps
    the query in the residual), or None."""
    capabilities = _capabilities(kind)
    if capabilities is None:
        return None
    try:
        sqlglot.parse_one(case.sql, read="duckdb").sql(capabilities.dialect,
                                                        unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as error:
        return str(error)
    return None


def _params(cases: list[Case]) -> list[Any]:
    params = []
    for kind in KINDS:
        for case in cases:
            marks = list(_MARKS.get(kind, []))
            gaps = _declared_gaps(kind, case)
            refused = _unrenderable(kind, case)
            if refused:
                marks.append(pytest.mark.xfail(strict=True, raises=sqlglot.errors.UnsupportedError,
                                               reason=f"sqlglot does not render it for {kind}: {refused}"))
            elif gaps:
                marks.append(pytest.mark.xfail(strict=True, reason=f"declared: {kind} lacks {', '.join(gaps)}"))
            elif (kind, case.id) in UNDECLARED:
                marks.append(pytest.mark.xfail(strict=True, reason=UNDECLARED[(kind, case.id)]))
            params.append(pytest.param(kind, case, id=f"{kind}-{case.id}", marks=marks))
    return params


# -- fixtures --------------------------------------------------------------------------------------

_HARNESSES: dict[str, Harness] = {}
_STOPS: list[Any] = []


@pytest.fixture(scope="session")
def data_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


def _harness(kind: str, request: pytest.FixtureRequest) -> Harness:
    if kind not in _HARNESSES:
        folder = request.getfixturevalue("data_folder")
        if kind == "duckdb":
            _HARNESSES[kind] = build_duckdb(folder)
        elif kind == "parquet":
            _HARNESSES[kind] = build_parquet(folder)
        elif kind == "sqlite":
            _HARNESSES[kind] = build_sqlite(folder)
        elif kind == "postgresql":
            _HARNESSES[kind] = build_postgresql(request.getfixturevalue("postgres_database"))
        elif kind == "mysql":
            _HARNESSES[kind] = build_mysql(request.getfixturevalue("mysql_database"))
        elif kind == "flightsql":
            (folder / "remote").mkdir(exist_ok=True)
            _HARNESSES[kind], stop = build_flightsql(folder / "remote")
            _STOPS.append(stop)
        elif kind == "spark":
            _HARNESSES[kind] = build_spark(request.getfixturevalue("sail_endpoint"), folder)
    return _HARNESSES[kind]


@pytest.fixture(scope="session", autouse=True)
def _close_harnesses() -> Any:
    yield
    for harness in _HARNESSES.values():
        harness.connector.close()
    _HARNESSES.clear()
    for stop in _STOPS:
        stop()
    _STOPS.clear()


@pytest.fixture(scope="session")
def oracle() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for name, table in tables().items():
        connection.register(name, table)
    return connection


# -- comparison ------------------------------------------------------------------------------------

def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, list):
        return [_normal(item) for item in value]
    return value


def _rows(table: pa.Table, ordered: bool) -> list[tuple[Any, ...]]:
    rows = [tuple(_normal(v) for v in row.values()) for row in table.to_pylist()]
    if not ordered:
        rows.sort(key=lambda row: tuple((v is None, str(v)) for v in row))
    return rows


def run(harness: Harness, oracle: duckdb.DuckDBPyConnection, case: Case) -> None:
    expected = oracle.sql(case.sql).to_arrow_table()
    sql = render(case.sql, harness)
    reader = harness.connector.execute(FragmentQuery(sql, expected_schema=expected.schema), CancelScope())
    assert reader.schema.equals(expected.schema)
    result = reader.read_all()
    assert _rows(result, case.ordered) == _rows(expected, case.ordered)


# -- queries ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "case"), _params(PUSHDOWN_CASES))
def test_pushdown(kind: str, case: Case, request: pytest.FixtureRequest, oracle: duckdb.DuckDBPyConnection) -> None:
    run(_harness(kind, request), oracle, case)


@pytest.mark.parametrize(("kind", "case"), _params(FUNCTION_CASES))
def test_function(kind: str, case: Case, request: pytest.FixtureRequest, oracle: duckdb.DuckDBPyConnection) -> None:
    run(_harness(kind, request), oracle, case)


def _kinds() -> list[Any]:
    return [pytest.param(kind, marks=_MARKS.get(kind, []), id=kind) for kind in KINDS]


@pytest.mark.parametrize("kind", _kinds())
def test_typed_results_schema_matches_the_stream(kind: str, request: pytest.FixtureRequest) -> None:
    """Without a planner schema, a typed engine's reader carries exactly ``result_schema``."""
    harness = _harness(kind, request)
    if not harness.connector.capabilities.typed_results:
        pytest.skip(f"{kind} declares typed_results=False: results take the planner's schema")
    sql = render("SELECT status, count(*) AS n, sum(qty) AS q FROM orders GROUP BY status", harness)
    declared = harness.connector.result_schema(FragmentQuery(sql))
    reader = harness.connector.execute(FragmentQuery(sql), CancelScope())
    assert reader.schema.equals(declared)
    assert reader.read_all().num_rows == 3


# -- metadata and the type table -------------------------------------------------------------------

@pytest.mark.parametrize("kind", _kinds())
def test_type_table_round_trips(kind: str, request: pytest.FixtureRequest) -> None:
    """The portable types: described exactly, and the inserted values come back unchanged."""
    harness = _harness(kind, request)
    described = harness.connector.describe(harness.sources["types"])
    expected_types = {f.name: harness.type_overrides.get(f.name, f.type) for f in TYPES.schema}
    assert {f.name: f.type for f in described} == expected_types
    sql = render("SELECT * FROM types", harness)
    result = harness.connector.execute(FragmentQuery(sql, expected_schema=described), CancelScope()).read_all()
    got = sorted(result.to_pylist(), key=lambda row: (row["i32"] is None, row["i32"] or 0))
    want = sorted(TYPES_ROWS, key=lambda row: (row["i32"] is None, row["i32"] or 0))
    assert got == want


@pytest.mark.parametrize("kind", _kinds())
def test_metadata(kind: str, request: pytest.FixtureRequest) -> None:
    harness = _harness(kind, request)
    names = harness.connector.table_names()
    assert set(harness.sources.values()) <= set(names)
    schema = harness.connector.describe(harness.sources["customers"])
    assert schema.names == ["id", "name", "region", "score"]
    estimate = harness.connector.estimate_rows(harness.sources["orders"])
    assert estimate is None or 100 <= estimate <= 400  # an estimate, not a count
    assert harness.connector.identity() == harness.connector.identity()


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", _kinds())
def test_unknown_table(kind: str, request: pytest.FixtureRequest) -> None:
    harness = _harness(kind, request)
    with pytest.raises(UnknownTable):
        harness.connector.describe("no_such_table_at_all")


@pytest.mark.parametrize("kind", _kinds())
def test_engine_error_names_the_product(kind: str, request: pytest.FixtureRequest) -> None:
    harness = _harness(kind, request)
    sql = render("SELECT no_such_column FROM customers", harness)
    with pytest.raises(EngineError) as caught:
        harness.connector.execute(FragmentQuery(sql, expected_schema=pa.schema([("x", pa.int64())])),
                                  CancelScope()).read_all()
    assert caught.value.product == harness.connector.product
    assert "no_such_column" not in caught.value.detail  # the engine's words stay in ``internal``


# -- cancellation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", _kinds())
def test_cancel_stops_the_engine(kind: str, request: pytest.FixtureRequest) -> None:
    harness = _harness(kind, request)
    if harness.slow_sql is None:
        pytest.skip(f"{kind}: no statement here runs long enough to cancel (files read per batch)")
    scope = CancelScope()
    timer = threading.Timer(0.5, scope.cancel)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(QueryCancelled):
            harness.connector.execute(FragmentQuery(harness.slow_sql), scope).read_all()
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10
    if harness.running is not None:
        deadline = time.monotonic() + 3
        while harness.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert harness.running() == []  # nothing of ours left running in the engine
    # the connector still serves after a cancel
    sql = render("SELECT count(*) AS n FROM customers", harness)
    table = harness.connector.execute(FragmentQuery(sql, expected_schema=pa.schema([("n", pa.int64())])),
                                      CancelScope()).read_all()
    assert table.column("n").to_pylist() == [20]


