"""Which fragments a partitioned read may cut (planner/partition.py ``unions_to_whole``).

The oracle here is the rule itself stated in SQL terms: a fragment whose result over disjoint
ranges of one table's rows is not the union of the ranges' results must be refused. The results
of these queries through a partitioned mesh are compared with DuckDB in
tests/executor/test_partitioned_reads.py.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from flightmesh.governance import POLICY_KEY
from flightmesh.planner.partition import unions_to_whole


def _select(sql: str) -> exp.Select:
    tree = sqlglot.parse_one(sql, read="sqlite")
    assert isinstance(tree, exp.Select)
    return tree


@pytest.mark.parametrize("sql", [
    "SELECT a.x, b.y FROM a, b WHERE a.k = b.k",
    "SELECT a.x, b.y FROM a JOIN b ON a.k = b.k",
    "SELECT a.x, b.y FROM a INNER JOIN b ON a.k = b.k CROSS JOIN c",
    "SELECT x FROM a WHERE x > 3",
    # a subquery in a predicate or projection is a value of each row, whatever it computes inside
    "SELECT x FROM a WHERE k IN (SELECT k FROM b)",
    "SELECT x FROM a WHERE k NOT IN (SELECT k FROM b WHERE b.c LIKE '%z%')",
    "SELECT x FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k)",
    "SELECT x, (SELECT max(y) FROM b) FROM a",
    "SELECT x FROM a WHERE x > (SELECT avg(x) FROM a)",
])
def test_row_preserving_fragments_may_be_cut(sql: str) -> None:
    assert unions_to_whole(_select(sql))


@pytest.mark.parametrize("sql", [
    "SELECT k, count(*) FROM a GROUP BY k",                    # groups span ranges
    "SELECT count(*) FROM a",                                   # an aggregate without GROUP BY
    "SELECT DISTINCT x FROM a",                                 # duplicates across ranges
    "SELECT x FROM a ORDER BY x",                               # the union loses the order
    "SELECT x FROM a LIMIT 10",                                 # k limits are not one
    "SELECT x FROM a LIMIT 10 OFFSET 5",
    "SELECT x, sum(x) OVER (ORDER BY x) FROM a",                # a window reads other rows
    "SELECT a.x FROM a LEFT JOIN b ON a.k = b.k",               # a range of b is not a range of rows
    "SELECT a.x FROM a FULL OUTER JOIN b ON a.k = b.k",
    "SELECT x FROM a UNION ALL SELECT x FROM b",
    "WITH t AS (SELECT x FROM a) SELECT x FROM t",
    "SELECT x FROM (SELECT x FROM a) AS d",                     # a derived table that is no policy
    "SELECT x FROM a JOIN (SELECT k, count(*) AS n FROM b GROUP BY k) AS g ON a.k = g.k",
    "SELECT count(*) FROM a WHERE k IN (SELECT k FROM b)",      # the aggregate is the fragment's own
])
def test_fragments_combining_rows_are_refused(sql: str) -> None:
    tree = sqlglot.parse_one(sql, read="sqlite")
    assert not isinstance(tree, exp.Select) or not unions_to_whole(tree)


def test_a_governed_tables_policy_subquery_is_a_table_read() -> None:
    tree = _select("SELECT d.x, f.y FROM (SELECT id, 'hidden' AS x FROM dim WHERE g <> 3) AS d, f WHERE d.id = f.k")
    subquery = tree.find(exp.Subquery)
    assert subquery is not None
    assert not unions_to_whole(tree)            # untagged: an arbitrary derived table
    subquery.meta[POLICY_KEY] = ["row_filter shop.dim[0]"]
    assert unions_to_whole(tree)
