"""Early keys (planner/early_keys.py): the statement on a build column's own table, as golden pairs.

Each case is a build fragment (mesh form) and the column a dynamic filter takes from it; the
expected text is the keys-only statement, or None where reading the table alone would not give a
superset of the build's keys (or would give no restriction at all). Results over real engines
are checked against the one-file oracle in tests/tpch/test_tpch_early_keys.py.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from flightmesh.planner.early_keys import early_keys, keys_tree
from flightmesh.planner.plan import KeyFilter
from flightmesh.planner.split import FragmentDraft

Q09_BUILD = ("SELECT part.p_partkey AS p_partkey, supplier.s_nationkey AS s_nationkey, "
             "partsupp.ps_suppkey AS ps_suppkey FROM part AS part, supplier AS supplier, partsupp AS partsupp "
             "WHERE partsupp.ps_suppkey = supplier.s_suppkey AND part.p_partkey = partsupp.ps_partkey "
             "AND part.p_name LIKE '%green%'")

CASES = [
    # TPC-H q09's SQLite build: only part's own filter is kept.
    (Q09_BUILD, "p_partkey",
     "SELECT part.p_partkey AS \"p_partkey\" FROM part AS part WHERE part.p_name LIKE '%green%'"),
    # Conditions in an inner join's ON count as the table's own, several of them.
    ("SELECT p.k AS k, s.n AS n FROM part AS p JOIN supp AS s ON p.s = s.s AND p.size = 15 "
     "WHERE p.kind LIKE '%BRASS' AND s.n IN (1, 2)", "k",
     "SELECT p.k AS \"k\" FROM part AS p WHERE p.kind LIKE '%BRASS' AND p.size = 15"),
    # A column of the other table: its own filter.
    ("SELECT p.k AS k, s.n AS n FROM part AS p, supp AS s WHERE p.s = s.s AND s.n IN (1, 2)", "n",
     "SELECT s.n AS \"n\" FROM supp AS s WHERE s.n IN (1, 2)"),
    # One table: the build is already the statement.
    ("SELECT p.k AS k FROM part AS p WHERE p.size = 15", "k", None),
    # No filter of the table's own: its keys would be the whole table.
    (Q09_BUILD, "ps_suppkey", None),
    # An outer join: not taken.
    ("SELECT p.k AS k FROM part AS p LEFT JOIN supp AS s ON p.s = s.s WHERE p.size = 15", "k", None),
    # The output is an expression, not the table's column.
    ("SELECT p.k + 1 AS k FROM part AS p, supp AS s WHERE p.s = s.s AND p.size = 15", "k", None),
    # A sample draws other rows in another statement.
    ("SELECT p.k AS k FROM part AS p TABLESAMPLE (10 PERCENT), supp AS s WHERE p.s = s.s AND p.size = 15",
     "k", None),
    # Conditions that are not about one row deterministically are left out (here: all of them).
    ("SELECT p.k AS k FROM part AS p, supp AS s WHERE p.s = s.s AND p.size > RANDOM()", "k", None),
    ("SELECT p.k AS k FROM part AS p, supp AS s WHERE p.s = s.s AND p.size > (SELECT 1)", "k", None),
    # Not a plain SELECT.
    ("SELECT p.k AS k FROM part AS p UNION ALL SELECT s.k AS k FROM supp AS s", "k", None),
]


@pytest.mark.parametrize(("build", "column", "expected"), CASES)
def test_keys_statement(build: str, column: str, expected: str | None) -> None:
    tree = sqlglot.parse_one(build, read="duckdb")
    assert isinstance(tree, exp.Query)
    found = keys_tree(tree, column)
    assert (found.sql("duckdb") if found is not None else None) == expected


def _draft(name: str, sql: str) -> FragmentDraft:
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Query)
    return FragmentDraft(name=name, connector=None, tree=tree)  # type: ignore[arg-type]


def _moved(filters: list[KeyFilter], *, estimate: float = 500.0, counts: dict[tuple[str, str], float] | None = None,
           literal_limits: dict[str, int] | None = None) -> list[tuple[str, str, str]]:
    drafts = [_draft("f0", Q09_BUILD), _draft("f1", "SELECT l.pk AS l_partkey, l.sk AS l_suppkey FROM lineitem AS l")]
    early = early_keys(filters, drafts, lambda tree: estimate, {"f0": 200_000.0, "f1": 6_000_000.0}, 100_000,
                       literal_limits or {}, counts or {})
    assert all(draft.name == "f0_keys" for draft in early.drafts)
    return [(k.build, k.build_column, k.probe_column) for k in early.key_filters]


PARTKEY = KeyFilter("f0", "p_partkey", "f1", "l_partkey")
SUPPKEY = KeyFilter("f0", "ps_suppkey", "f1", "l_suppkey")


def test_the_filter_takes_the_early_keys() -> None:
    assert _moved([PARTKEY]) == [("f0_keys", "p_partkey", "l_partkey")]


def test_a_sibling_filter_that_restricts_nothing_no_longer_keeps_the_probe_waiting() -> None:
    # partsupp's suppliers of the chosen parts: every one of lineitem's 10,000 l_suppkey values.
    counts = {("f0", "ps_suppkey"): 10_000.0, ("f1", "l_suppkey"): 10_000.0}
    assert _moved([PARTKEY, SUPPKEY], counts=counts) == [("f0_keys", "p_partkey", "l_partkey")]
    # A sibling expected to restrict the probe stays (the probe then still waits for the build).
    counts = {("f0", "ps_suppkey"): 10_000.0, ("f1", "l_suppkey"): 50_000.0}
    assert _moved([PARTKEY, SUPPKEY], counts=counts) == [("f0_keys", "p_partkey", "l_partkey"),
                                                         ("f0", "ps_suppkey", "l_suppkey")]


def test_too_many_early_keys_keep_the_build() -> None:
    assert _moved([PARTKEY], estimate=2_000_000.0) == [("f0", "p_partkey", "l_partkey")]  # probe/4 exceeded
    assert _moved([PARTKEY], estimate=300_000.0) == [("f0", "p_partkey", "l_partkey")]     # max keys exceeded
    # A probe taking literals only, at most 100 of them: 500 keys would become a range.
    assert _moved([PARTKEY], literal_limits={"f1": 100}) == [("f0", "p_partkey", "l_partkey")]
