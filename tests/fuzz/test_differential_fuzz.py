"""The differential fuzzer's CI run: a fixed seed, a few hundred random queries, every answer the oracle's.

Each query runs through the mesh in-process (MeshRuntime over MariaDB, PostgreSQL, SQLite,
DuckDB and Parquet) and on DuckDB over the same rows in one file. A query passes when both give
the same rows, or when the oracle refuses it and the mesh refuses it with a typed QueryError.
The generator steers around the classes listed in ``known_open.KNOWN_OPEN`` (each kept as a
strict xfail in regressions.py) and the test prints how many queries that cost.
"""

from __future__ import annotations

import collections

from tests.fuzz.differential import Differ, Outcome
from tests.fuzz.generator import KNOWN_OPEN, QueryGenerator

SEED = 20261201
COUNT = 300
EAGER_COUNT = 120


def _fuzz(differ: Differ, seed: int, count: int) -> tuple[collections.Counter[str], set[tuple[str, str]],
                                                        list[tuple[str, Outcome]]]:
    generator = QueryGenerator(seed, avoid=KNOWN_OPEN)
    statuses: collections.Counter[str] = collections.Counter()
    features: set[tuple[str, str]] = set()
    failures = []
    for _ in range(count):
        query = generator.query()
        outcome = differ.run(query.sql)
        statuses[outcome.status] += 1
        features |= query.features
        if not outcome.good:
            failures.append((query.sql, outcome))
    print(f"seed {seed}: {dict(statuses)}; steered around KNOWN_OPEN: {generator.skipped}")
    return statuses, features, failures


def _describe(failures: list[tuple[str, Outcome]]) -> str:
    lines = [f"{len(failures)} queries differ from the oracle (run benchmarks/differential_fuzz.py to shrink):"]
    for sql, outcome in failures[:5]:
        lines += [f"  {outcome.signature}: {sql}", f"    {outcome.detail[:600]}"]
        lines += [f"    fragment [{engine}] {fragment}" for engine, fragment in outcome.fragments]
    return "\n".join(lines)


def test_fixed_seed_answers_as_the_oracle(differ: Differ) -> None:
    statuses, features, failures = _fuzz(differ, SEED, COUNT)
    assert not failures, _describe(failures)
    # The run is worth something: most queries answer, on every engine, with joins pushed inside
    # one engine and joins across engines.
    assert statuses["match"] >= COUNT * 0.8, statuses
    scanned = {engine for construct, engine in features if construct == "scan"}
    assert scanned == {"mysql", "postgresql", "sqlite", "duckdb", "parquet"}, scanned
    joins = {construct.split(":")[0] for construct, _ in features if construct.startswith("join-")}
    assert {"join-inner-same", "join-left-same", "join-inner-cross", "join-left-cross", "join-full-cross"} <= joins


def test_fixed_seed_with_eager_rewrites(eager_differ: Differ) -> None:
    """Dynamic filtering and pre-aggregation forced on: the rewrites must not change an answer."""
    statuses, _, failures = _fuzz(eager_differ, SEED + 1, EAGER_COUNT)
    assert not failures, _describe(failures)
    assert statuses["match"] >= EAGER_COUNT * 0.8, statuses
