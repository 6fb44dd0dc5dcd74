"""One query through the mesh and through the oracle, compared; the outcome classified.

``Differ(runtime, principal, oracle).run(sql)`` returns an ``Outcome`` whose ``status`` is

    match                 same rows (tests/oracle.py's comparer: ordered under ORDER BY)
    both-error            the oracle refuses the query and the mesh does too, with a QueryError
    mismatch              both answered, differently
    mesh-error            the oracle answers, the mesh raised
    oracle-error          the oracle refuses, the mesh answered anyway
    untyped-error         both refuse, but the mesh not with a QueryError (an EngineError is opaque
                          to the client, any other exception is an internal error)

Only ``match`` and ``both-error`` are good. ``signature`` says how a failure failed (status, the
mesh's error class and the engine's exception name when it names one): the shrinker keeps a
reduction only if its signature is unchanged, so it cannot slide from one bug to another.
``fragments`` are the statements the mesh sent (EXPLAIN's SQL), for the findings file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import FlightmeshError, Principal, QueryError
from tests.oracle import assert_same_result, order_keys, query_limit

__all__ = ["GOOD", "Differ", "Outcome"]

GOOD = frozenset({"match", "both-error"})
_ENGINE_EXCEPTION = re.compile(r"\(([A-Za-z_.]*(?:Exception|Error))\)")


@dataclass
class Outcome:
    status: str
    signature: str
    detail: str = ""
    engines: frozenset[str] = frozenset()
    fragments: tuple[tuple[str, str], ...] = ()       # (engine, SQL)
    residual: str | None = None
    reason: str = ""                                  # the first line of the oracle's (else the mesh's) error

    @property
    def good(self) -> bool:
        return self.status in GOOD

    def same_failure(self, original: Outcome) -> bool:
        """Fails as ``original`` did, on no engine it did not use: a faithful reduction of it."""
        return (self.signature == original.signature and self.reason == original.reason
                and self.engines <= original.engines)


def _error_name(error: BaseException) -> str:
    name = type(error).__name__
    found = _ENGINE_EXCEPTION.search(str(error))
    return f"{name}({found.group(1)})" if found else name


def _reason(error: BaseException) -> str:
    """What went wrong, without where: the message up to DuckDB's "LINE n:" pointer."""
    first = str(error).split("\n", 1)[0].strip()
    # Values and expressions change as the shrinker cuts; the kind of failure must not.
    return re.sub(r"'[^']*'", "''", re.sub(r"\(.*\)", "()", first))


class Differ:
    def __init__(self, runtime: MeshRuntime, principal: Principal, oracle: duckdb.DuckDBPyConnection) -> None:
        self.runtime = runtime
        self.principal = principal
        self.oracle = oracle

    def expected(self, sql: str) -> pa.Table | BaseException:
        try:
            return self.oracle.sql(sql).to_arrow_table()
        except duckdb.Error as error:
            return error

    def _explained(self, sql: str) -> tuple[frozenset[str], tuple[tuple[str, str], ...], str | None]:
        try:
            rows = self.runtime.query(f"EXPLAIN {sql}", self.principal).read_all().to_pylist()
        except Exception:  # a plan that cannot be explained shows no fragments
            return frozenset(), (), None
        fragments = tuple((str(row["engine"]), str(row["sql"])) for row in rows if row["kind"] == "fragment")
        residual = next((str(row["sql"]) for row in rows if row["kind"] == "residual"), None)
        return frozenset(engine for engine, _ in fragments), fragments, residual

    def run(self, sql: str) -> Outcome:
        expected = self.expected(sql)
        engines: frozenset[str] = frozenset()
        fragments: tuple[tuple[str, str], ...] = ()
        residual = None
        try:
            bound = self.runtime.bind(self.runtime.prepare(sql, self.principal), self.principal)
            plan = bound.plan
            engines = frozenset(f.engine for f in plan.fragments)
            fragments = tuple((f.engine, f.sql) for f in plan.fragments)
            residual = plan.residual
            actual: pa.Table | BaseException = self.runtime.execute(bound).read_all()
        except Exception as error:  # every failure is an outcome to classify
            actual = error
            if not fragments:  # typing the plan asks the engines: EXPLAIN still shows what was sent
                engines, fragments, residual = self._explained(sql)
        failed = expected if isinstance(expected, BaseException) else actual
        reason = _reason(failed) if isinstance(failed, BaseException) else ""
        where = {"engines": engines, "fragments": fragments, "residual": residual, "reason": reason}
        if isinstance(expected, BaseException):
            if not isinstance(actual, BaseException):
                return Outcome("oracle-error", f"oracle-error:{type(expected).__name__}",
                               f"oracle: {expected}; mesh answered {actual.num_rows} rows", **where)
            if isinstance(actual, QueryError):
                return Outcome("both-error", "both-error", f"{type(actual).__name__}: {actual}", **where)
            kind = "opaque" if isinstance(actual, FlightmeshError) else "internal"
            signature = f"untyped-error:{kind}:{_error_name(actual)}|oracle:{type(expected).__name__}"
            return Outcome("untyped-error", signature,
                           f"oracle: {expected}; mesh: {type(actual).__name__}: {actual}", **where)
        if isinstance(actual, BaseException):
            return Outcome("mesh-error", f"mesh-error:{_error_name(actual)}",
                           f"{type(actual).__name__}: {actual}", **where)
        try:
            keys = order_keys(sql)
            assert_same_result(actual, expected, ordered=keys is not None, order_by=keys, limit=query_limit(sql))
        except AssertionError as difference:
            return Outcome("mismatch", "mismatch", str(difference), **where)
        return Outcome("match", "match", **where)
