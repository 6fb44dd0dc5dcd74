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
* ``peer``: DuckDB 1.5.5 federating the same split with its own postgres and sqlite scanners, in a
  separate venv this benchmark creates (``benchmarks/peer.py``): a subprocess that ATTACHes the
  PostgreSQL database, the SQLite file and (a 1.5-readable copy of) the DuckDB file and runs the
  mesh's qualified query text, timed inside that process. ``--no-peer`` leaves it out.

Every flightmesh, pull and peer result is compared with the oracle's (``tests/oracle.py``); a result
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

from benchmarks.peer import PEER_DUCKDB as PEER_VERSION  # noqa: E402
from benchmarks.peer import PeerError, PeerProcess, ensure_venv, mib, peak_rss  # noqa: E402
from benchmarks.tpch_mesh import SCHEMA, TpchMesh, build, load_queries, sf_tag  # noqa: E402
from benchmarks.transport import describe_machine, server_process  # noqa: E402

ALL_SYSTEMS = ("flightmesh", "duckdb", "pull", "peer")
TARGET = 1.5        # issue 11: flightmesh / DuckDB-in-one-file <= 1.5 (geometric mean)
PEER_TARGET = 0.6   # issue 11: flightmesh / DuckDB-scanner peer <= 0.6 (geometric mean)
MAX_TARGET = 3.0    # issue 11: no query over 3x DuckDB-in-one-file


@dataclass
class QueryResult:
    number: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in ALL_SYSTEMS})
    cold_ms: float = math.nan            # first execution through ADBC: prepare + plan + run
    planning_ms: float = math.nan        # the planner alone, empty plan cache (median)
    prepare_ms: float = math.nan         # parse + plan + result schema, empty plan cache (median)
    differences: dict[str, str] = field(default_factory=dict)   # system -> first line of the diff

    def median_ms(self, system: str) -> float:
        runs = self.seconds[system]
        return statistics.median(runs) * 1000.0 if runs else math.nan


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


class Peer:
    """DuckDB 1.5.5 over the split with its own scanners (``benchmarks/peer.py``)."""

    def __init__(self, mesh: TpchMesh) -> None:
        self.process = PeerProcess.start(ensure_venv())
        copy = mesh.root / "peer" / "sales.duckdb"
        stamp = copy.with_name(".sales.done")
        if not (copy.is_file() and stamp.is_file()):
            copy.parent.mkdir(exist_ok=True)
            self.process.build_duckdb(copy, {t: _typed_parquet(mesh, t) for t in ("lineitem", "orders")})
            stamp.write_text("built from source/ by DuckDB 1.5.5\n")
        data = mesh.descriptor.parent / "data"
        self.process.attach([("sales", str(copy), "duckdb"), ("customers", mesh.postgres_uri, "postgres"),
                             ("supply", str(data / "supply.sqlite"), "sqlite")])

    def run(self, qualified_sql: str) -> tuple[float, pa.Table]:
        return self.process.run(qualified_sql)

    def close(self) -> None:
        self.process.close()


def _typed_parquet(mesh: TpchMesh, table: str) -> str:
    # The same typed SELECT as tpch_mesh's DuckDB files, so both copies hold the same values.
    columns = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in SCHEMA[table])
    path = str(mesh.source / f"{table}.parquet").replace("'", "''")
    return f"SELECT {columns} FROM read_parquet('{path}')"


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


@dataclass
class Memory:
    """Peak resident memory (VmHWM) of the processes that ran the queries, in bytes."""

    server: int = 0
    peer: int = 0


