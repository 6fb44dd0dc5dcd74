"""TPC-H through flightmesh, beside DuckDB over the same data in one file and beside pulling whole tables.

    python benchmarks/tpch.py --sf 1 [--runs 5] [--queries 1,3,5]

The mesh is issue 3's split (``benchmarks/tpch_mesh.py``): lineitem and orders in DuckDB;
customer, nation and region in PostgreSQL; part, partsupp and supplier in SQLite. Three systems
run each query, interleaved query by query (the order rotates every round), and each query's
median over ``--runs`` timed runs is reported:

* ``flightmesh``: ``flightmesh serve`` in its own process, queried through the ADBC Flight SQL
  driver. One cursor per query, re-executed, so a timed run is GetFlightInfo (plan from the
  cache) + DoGet, as an application re-running a prepared statement sees it.
* ``duckdb``: DuckDB over the eight tables in one file (the oracle), in this process: the speed
  reference of DESIGN.md §8.
* ``pull``: naive federation: every table the query names is read whole from its own engine
  (flightmesh's connectors, the tables read concurrently), loaded into a fresh in-memory DuckDB,
  and the original query run there. The time covers all of it.

Every flightmesh and pull result is compared with the oracle's (``tests/oracle.py``); a result
that differs is reported in the table, never dropped. Before the timed runs each query runs once
cold through ADBC (a new statement on a server that has never seen it: prepare, plan, run), which
is also the warm-up, and its planning is measured on an embedded ``MeshRuntime`` with the plan
cache off (``planning`` is the planner's own time, ``prepare`` adds parsing and asking the engines
for the result schema).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))  # `python benchmarks/tpch.py` from anywhere

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from benchmarks.tpch_mesh import TpchMesh, build, load_queries, sf_tag  # noqa: E402
from benchmarks.transport import describe_machine, server_process  # noqa: E402

SYSTEMS = ("flightmesh", "duckdb", "pull")
TARGET = 2.0   # issue 3: flightmesh / DuckDB-in-one-file <= 2.0 (geometric mean)


@dataclass
class QueryResult:
    number: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in SYSTEMS})
    cold_ms: float = math.nan            # first execution through ADBC: prepare + plan + run
    planning_ms: float = math.nan        # the planner alone, empty plan cache (median)
    prepare_ms: float = math.nan         # parse + plan + result schema, empty plan cache (median)
    differences: dict[str, str] = field(default_factory=dict)   # system -> first line of the diff

    def median_ms(self, system: str) -> float:
        return statistics.median(self.seconds[system]) * 1000.0


# -- the three systems -----------------------------------------------------------------------------


class Oracle:
    """DuckDB over the eight tables in one file."""

    def __init__(self, mesh: TpchMesh) -> None:
        self.connection = mesh.connect_oracle()

    def run(self, sql: str) -> pa.Table:
        return self.connection.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.connection.close()


class FlightMeshClient:
    """ADBC against the server; one cursor per query, so re-executing skips the prepare."""

    def __init__(self, port: int, user: str, password: str) -> None:
        import adbc_driver_flightsql.dbapi as dbapi

        self.uri = f"grpc://127.0.0.1:{port}"
        self.connection = dbapi.connect(self.uri, db_kwargs={"username": user, "password": password},
                                        autocommit=True)
        self.cursors: dict[str, Any] = {}

    def run(self, sql: str) -> pa.Table:
        cursor = self.cursors.get(sql)
        if cursor is None:
            cursor = self.cursors[sql] = self.connection.cursor()
        cursor.execute(sql)
        return cursor.fetch_arrow_table()

    def close(self) -> None:
        for cursor in self.cursors.values():
            cursor.close()
        self.connection.close()


class PullWhole:
    """Read each named table whole through its product's connector, then join in DuckDB."""

    def __init__(self, runtime: Any) -> None:
        from flightmesh.connectors import FragmentQuery
        from flightmesh.mesh import CancelScope

        self.runtime = runtime
        self.principal = runtime.principal_for("analyst")
        self._fragment_query = FragmentQuery
        self._cancel_scope = CancelScope
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pull")

    def tables_of(self, qualified_sql: str) -> list[tuple[str, str]]:
        """(product, table) pairs the query reads, each once."""
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(qualified_sql, read="duckdb")
        found = {(table.db, table.name) for table in tree.find_all(exp.Table) if table.db}
        return sorted(found)

    def read(self, product: str, name: str) -> pa.Table:
        table = self.runtime.catalog.lookup(product, name, self.principal)
        connector = self.runtime.connectors[product]
        source = connector.table_expression(table.spec.source).sql(dialect=connector.capabilities.dialect)
        query = self._fragment_query(f"SELECT * FROM {source}", expected_schema=table.schema)
        reader = connector.execute(query, self._cancel_scope())
        try:
            return reader.read_all()
        finally:
            reader.close()

    def run(self, sql: str, qualified_sql: str) -> pa.Table:
        tables = self.tables_of(qualified_sql)
        pulled = list(self.pool.map(lambda pair: self.read(*pair), tables))
        with contextlib.closing(duckdb.connect()) as connection:
            for (_, name), data in zip(tables, pulled, strict=True):
                connection.register(name, data)
            return connection.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.pool.shutdown()


