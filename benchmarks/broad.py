"""A broad decision-support workload through flightmesh, each answer checked against the one-file oracle.

    python benchmarks/broad.py [--sf 0.1] [--runs 3] [--queries b01,b17] [--timeout 60]

The mesh is ``benchmarks/broad_mesh.py``'s TPC-DS-shaped star schema split across five engines
(DuckDB sales facts, PostgreSQL customers, SQLite items and stores, MariaDB inventory and
shipping, Parquet calendar). The queries are ``benchmarks/broad_queries.sql``: star joins of 8-12
tables, inventory joins across three engines, many OR-ed dimension predicates, windows,
correlated and uncorrelated subqueries, set operations, CTEs and ROLLUP.

Per query: ``flightmesh`` is ``flightmesh serve`` in its own process through the ADBC Flight SQL
driver (one cursor per query, re-executed: GetFlightInfo with the plan cached, then DoGet);
``oracle`` is DuckDB over the same data in one file, in this process. Both run interleaved, the
order alternating every round, and the medians of ``--runs`` timed runs are reported after one
cold run (the first execution on the server; also the warm-up) whose answer is compared with the
oracle's (``tests/oracle.py``); every timed answer is compared too. ``plan ms`` is the planner's
own time on an embedded runtime with the plan cache off (median of 3).

A query that runs past ``--timeout`` seconds is cancelled and reported as a timeout (the mesh
also carries ``query_timeout_seconds: 60``); an error or a wrong answer is reported, never dropped.
The server's resident memory is sampled every 20 ms during the run; the footer prints its peak.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402

from benchmarks.broad_mesh import BroadMesh, build, qualify, sf_tag  # noqa: E402
from benchmarks.peer import mib, peak_rss  # noqa: E402
from benchmarks.tpch import FlightMeshClient, checker, geometric_mean  # noqa: E402
from benchmarks.transport import describe_machine, server_process  # noqa: E402

QUERIES = Path(__file__).resolve().parent / "broad_queries.sql"
TARGET = 10.0          # issue 11: no query over 10x the one-file oracle


def load_queries() -> dict[str, str]:
    """``{"b01": sql, ...}`` from broad_queries.sql (a query starts at ``-- bNN: title``)."""
    queries: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in [*QUERIES.read_text().splitlines(), "-- end: "]:
        found = re.match(r"--\s*(b\d+|end):", line)
        if found:
            if name is not None:
                queries[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = found.group(1), []
        elif name is not None and not line.startswith("--"):
            lines.append(line)
    return queries


@dataclass
class QueryResult:
    name: str
    flightmesh: list[float] = field(default_factory=list)     # seconds of the timed runs
    oracle: list[float] = field(default_factory=list)
    cold_ms: float = math.nan
    planning_ms: float = math.nan
    rows: int = 0
    problem: str = ""            # "" | "WRONG: ..." | "ERROR: ..." | "TIMEOUT ..."

    def ms(self, runs: list[float]) -> float:
        return statistics.median(runs) * 1000.0 if runs else math.nan

    @property
    def ratio(self) -> float:
        return self.ms(self.flightmesh) / self.ms(self.oracle)


class MemorySampler:
    """Samples a process's resident memory (VmRSS) every ``interval`` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
                            break
            except OSError:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measure_planning(mesh: BroadMesh, queries: dict[str, str], results: dict[str, QueryResult]) -> None:
    from flightmesh.executor import MeshRuntime
    from flightmesh.mesh import load_descriptor

    spec = load_descriptor(mesh.descriptor)
    spec = replace(spec, settings=replace(spec.settings, plan_cache_size=0))
    with MeshRuntime.open(spec) as runtime:
        analyst = runtime.principal_for("analyst")
        for name, sql in queries.items():
            if results[name].problem.startswith(("ERROR", "TIMEOUT")):
                continue
            times = []
            try:
                for _ in range(3):
                    times.append(runtime.bind(runtime.prepare(sql, analyst), analyst).planning_ms)
            except Exception:   # reported through the query's own problem already
                continue
            results[name].planning_ms = statistics.median(times)


