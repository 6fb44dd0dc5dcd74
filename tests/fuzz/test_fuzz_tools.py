"""The fuzzer's own parts: the generator is deterministic and steers only around what it names,
the shrinker reduces and keeps the failure, the comparison catches a wrong answer."""

from __future__ import annotations

import pyarrow as pa
import sqlglot

from tests.fuzz.differential import Differ
from tests.fuzz.generator import KnownOpen, QueryGenerator
from tests.fuzz.shrink import shrink


def _queries(seed: int, count: int) -> list[str]:
    generator = QueryGenerator(seed)
    return [generator.query().sql for _ in range(count)]


def test_generator_is_deterministic_and_parses() -> None:
    queries = _queries(5, 200)
    assert queries == _queries(5, 200)
    assert queries != _queries(6, 200)
    for sql in queries:
        sqlglot.parse_one(sql, read="duckdb")
    assert len(set(queries)) > 190


def test_avoided_features_are_never_generated_and_are_counted() -> None:
    avoid = {"like-on-mariadb": KnownOpen(frozenset({("like", "mysql"), ("ilike", "mysql")}), "none", "test")}
    generator = QueryGenerator(9, avoid=avoid)
    for _ in range(300):
        features = generator.query().features
        assert ("like", "mysql") not in features and ("ilike", "mysql") not in features
    assert generator.skipped["like-on-mariadb"] > 0
    plain = QueryGenerator(9)
    assert any(("like", "mysql") in plain.query().features for _ in range(300))


def test_shrinker_keeps_the_failure_and_drops_the_rest() -> None:
    sql = ("SELECT DISTINCT upper(t1.s) AS c0, t1.k + 1 AS c1 FROM maria.m1 AS t1 LEFT JOIN pg.p1 AS t2 "
           "ON t1.k = t2.k WHERE t1.s = 'berlin' AND t2.n > 0 ORDER BY c0, c1 LIMIT 3")

    def fails(candidate: str) -> bool:  # a stand-in bug: MariaDB compares s with 'berlin'
        tree = sqlglot.parse_one(candidate, read="duckdb")
        return "maria.m1" in candidate and any(
            isinstance(node, sqlglot.exp.EQ) and node.sql() == "t1.s = 'berlin'" for node in tree.walk())

    small, spent = shrink(sql, fails)
    assert fails(small) and spent > 0
    assert small == "SELECT 1 AS c1 FROM maria.m1 AS t1 WHERE t1.s = 'berlin'" or len(small) < 70, small


class _OffByOneOracle(Differ):
    def expected(self, sql: str) -> pa.Table | BaseException:
        return super().expected(sql.replace("count(*)", "count(*) + 1"))


def test_a_wrong_answer_is_a_mismatch(differ: Differ) -> None:
    """The comparison is not vacuous: an oracle that counts one more disagrees with the mesh."""
    sql = "SELECT t1.k AS c0, count(*) AS c1 FROM maria.m1 AS t1 GROUP BY t1.k"
    assert differ.run(sql).status == "match"
    wrong = _OffByOneOracle(differ.runtime, differ.principal, differ.oracle)
    assert wrong.run(sql).status == "mismatch"
    oracle_refuses = differ.run("SELECT t1.n AS c0 FROM duck.d1 AS t1 WHERE t1.n = 'abc'")
    assert oracle_refuses.status in ("both-error", "untyped-error"), oracle_refuses