# -- measuring -------------------------------------------------------------------------------------


def timed(run: Callable[[], pa.Table]) -> tuple[float, pa.Table]:
    started = time.perf_counter()
    table = run()
    return time.perf_counter() - started, table


def checker(sql: str, expected: pa.Table) -> Callable[[pa.Table], str | None]:
    """``check(actual)``: None when ``actual`` is the oracle's result, else the first line of why not."""
    from tests.oracle import assert_same_result, order_keys, query_limit

    keys = order_keys(sql)
    limit = query_limit(sql)

    def check(actual: pa.Table) -> str | None:
        try:
            assert_same_result(actual, expected, ordered=keys is not None, order_by=keys, limit=limit)
        except AssertionError as error:
            return str(error).splitlines()[0]
        return None

    return check


def measure_planning(mesh: TpchMesh, queries: dict[int, str], results: dict[int, QueryResult],
                     repeats: int) -> None:
    """Cold planning per query on an embedded runtime whose plan cache is off."""
    from flightmesh.executor import MeshRuntime
    from flightmesh.mesh import load_descriptor

    spec = load_descriptor(mesh.descriptor)
    spec = replace(spec, settings=replace(spec.settings, plan_cache_size=0))
    with MeshRuntime.open(spec) as runtime:
        analyst = runtime.principal_for("analyst")
        for number, sql in queries.items():
            planning, prepare = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                prepared = runtime.prepare(sql, analyst)
                prepare.append((time.perf_counter() - started) * 1000.0)
                planning.append(runtime.bind(prepared, analyst).planning_ms)
            results[number].planning_ms = statistics.median(planning)
            results[number].prepare_ms = statistics.median(prepare)


def benchmark(mesh: TpchMesh, numbers: list[int], runs: int, progress: bool) -> dict[int, QueryResult]:
    from flightmesh.executor import MeshRuntime

    texts = load_queries()
    plain = {n: texts[n] for n in numbers}
    qualified = {n: mesh.qualify(texts[n]) for n in numbers}
    results = {n: QueryResult(n) for n in numbers}
    user, password = next(iter(mesh.users.items()))
    command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(mesh.descriptor), "--port", "0"]
    with contextlib.ExitStack() as stack:
        port, _ = stack.enter_context(server_process(command, "flightmesh"))
        client = FlightMeshClient(port, user, password)
        stack.callback(client.close)
        oracle = Oracle(mesh)
        stack.callback(oracle.close)
        runtime = stack.enter_context(MeshRuntime.open(mesh.descriptor))
        pull = PullWhole(runtime)
        stack.callback(pull.close)

        checks = {}
        for n in numbers:                  # the oracle's answers; also its warm-up run
            checks[n] = checker(plain[n], oracle.run(plain[n]))
        runners: dict[str, Callable[[int], Callable[[], pa.Table]]] = {
            "flightmesh": lambda n: lambda: client.run(qualified[n]),
            "duckdb": lambda n: lambda: oracle.run(plain[n]),
            "pull": lambda n: lambda: pull.run(plain[n], qualified[n]),
        }

        def note(system: str, n: int, table: pa.Table) -> None:
            if system == "duckdb" or system in results[n].differences:
                return
            problem = checks[n](table)
            if problem is not None:
                results[n].differences[system] = problem

        # Cold: the server has never seen these statements. This doubles as flightmesh's warm-up;
        # pull gets one warm-up run too (page caches, connections).
        for n in numbers:
            seconds, table = timed(runners["flightmesh"](n))
            results[n].cold_ms = seconds * 1000.0
            note("flightmesh", n, table)
            note("pull", n, timed(runners["pull"](n))[1])
            _progress(progress, f"cold q{n:02d}: {results[n].cold_ms:.0f} ms")
        for round_ in range(runs):
            for n in numbers:
                order = SYSTEMS[round_ % 3:] + SYSTEMS[:round_ % 3]
                for system in order:
                    seconds, table = timed(runners[system](n))
                    results[n].seconds[system].append(seconds)
                    note(system, n, table)
            _progress(progress, f"round {round_ + 1}/{runs} done")
    measure_planning(mesh, qualified, results, repeats=3)
    return results


