"""Planning time, cold: the planner alone per query, beside sqlglot's own optimizer in the same run.

    python benchmarks/planning.py [--sf 0.1] [--sf-large 1] [--runs 20] [--workload tpch,broad]
                                  [--queries 1,3,5] [--no-adbc] [--no-large]

What "cold" means here: the mesh is open (catalog loaded, engine connections and capabilities
known, as in a running server) and the plan cache is off (``plan_cache_size: 0``); every timed
repetition parses the text anew and plans that fresh tree, so nothing of an earlier plan of the
same query is reused. Per query it prints, medians and maxima over ``--runs`` repetitions:

| column | what is timed |
| --- | --- |
| `parse` | ``parse_statement``: tokenize, parse, the read-only and size checks |
| `plan` / `plan max` | ``plan_statement``, the planner alone (resolve, policies, qualify, types, rules, render) |
| `cpu` | the same, in the thread's CPU time (less moved by other processes than wall time) |
| `optimize` | sqlglot's full ``optimize()`` of the same (unqualified) text over the one-file schema, parse excluded |
| `explain` | ``EXPLAIN <query>`` through ADBC against ``flightmesh serve`` with the plan cache off (client wall time) |

``--gc-freeze`` freezes the opened meshes of this process for the garbage collector, as ``serve``
does (``server/gc_settle.py``); without it the embedded columns keep CPython's defaults.
| `large` | ``plan`` again on the SF ``--sf-large`` mesh: planning should not grow with the data |

Repetitions are interleaved (each round plans every query once, then the other systems), so a
burst of load on the machine hits all columns alike. The footer prints the median of the per-query
medians, the largest maximum, geometric means and the ratios plan/optimize, explain/optimize and
large/small. Workloads: TPC-H (``tpch_mesh.py``) and, when its files exist, the broad star-schema
workload (``broad_mesh.py``, ``broad_queries.sql``; it also needs MariaDB).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import sqlglot  # noqa: E402
from sqlglot.optimizer import optimize  # noqa: E402
from sqlglot.schema import MappingSchema  # noqa: E402

from benchmarks.peer import mib, peak_rss  # noqa: E402
from benchmarks.transport import describe_machine, server_process  # noqa: E402

BROAD_QUERIES = REPO / "benchmarks" / "broad_queries.sql"


@dataclass
class Workload:
    name: str
    descriptor: Path                  # the mesh at the small scale factor
    oracle: Path                      # its one-file DuckDB: the schema sqlglot's optimizer reads
    queries: dict[str, tuple[str, str]]   # name -> (mesh text, one-file text)
    large: Path | None = None         # the mesh at the large scale factor


@dataclass
class Timings:
    parse: list[float] = field(default_factory=list)
    plan: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    optimize: list[float] = field(default_factory=list)
    explain: list[float] = field(default_factory=list)
    large: list[float] = field(default_factory=list)
    large_cpu: list[float] = field(default_factory=list)
    error: str | None = None


def tpch(sf: float, large: float | None, numbers: list[int] | None) -> Workload:
    from benchmarks.tpch_mesh import build, load_queries, qualify, sf_tag

    def mesh(scale: float) -> Any:
        return build(scale, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(scale)}")

    small = mesh(sf)
    texts = {f"q{n:02d}": (qualify(sql), sql) for n, sql in load_queries().items() if not numbers or n in numbers}
    return Workload("tpch", small.descriptor, small.oracle, texts, mesh(large).descriptor if large else None)


def broad(sf: float, large: float | None) -> Workload | None:
    """The broad workload, when its files are in the tree (another part of issue 11 writes them)."""
    try:
        from benchmarks import broad_mesh
    except ImportError:
        return None
    if not BROAD_QUERIES.is_file():
        return None
    from benchmarks.tpch_mesh import sf_tag

    def mesh(scale: float) -> Any:
        return broad_mesh.build(scale, REPO / "benchmarks" / "data" / f"broad-sf{sf_tag(scale)}")

    small = mesh(sf)
    texts = {name: (broad_mesh.qualify(sql), sql) for name, sql in read_queries(BROAD_QUERIES.read_text()).items()}
    return Workload("broad", small.descriptor, small.oracle, texts, mesh(large).descriptor if large else None)


def read_queries(text: str) -> dict[str, str]:
    """``-- name: title`` starts a query; the statement runs to its semicolon."""
    found: dict[str, str] = {}
    for block in re.split(r"(?m)^-- (?=\w+:)", text)[1:]:
        name, _, rest = block.partition(":")
        body = "\n".join(line for line in rest.splitlines()[1:] if not line.lstrip().startswith("--"))
        sql = body.strip().rstrip(";").strip()
        if sql:
            found[name.strip()] = sql
    return found


def no_cache_descriptor(descriptor: Path) -> Path:
    """A copy of ``descriptor`` beside it (relative paths hold) with the plan cache off."""
    import yaml

    document = yaml.safe_load(descriptor.read_text())
    document.setdefault("settings", {})["plan_cache_size"] = 0
    target = descriptor.with_name("mesh-planning-nocache.yaml")
    text = yaml.safe_dump(document, sort_keys=False)
    if not target.is_file() or target.read_text() != text:
        partial = target.with_suffix(".partial")
        partial.write_text(text)
        partial.replace(target)
    return target


class Planner:
    """The embedded planner of one mesh, plan cache off: parse and plan, each timed."""

    def __init__(self, descriptor: Path) -> None:
        from flightmesh.executor import MeshRuntime
        from flightmesh.mesh import load_descriptor

        spec = load_descriptor(descriptor)
        spec = replace(spec, settings=replace(spec.settings, plan_cache_size=0))
        self.runtime = MeshRuntime.open(spec)
        principal = self.runtime.principal_for(next(iter(spec.users)))
        assert principal is not None
        self.principal = principal

    def context(self) -> Any:
        from flightmesh.planner.planning import PlanningContext

        state = self.runtime.catalogs.state  # as MeshRuntime plans: one catalog load, its connectors
        context = PlanningContext(catalog=state.catalog, connectors=state.connectors)
        return self.runtime.system_schemas.bind(context, self.principal)

    def time(self, sql: str) -> tuple[float, float, float]:
        """(parse ms, plan ms, plan CPU ms) of one cold planning of ``sql``."""
        from flightmesh.planner.planning import plan_statement
        from flightmesh.planner.statement import parse_statement

        started = time.perf_counter()
        statement = parse_statement(sql, "duckdb")
        parsed = time.perf_counter()
        context = self.context()
        cpu, wall = time.thread_time(), time.perf_counter()
        plan_statement(statement, sql, self.principal, context)
        done, cpu_done = time.perf_counter(), time.thread_time()
        return (parsed - started) * 1e3, (done - wall) * 1e3, (cpu_done - cpu) * 1e3

    def close(self) -> None:
        self.runtime.close()


def one_file_schema(oracle: Path) -> MappingSchema:
    connection = duckdb.connect(str(oracle), read_only=True)
    try:
        rows = connection.sql("SELECT table_name, column_name, data_type FROM information_schema.columns "
                              "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()
    finally:
        connection.close()
    mapping: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        mapping.setdefault(table, {})[column] = kind
    return MappingSchema(mapping, dialect="duckdb")


def time_optimize(sql: str, schema: MappingSchema) -> float:
    tree = sqlglot.parse_one(sql, read="duckdb")
    started = time.perf_counter()
    optimize(tree, schema=schema, dialect="duckdb")
    return (time.perf_counter() - started) * 1e3


# Peak resident memory (VmHWM, bytes) of each EXPLAIN server, by its descriptor: issue 11 asks for
# the peak server memory of every benchmark.
SERVER_PEAKS: dict[str, int] = {}


@contextlib.contextmanager
def explain_client(descriptor: Path) -> Iterator[Callable[[str], float]]:
    """A server over ``descriptor`` with the plan cache off; yields a timer of EXPLAIN through ADBC."""
    import adbc_driver_flightsql.dbapi as dbapi
    import yaml

    users = yaml.safe_load(descriptor.read_text())["users"]
    user, entry = next(iter(users.items()))
    command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(no_cache_descriptor(descriptor)),
               "--port", "0"]
    with server_process(command, "flightmesh") as (port, pid):
        connection = dbapi.connect(f"grpc://127.0.0.1:{port}",
                                   db_kwargs={"username": user, "password": str(entry["password"])})
        try:
            cursor = connection.cursor()

            def explain(sql: str) -> float:
                started = time.perf_counter()
                cursor.execute(f"EXPLAIN {sql}")
                cursor.fetch_arrow_table()
                return (time.perf_counter() - started) * 1e3

            yield explain
            cursor.close()
        finally:
            connection.close()
            SERVER_PEAKS[str(descriptor)] = peak_rss(pid)


def measure(workload: Workload, runs: int, adbc: bool, progress: bool, freeze: bool = False) -> dict[str, Timings]:
    results = {name: Timings() for name in workload.queries}
    schema = one_file_schema(workload.oracle)
    with contextlib.ExitStack() as stack:
        small = Planner(workload.descriptor)
        stack.callback(small.close)
        large = None
        if workload.large is not None:
            large = Planner(workload.large)
            stack.callback(large.close)
        explain = stack.enter_context(explain_client(workload.descriptor)) if adbc else None
        if freeze:  # as ``serve`` does (server/gc_settle.py): the opened meshes out of full collections
            from flightmesh.server.gc_settle import settle_long_lived

            settle_long_lived()
        for name, (sql, _) in workload.queries.items():  # one untimed warm-up: imports, first-use caches
            try:
                small.time(sql)
                if large is not None:
                    large.time(sql)
                if explain is not None:
                    explain(sql)
            except Exception as error:  # a query the mesh refuses is reported, not fatal
                results[name].error = f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"
        for round_ in range(runs):
            if progress:
                print(f"  {workload.name} round {round_ + 1}/{runs}", file=sys.stderr)
            for name, (sql, one_file) in workload.queries.items():
                timing = results[name]
                if timing.error:
                    continue
                parse_ms, plan_ms, cpu_ms = small.time(sql)
                timing.parse.append(parse_ms)
                timing.plan.append(plan_ms)
                timing.cpu.append(cpu_ms)
                timing.optimize.append(time_optimize(one_file, schema))
                if large is not None:
                    _, large_ms, large_cpu_ms = large.time(sql)
                    timing.large.append(large_ms)
                    timing.large_cpu.append(large_cpu_ms)
                if explain is not None:
                    timing.explain.append(explain(sql))
    return results


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def geometric_mean(values: list[float]) -> float:
    values = [v for v in values if v > 0 and not math.isnan(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def report(workload: Workload, results: dict[str, Timings]) -> None:
    columns = ("query", "parse", "plan", "plan max", "cpu", "optimize", "explain", "large")
    print(f"\n{workload.name}: {len(results)} queries (ms; medians unless 'max')")
    print("  ".join(f"{c:>9}" for c in columns))
    for name, timing in results.items():
        if timing.error:
            print(f"{name:>9}  refused: {timing.error}")
            continue
        cells = [_median(timing.parse), _median(timing.plan), max(timing.plan), _median(timing.cpu),
                 _median(timing.optimize), _median(timing.explain), _median(timing.large)]
        print("  ".join([f"{name:>9}"] + [f"{v:>9.2f}" for v in cells]))
    planned = [t for t in results.values() if not t.error]
    if not planned:
        return
    medians = {key: [_median(getattr(t, key)) for t in planned]
               for key in ("plan", "cpu", "optimize", "explain", "large", "large_cpu", "parse")}
    worst = max((max(t.plan), name) for name, t in results.items() if not t.error)
    over = sum(1 for t in planned if _median(t.plan) > 5.0)
    print(f"plan: median of medians {statistics.median(medians['plan']):.2f} ms, largest median "
          f"{max(medians['plan']):.2f} ms, largest single {worst[0]:.2f} ms ({worst[1]}); "
          f"{over} of {len(planned)} medians over 5 ms; "
          f"cpu median of medians {statistics.median(medians['cpu']):.2f} ms")
    gm = {key: geometric_mean(values) for key, values in medians.items()}
    print(f"geometric means: parse {gm['parse']:.2f}, plan {gm['plan']:.2f}, optimize {gm['optimize']:.2f}, "
          f"explain {gm['explain']:.2f}, large {gm['large']:.2f} ms")
    print(f"ratios (geometric means): plan/optimize {gm['plan'] / gm['optimize']:.2f}, explain/optimize "
          f"{gm['explain'] / gm['optimize']:.2f}, "
          f"large/small (planning growth with data) {gm['large'] / gm['plan']:.2f} "
          f"(in CPU time {gm['large_cpu'] / gm['cpu']:.2f})")
    if medians["explain"] and not math.isnan(medians["explain"][0]):
        print(f"EXPLAIN through ADBC, plan cache off: median of medians {statistics.median(medians['explain']):.2f} ms")


def parse_numbers(text: str | None) -> list[int] | None:
    if not text:
        return None
    numbers = sorted({int(part) for part in text.split(",") if part.strip()})
    if not numbers or not all(1 <= n <= 22 for n in numbers):
        raise argparse.ArgumentTypeError("queries are TPC-H numbers from 1 to 22, e.g. 1,3,5")
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=0.1, help="scale factor planned against (default 0.1)")
    parser.add_argument("--sf-large", type=float, default=1.0, help="the larger scale factor (default 1)")
    parser.add_argument("--no-large", action="store_true", help="skip the larger scale factor")
    parser.add_argument("--runs", type=int, default=20, help="timed repetitions per query (default 20)")
    parser.add_argument("--workload", default="tpch,broad", help="tpch, broad, or both (default)")
    parser.add_argument("--queries", type=parse_numbers, default=None, help="TPC-H query numbers (default all)")
    parser.add_argument("--no-adbc", action="store_true", help="skip EXPLAIN through ADBC")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() the opened meshes in this process, as the server does")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 200:
        parser.error("--runs must be between 1 and 200")
    large = None if args.no_large else args.sf_large
    wanted = {part.strip() for part in args.workload.split(",") if part.strip()}
    print(f"planning, cold (mesh open, plan cache off, each repetition parses anew): SF {args.sf:g}"
          f"{f' and SF {large:g}' if large else ''}, {args.runs} interleaved repetitions after one warm-up")
    print(f"sqlglot {sqlglot.__version__} ({'compiled' if _compiled() else 'pure Python'}); {describe_machine()}")
    workloads: list[Workload] = []
    if "tpch" in wanted:
        workloads.append(tpch(args.sf, large, args.queries))
    if "broad" in wanted:
        found = broad(args.sf, large)
        if found is None:
            print("broad: benchmarks/broad_mesh.py or broad_queries.sql is missing; skipped")
        else:
            workloads.append(found)
    started = time.perf_counter()
    for workload in workloads:
        report(workload, measure(workload, args.runs, not args.no_adbc, not args.quiet, args.gc_freeze))
    servers = ", ".join(mib(peak) for peak in SERVER_PEAKS.values()) or "none (--no-adbc)"
    print(f"peak memory (VmHWM): this process (the embedded planner, every mesh open) {mib(peak_rss(os.getpid()))}; "
          f"EXPLAIN server(s) {servers}")
    print(f"{describe_machine().split('; ')[-1]} (at the end); wall {time.perf_counter() - started:.0f} s")
    return 0


def _compiled() -> bool:
    """Is sqlglot's mypyc build (the ``sqlglotc`` package) the one imported?"""
    from sqlglot.expressions import core

    return not str(getattr(core, "__file__", "")).endswith(".py")


if __name__ == "__main__":
    sys.exit(main())
