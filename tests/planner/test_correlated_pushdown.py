"""Correlated subqueries are not pushed into SQLite; uncorrelated ones still are.

SQLite runs a correlated subquery once per outer row (no decorrelation, no cache per outer value):
benchmarks/broad.py b15 at SF 1 (items priced over their category's average, 18,000 items) took 56 s
inside SQLite, DuckDB over one file 79 ms. So SQLite does not declare
``Pushdown.CORRELATED_SUBQUERY``, and the merge DuckDB decorrelates it. The oracle is DuckDB over
the same rows (tests/demo_fixtures.py); deleting the declaration makes the first two tests fail.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from flightmesh.connectors import Pushdown
from flightmesh.connectors.sqlite import SQLiteConnector
from flightmesh.executor import MeshRuntime
from flightmesh.planner.capability import features_of
from tests.demo_fixtures import principal
from tests.oracle import assert_same_result

CORRELATED = ("SELECT c.name, c.country FROM crm.customers c WHERE c.signed_up_on > "
              "(SELECT min(d.signed_up_on) FROM crm.customers d WHERE d.country = c.country) "
              "ORDER BY c.name, c.customer_id")
UNCORRELATED = ("SELECT c.name, c.country FROM crm.customers c WHERE c.signed_up_on > "
                "(SELECT min(d.signed_up_on) FROM crm.customers d WHERE d.country = 'Kenya') "
                "ORDER BY c.name, c.customer_id")


def _sqlite_fragments(runtime: MeshRuntime, sql: str) -> list[str]:
    alice = principal(runtime, "alice")
    plan = runtime.bind(runtime.prepare(sql, alice), alice).plan
    return [fragment.sql for fragment in plan.fragments if fragment.engine == "sqlite"]


def test_sqlite_declares_no_correlated_subqueries() -> None:
    assert Pushdown.SUBQUERY in SQLiteConnector.capabilities.pushdown
    assert Pushdown.CORRELATED_SUBQUERY not in SQLiteConnector.capabilities.pushdown


def test_a_correlated_subquery_over_sqlite_runs_in_the_merge(demo_runtime: MeshRuntime,
                                                             demo_oracle: duckdb.DuckDBPyConnection) -> None:
    fragments = _sqlite_fragments(demo_runtime, CORRELATED)
    assert fragments and not any("MIN(" in sql.upper() for sql in fragments), fragments
    actual = demo_runtime.query(CORRELATED, principal(demo_runtime, "alice")).read_all()
    expected = demo_oracle.sql(CORRELATED).to_arrow_table()
    assert expected.num_rows > 0
    assert_same_result(actual, expected, ordered=True)


def test_an_uncorrelated_subquery_is_still_pushed_whole(demo_runtime: MeshRuntime,
                                                        demo_oracle: duckdb.DuckDBPyConnection) -> None:
    fragments = _sqlite_fragments(demo_runtime, UNCORRELATED)
    assert len(fragments) == 1 and "MIN(" in fragments[0].upper(), fragments
    actual = demo_runtime.query(UNCORRELATED, principal(demo_runtime, "alice")).read_all()
    assert_same_result(actual, demo_oracle.sql(UNCORRELATED).to_arrow_table(), ordered=True)


@pytest.mark.parametrize(("sql", "correlated"), [
    ("SELECT a.x FROM t AS a WHERE a.y > (SELECT avg(b.y) FROM t AS b WHERE b.k = a.k)", True),
    ("SELECT a.x FROM t AS a WHERE a.y > (SELECT avg(b.y) FROM t AS b WHERE b.k = 1)", False),
    ("SELECT a.x FROM t AS a WHERE EXISTS (SELECT 1 FROM u AS b WHERE b.k = a.k)", True),
    ("SELECT a.x FROM t AS a WHERE EXISTS (SELECT 1 FROM u AS b WHERE b.k = 2)", False),
    ("SELECT a.x FROM t AS a WHERE a.k IN (SELECT b.k FROM u AS b WHERE b.v = a.v)", True),
    ("SELECT a.x FROM t AS a WHERE a.k IN (SELECT b.k FROM u AS b)", False),
    # the outer reference two levels down still makes the outer subquery correlated
    ("SELECT a.x FROM t AS a WHERE a.y > (SELECT max(b.y) FROM t AS b WHERE b.k IN "
     "(SELECT c.k FROM u AS c WHERE c.v = a.v))", True),
    # a derived table's alias inside the subquery is its own
    ("SELECT a.x FROM t AS a WHERE a.y > (SELECT max(s.y) FROM (SELECT b.y FROM t AS b) AS s)", False),
])
def test_correlation_is_recognized(sql: str, correlated: bool) -> None:
    features = features_of(sqlglot.parse_one(sql, dialect="duckdb"))
    assert Pushdown.SUBQUERY in features
    assert (Pushdown.CORRELATED_SUBQUERY in features) is correlated