def benchmark(mesh: BroadMesh, names: list[str], runs: int, timeout: float, progress: bool,
              memory: dict[str, int]) -> dict[str, QueryResult]:
    texts = load_queries()
    plain = {n: texts[n] for n in names}
    qualified = {n: qualify(texts[n]) for n in names}
    results = {n: QueryResult(n) for n in names}
    user, password = next(iter(mesh.users.items()))
    command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(mesh.descriptor), "--port", "0"]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adbc")
    with contextlib.ExitStack() as stack:
        port, pid = stack.enter_context(server_process(command, "flightmesh"))
        sampler = stack.enter_context(MemorySampler(pid))
        client = FlightMeshClient(port, user, password)
        stack.callback(client.close)
        oracle = stack.enter_context(contextlib.closing(mesh.connect_oracle()))
        checks: dict[str, Callable[[pa.Table], str | None]] = {}

        def run_mesh(n: str) -> tuple[float, pa.Table | None]:
            """One flightmesh run with a time limit; a failure is written into the result."""
            started = time.perf_counter()
            future = pool.submit(client.run, qualified[n])
            try:
                table = future.result(timeout=timeout)
            except FutureTimeout:
                cursor = client.cursors.pop(qualified[n], None)
                if cursor is not None:
                    with contextlib.suppress(Exception):
                        cursor.adbc_cancel()
                with contextlib.suppress(Exception):
                    future.result(timeout=30)         # the cancel lands, or the server's own limit
                results[n].problem = f"TIMEOUT after {timeout:g} s"
                return timeout, None
            except Exception as error:
                client.cursors.pop(qualified[n], None)
                results[n].problem = "ERROR: " + " ".join(str(error).split())[:300]
                return math.nan, None
            seconds = time.perf_counter() - started
            problem = checks[n](table)
            if problem is not None and not results[n].problem:
                results[n].problem = f"WRONG: {problem}"
            return seconds, table

        def run_oracle(n: str) -> float:
            started = time.perf_counter()
            oracle.sql(plain[n]).to_arrow_table()
            return time.perf_counter() - started

        for n in names:
            expected = oracle.sql(plain[n]).to_arrow_table()       # also the oracle's warm-up
            checks[n] = checker(plain[n], expected)
            results[n].rows = expected.num_rows
            seconds, _ = run_mesh(n)
            results[n].cold_ms = seconds * 1000.0
            if results[n].problem.startswith("TIMEOUT"):
                results[n].flightmesh.append(seconds)      # counted at the limit: a lower bound
            _progress(progress, f"cold {n}: {results[n].cold_ms:.0f} ms {results[n].problem}")
        for round_ in range(runs):
            for n in names:
                if results[n].problem.startswith("ERROR"):
                    continue
                for system in (("flightmesh", "oracle") if round_ % 2 == 0 else ("oracle", "flightmesh")):
                    if system == "oracle":
                        results[n].oracle.append(run_oracle(n))
                    elif not results[n].problem.startswith("TIMEOUT"):    # one timeout is enough
                        seconds, table = run_mesh(n)
                        if table is not None or results[n].problem.startswith("TIMEOUT"):
                            results[n].flightmesh.append(seconds)
            _progress(progress, f"round {round_ + 1}/{runs} done")
        memory["sampled"] = sampler.peak
        memory["hwm"] = peak_rss(pid)
    pool.shutdown(wait=False)
    measure_planning(mesh, qualified, results)
    return results


def _progress(enabled: bool, message: str) -> None:
    if enabled:
        print(f"  .. {message}", file=sys.stderr, flush=True)


COLUMNS = (("query", 5), ("rows", 5), ("flightmesh", 10), ("oracle", 8), ("ratio", 6), ("plan ms", 7),
           ("cold ms", 7))