def _progress(enabled: bool, message: str) -> None:
    if enabled:
        print(f"  .. {message}", file=sys.stderr, flush=True)


# -- the report ------------------------------------------------------------------------------------


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


COLUMNS = (("query", 5), ("flightmesh", 10), ("duckdb", 8), ("pull", 8), ("fm/duck", 7), ("pull/duck", 9),
           ("fm/pull", 7), ("plan ms", 7), ("prep ms", 7), ("cold ms", 7))


def report(results: dict[int, QueryResult]) -> None:
    print("\nper query, median ms of the timed runs (cold = first execution through ADBC)")
    print("  ".join(f"{name:>{width}}" for name, width in COLUMNS) + "  result")
    for n, result in results.items():
        fm, duck, pull = (result.median_ms(s) for s in SYSTEMS)
        cells = (f"q{n:02d}", f"{fm:.1f}", f"{duck:.1f}", f"{pull:.1f}", f"{fm / duck:.2f}",
                 f"{pull / duck:.2f}", f"{fm / pull:.3f}", f"{result.planning_ms:.1f}",
                 f"{result.prepare_ms:.1f}", f"{result.cold_ms:.0f}")
        verdict = "; ".join(f"{s} DIFFERS: {why}" for s, why in result.differences.items())
        print("  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))
              + "  " + (verdict or "same as oracle"))
    medians = {s: [r.median_ms(s) for r in results.values()] for s in SYSTEMS}
    means = {s: geometric_mean(values) for s, values in medians.items()}
    print(f"\ngeometric mean ms: flightmesh {means['flightmesh']:.1f}, duckdb one file "
          f"{means['duckdb']:.1f}, pull whole {means['pull']:.1f}")

    def ratio(a: str, b: str) -> float:
        return geometric_mean([x / y for x, y in zip(medians[a], medians[b], strict=True)])

    fm_duck = ratio("flightmesh", "duckdb")
    verdict = "meets" if fm_duck <= TARGET else "misses"
    print(f"geometric-mean ratio flightmesh / DuckDB-one-file: {fm_duck:.2f} "
          f"({verdict} the <= {TARGET:.1f} target)")
    print(f"geometric-mean ratio pull-whole / DuckDB-one-file: {ratio('pull', 'duckdb'):.2f}")
    print(f"geometric-mean ratio flightmesh / pull-whole:      {ratio('flightmesh', 'pull'):.3f}")
    planning = [r.planning_ms for r in results.values()]
    cold = [r.cold_ms for r in results.values()]
    print(f"planning ms (cold, planner only): median {statistics.median(planning):.1f}, "
          f"max {max(planning):.1f}; first execution through ADBC: geometric mean "
          f"{geometric_mean(cold):.0f} ms")
    differing = [f"q{r.number:02d}" for r in results.values() if r.differences]
    print("results: " + (f"DIFFER from the oracle in {', '.join(differing)}" if differing
                         else f"all {len(results)} equal the oracle's"))


def parse_queries(text: str | None) -> list[int]:
    if not text:
        return list(range(1, 23))
    numbers = sorted({int(part) for part in text.split(",") if part.strip()})
    if not numbers or not all(1 <= n <= 22 for n in numbers):
        raise argparse.ArgumentTypeError("queries are numbers from 1 to 22, e.g. 1,3,5")
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query and system (default 5)")
    parser.add_argument("--queries", type=parse_queries, default=parse_queries(None),
                        help="comma-separated query numbers (default: all 22)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    mesh = build(args.sf, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(args.sf)}")
    print(f"TPC-H SF {args.sf:g}, queries {','.join(map(str, args.queries))}, {args.runs} timed runs per "
          "query and system after one warm-up, interleaved; medians")
    print("flightmesh: ADBC Flight SQL client -> `flightmesh serve` in its own process; duckdb: the oracle "
          "file in-process; pull: whole tables through the connectors (concurrently) -> in-memory DuckDB")
    print(describe_machine())
    started = time.perf_counter()
    results = benchmark(mesh, args.queries, args.runs, progress=not args.quiet)
    report(results)
    print(f"{describe_machine().split('; ')[-1]} (at the end); wall {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