def benchmark(mesh: TpchMesh, numbers: list[int], runs: int, progress: bool,
              memory: Memory | None = None, systems: tuple[str, ...] = ALL_SYSTEMS) -> dict[int, QueryResult]:
    from flightmesh.executor import MeshRuntime

    texts = load_queries()
    plain = {n: texts[n] for n in numbers}
    qualified = {n: mesh.qualify(texts[n]) for n in numbers}
    results = {n: QueryResult(n) for n in numbers}
    user, password = next(iter(mesh.users.items()))
    command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(mesh.descriptor), "--port", "0"]
    with contextlib.ExitStack() as stack:
        port, server_pid = stack.enter_context(server_process(command, "flightmesh"))
        client = FlightMeshClient(port, user, password)
        stack.callback(client.close)
        oracle = Oracle(mesh)
        stack.callback(oracle.close)
        runtime = stack.enter_context(MeshRuntime.open(mesh.descriptor))
        pull = PullWhole(runtime)
        stack.callback(pull.close)
        peer = Peer(mesh) if "peer" in systems else None
        if peer is not None:
            stack.callback(peer.close)

        checks = {}
        for n in numbers:                  # the oracle's answers; also its warm-up run
            checks[n] = checker(plain[n], oracle.run(plain[n]))
        runners: dict[str, Callable[[int], Callable[[], pa.Table]]] = {
            "flightmesh": lambda n: lambda: client.run(qualified[n]),
            "duckdb": lambda n: lambda: oracle.run(plain[n]),
            "pull": lambda n: lambda: pull.run(plain[n], qualified[n]),
        }

        def measured(system: str, n: int) -> tuple[float, pa.Table]:
            if system == "peer":              # timed inside the peer's own process
                assert peer is not None
                return peer.run(qualified[n])
            return timed(runners[system](n))

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
            if peer is not None:
                try:
                    note("peer", n, measured("peer", n)[1])
                except PeerError as error:
                    results[n].differences["peer"] = f"failed: {error}"
            _progress(progress, f"cold q{n:02d}: {results[n].cold_ms:.0f} ms")
        for round_ in range(runs):
            for n in numbers:
                shift = round_ % len(systems)
                for system in systems[shift:] + systems[:shift]:
                    if system == "peer" and "peer" in results[n].differences:
                        continue                  # it failed: no time to report
                    seconds, table = measured(system, n)
                    results[n].seconds[system].append(seconds)
                    note(system, n, table)
            _progress(progress, f"round {round_ + 1}/{runs} done")
        if memory is not None:
            memory.server = peak_rss(server_pid)
            memory.peer = peer.process.peak_memory() if peer is not None else 0
    measure_planning(mesh, qualified, results, repeats=3)
    return results


def _progress(enabled: bool, message: str) -> None:
    if enabled:
        print(f"  .. {message}", file=sys.stderr, flush=True)


# -- the report ------------------------------------------------------------------------------------


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


COLUMNS = (("query", 5), ("flightmesh", 10), ("duckdb", 8), ("pull", 8), ("peer", 8), ("fm/duck", 7),
           ("pull/duck", 9), ("fm/pull", 7), ("fm/peer", 7), ("plan ms", 7), ("prep ms", 7), ("cold ms", 7))