def report(results: dict[str, QueryResult], memory: dict[str, int], titles: dict[str, str]) -> None:
    print("\nper query, median ms of the timed runs (cold = first execution through ADBC)")
    print("  ".join(f"{name:>{width}}" for name, width in COLUMNS) + "  result")
    for n, r in results.items():
        cells = (n, str(r.rows), f"{r.ms(r.flightmesh):.1f}", f"{r.ms(r.oracle):.1f}", f"{r.ratio:.2f}",
                 f"{r.planning_ms:.1f}", f"{r.cold_ms:.0f}")
        print("  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))
              + "  " + (r.problem or "same as oracle") + f"  [{titles.get(n, '')}]")
    timed = [r for r in results.values() if not math.isnan(r.ratio)]
    ratios = [r.ratio for r in timed]
    over = [f"{r.name} ({r.ratio:.1f}x)" for r in timed if r.ratio > TARGET]
    wrong = [r.name for r in results.values() if r.problem.startswith("WRONG")]
    failed = [f"{r.name} ({r.problem.split(':')[0].split(' ')[0]})" for r in results.values()
              if r.problem.startswith(("ERROR", "TIMEOUT"))]
    planning = [r.planning_ms for r in results.values() if not math.isnan(r.planning_ms)]
    print(f"\nqueries: {len(results)}; timed {len(timed)}")
    print(f"geometric mean ms: flightmesh {geometric_mean([r.ms(r.flightmesh) for r in timed]):.1f}, "
          f"oracle {geometric_mean([r.ms(r.oracle) for r in timed]):.1f}")
    print(f"geometric-mean ratio flightmesh / one-file oracle: {geometric_mean(ratios):.2f}"
          + (" (a timed-out run counts at the limit: a lower bound)" if any(
              r.problem.startswith("TIMEOUT") for r in timed) else ""))
    print(f"max ratio: {max(ratios, default=math.nan):.2f}"
          + (f" ({max(timed, key=lambda r: r.ratio).name})" if timed else ""))
    print(f"queries over {TARGET:g}x: {len(over)}" + (f": {', '.join(over)}" if over else ""))
    print(f"wrong answers: {len(wrong)}" + (f": {', '.join(wrong)}" if wrong else ""))
    print(f"errors and timeouts: {len(failed)}" + (f": {', '.join(failed)}" if failed else ""))
    if planning:
        print(f"planning ms (cold, planner only): median {statistics.median(planning):.1f}, max {max(planning):.1f}")
    print(f"peak server memory: {mib(memory.get('sampled', 0))} sampled RSS (VmHWM {mib(memory.get('hwm', 0))})")


def titles_of() -> dict[str, str]:
    found = re.findall(r"^--\s*(b\d+):\s*(.*)$", QUERIES.read_text(), flags=re.MULTILINE)
    return {name: title[:70] for name, title in found}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=0.1, help="scale factor (default 0.1)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query and system (default 3)")
    parser.add_argument("--queries", default="", help="comma-separated names, e.g. b01,b17 (default: all)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-query limit in seconds (default 60)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    every = load_queries()
    names = [n.strip() for n in args.queries.split(",") if n.strip()] or list(every)
    unknown = [n for n in names if n not in every]
    if unknown:
        parser.error(f"unknown queries: {', '.join(unknown)} (there are b01..b{len(every):02d})")
    mesh = build(args.sf, REPO / "benchmarks" / "data" / f"broad-sf{sf_tag(args.sf)}")
    print(f"broad workload SF {args.sf:g}: {len(names)} queries, {args.runs} timed runs per query and system "
          f"after one cold run, interleaved; medians; limit {args.timeout:g} s per query")
    print("flightmesh: ADBC Flight SQL client -> `flightmesh serve` in its own process (DuckDB, PostgreSQL, "
          "SQLite, MariaDB, Parquet products); oracle: DuckDB over the same data in one file, in-process")
    print(describe_machine())
    started = time.perf_counter()
    memory: dict[str, int] = {}
    results = benchmark(mesh, names, args.runs, args.timeout, progress=not args.quiet, memory=memory)
    report(results, memory, titles_of())
    print(f"{describe_machine().split('; ')[-1]} (at the end); wall {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