def report(results: dict[int, QueryResult], memory: Memory | None = None) -> None:
    print("\nper query, median ms of the timed runs (cold = first execution through ADBC)")
    print("  ".join(f"{name:>{width}}" for name, width in COLUMNS) + "  result")
    for n, result in results.items():
        fm, duck, pull, peer = (result.median_ms(s) for s in ALL_SYSTEMS)
        cells = (f"q{n:02d}", f"{fm:.1f}", f"{duck:.1f}", f"{pull:.1f}", f"{peer:.1f}", f"{fm / duck:.2f}",
                 f"{pull / duck:.2f}", f"{fm / pull:.3f}", f"{fm / peer:.3f}", f"{result.planning_ms:.1f}",
                 f"{result.prepare_ms:.1f}", f"{result.cold_ms:.0f}")
        verdict = "; ".join(f"{s} DIFFERS: {why}" for s, why in result.differences.items())
        print("  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))
              + "  " + (verdict or "same as oracle"))
    medians = {s: [r.median_ms(s) for r in results.values()] for s in ALL_SYSTEMS}

    def mean(system: str) -> float:
        return geometric_mean([v for v in medians[system] if not math.isnan(v)])

    print(f"\ngeometric mean ms: flightmesh {mean('flightmesh'):.1f}, duckdb one file "
          f"{mean('duckdb'):.1f}, pull whole {mean('pull'):.1f}, duckdb-scanner peer {mean('peer'):.1f}")

    def ratios(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(medians[a], medians[b], strict=True) if not (math.isnan(x) or math.isnan(y))]

    def meets(value: float, target: float) -> str:
        return "meets" if value <= target else "misses"

    fm_duck = geometric_mean(ratios("flightmesh", "duckdb"))
    print(f"geometric-mean ratio flightmesh / DuckDB-one-file: {fm_duck:.2f} "
          f"({meets(fm_duck, TARGET)} the <= {TARGET:.1f} target)")
    per_query = ratios("flightmesh", "duckdb")
    worst = max(per_query, default=math.nan)
    over = [f"q{n:02d}" for n, r in results.items() if r.median_ms("flightmesh") / r.median_ms("duckdb") > MAX_TARGET]
    print(f"max per-query ratio flightmesh / DuckDB-one-file:  {worst:.2f} "
          f"({meets(worst, MAX_TARGET)} the <= {MAX_TARGET:.0f} target"
          + (f"; over it: {', '.join(over)})" if over else ")"))
    fm_peer = ratios("flightmesh", "peer")
    if fm_peer:
        value = geometric_mean(fm_peer)
        print(f"geometric-mean ratio flightmesh / DuckDB-scanner peer: {value:.2f} "
              f"({meets(value, PEER_TARGET)} the <= {PEER_TARGET:.1f} target; {len(fm_peer)} queries)")
        print(f"geometric-mean ratio peer / DuckDB-one-file:       {geometric_mean(ratios('peer', 'duckdb')):.2f}")
    print(f"geometric-mean ratio pull-whole / DuckDB-one-file: {geometric_mean(ratios('pull', 'duckdb')):.2f}")
    print(f"geometric-mean ratio flightmesh / pull-whole:      {geometric_mean(ratios('flightmesh', 'pull')):.3f}")
    planning = [r.planning_ms for r in results.values()]
    cold = [r.cold_ms for r in results.values()]
    print(f"planning ms (cold, planner only): median {statistics.median(planning):.1f}, "
          f"max {max(planning):.1f}; first execution through ADBC: geometric mean "
          f"{geometric_mean(cold):.0f} ms")
    if memory is not None:
        print(f"peak memory (VmHWM): flightmesh server {mib(memory.server)}"
              + (f", duckdb-scanner peer {mib(memory.peer)}" if memory.peer else ""))
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
    parser.add_argument("--no-peer", action="store_true",
                        help="leave out the DuckDB-scanner peer (no peer venv is made)")
    args = parser.parse_args(argv)
    systems = tuple(s for s in ALL_SYSTEMS if s != "peer") if args.no_peer else ALL_SYSTEMS
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    mesh = build(args.sf, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(args.sf)}")
    print(f"TPC-H SF {args.sf:g}, queries {','.join(map(str, args.queries))}, {args.runs} timed runs per "
          "query and system after one warm-up, interleaved; medians")
    print("flightmesh: ADBC Flight SQL client -> `flightmesh serve` in its own process; duckdb: the oracle "
          "file in-process; pull: whole tables through the connectors (concurrently) -> in-memory DuckDB"
          + ("" if args.no_peer else f"; peer: DuckDB {PEER_VERSION} + postgres/sqlite scanners in its own process"))
    print(describe_machine())
    started = time.perf_counter()
    memory = Memory()
    results = benchmark(mesh, args.queries, args.runs, progress=not args.quiet, memory=memory,
                        systems=systems)
    report(results, memory)
    print(f"{describe_machine().split('; ')[-1]} (at the end); wall {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
