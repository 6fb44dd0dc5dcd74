"""TPC-H with ``lineitem`` and ``orders`` on Spark (LakeSail, in-process), the merge in DuckDB or on Sail.

    python benchmarks/tpch_spark.py --sf 0.1 --sf 1 [--runs 3] [--queries 1,3,5] [--workers 2]

The mesh is issue 3's split (``benchmarks/tpch_mesh.py``) with the ``sales`` product moved to a
Spark engine: lineitem and orders are global views of a Sail server started in this process
(local-cluster mode, a driver and ``--workers`` workers), over Parquet files written from the
oracle (so the same rows with the spec types); customer, nation, region stay in PostgreSQL and
part, partsupp, supplier in SQLite. Per scale factor, three systems run each query, interleaved
query by query (the order rotates every round), and each query's median over ``--runs`` timed
runs after one warm-up is reported:

* ``duckdb``: DuckDB over the eight tables in one file (the oracle): the reference.
* ``merge-duckdb``: flightmesh embedded (``MeshRuntime.query``), the residual in its DuckDB.
* ``merge-sail``: the same with ``settings.merge_engine`` on the same Sail server
  (``{kind: sail, uri: sc://..., exchange: <folder>}``); left out, and said so, while the settings
  know no such key or EXPLAIN does not name Sail as the residual's engine. A residual holding a
  construct Spark computes otherwise still runs in DuckDB: the ``merge`` column says, per query,
  where the merge-sail runtime ran it (EXPLAIN's residual engine; ``-``: no residual).

Every flightmesh result is compared with the oracle's (``tests/oracle.py``); a result that differs,
or a query refused, is reported in the table, never dropped. The last lines say how each system's
geometric mean grows from the smallest to the largest scale factor asked for.

``tests/connectors/test_spark_tpch.py`` builds its mesh with ``load_spark_tables`` and
``spark_descriptor`` from here.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))  # `python benchmarks/tpch_spark.py` from anywhere

import pyarrow as pa  # noqa: E402
import yaml  # noqa: E402

from benchmarks.tpch import parse_queries  # noqa: E402
from benchmarks.tpch_mesh import TpchData, TpchMesh, build, load_queries, sf_tag  # noqa: E402

__all__ = ["SPARK_TABLES", "load_spark_tables", "spark_descriptor", "spark_views", "start_sail"]

SPARK_TABLES = ("lineitem", "orders")   # the sales product's tables
SYSTEMS = ("duckdb", "merge-duckdb", "merge-sail")


def spark_views(prefix: str = "tpch") -> dict[str, str]:
    """Table -> the global view serving it (``global_temp.tpch_lineitem``): one Sail server is
    shared by every test of a session, so the names say whose views they are."""
    return {table: f"global_temp.{prefix}_{table}" for table in SPARK_TABLES}


def load_spark_tables(uri: str, data: TpchData, *, prefix: str = "tpch") -> dict[str, str]:
    """Serve lineitem and orders from the Spark Connect endpoint at ``uri``; table -> source.

    The rows are the oracle's (spec types), written once to Parquet under ``data.root/spark``, and
    each table becomes a global temporary view over its file, created with plain Spark SQL through
    the Spark Connect driver, not through the connector under test.
    """
    import adbc_driver_spark.dbapi as spark_dbapi

    folder = data.root / "spark"
    folder.mkdir(exist_ok=True)
    with contextlib.closing(data.connect_oracle()) as oracle:
        for table in SPARK_TABLES:
            path = folder / f"{table}.parquet"
            if not path.is_file():   # the oracle's rows, stable for its scale factor
                partial = path.with_name(f"{path.name}.{os.getpid()}.partial")   # sessions share the folder
                oracle.execute(f"COPY (SELECT * FROM {table}) TO '{partial}' (FORMAT parquet)")
                partial.rename(path)
    views = spark_views(prefix)
    with spark_dbapi.connect(uri) as connection:
        for table, view in views.items():
            name = view.partition(".")[2]
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW `{name}` AS "
                               f"SELECT * FROM parquet.`{folder / (table + '.parquet')}`")
                cursor.fetchall()
    return views


def spark_descriptor(mesh: TpchMesh, uri: str, sources: Mapping[str, str], out: Path, *,
                     settings: Mapping[str, Any] | None = None, pool_size: int = 4) -> Path:
    """``mesh.descriptor`` with the sales product on the Spark endpoint ``uri``, written to ``out``.

    File engines' paths are made absolute (the new descriptor lives elsewhere); ``settings`` are
    added under ``settings:`` (e.g. a merge engine).
    """
    document = yaml.safe_load(mesh.descriptor.read_text())
    base = mesh.descriptor.parent
    for product in document["products"].values():
        engine = product["engine"]
        if "path" in engine:
            engine["path"] = str((base / engine["path"]).resolve())
    sales = document["products"]["sales"]
    sales["engine"] = {"kind": "spark", "uri": uri, "pool_size": pool_size}
    sales["tables"] = {table: {"source": source} for table, source in sources.items()}
    if settings:
        document["settings"] = {**document.get("settings", {}), **settings}
    document["mesh"]["description"] = f"TPC-H, lineitem and orders on Spark ({uri})"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(document, sort_keys=False, width=110))
    return out


@contextlib.contextmanager
def start_sail(workers: int = 2) -> Iterator[str]:
    """A Sail Spark Connect server in this process (local-cluster with ``workers`` workers, or local
    mode for 0); its ``sc://`` URI. Started as the merge engine starts its own (``EmbeddedSail``)."""
    from flightmesh.executor.sail_embedded import EmbeddedSail

    server = EmbeddedSail("local-cluster" if workers else "local", workers)
    try:
        yield server.uri
    finally:
        server.stop()


def merge_on_sail_available() -> bool:
    """Whether the settings know ``merge_engine`` (issue 16's part A) with a Sail kind."""
    try:
        from flightmesh.mesh.settings import MERGE_ENGINE_KINDS
    except ImportError:
        return False
    return "sail" in MERGE_ENGINE_KINDS


def residual_engine(runtime: Any, principal: Any, sql: str) -> str:
    """The engine EXPLAIN names for the residual of ``sql`` ("" when it has none)."""
    plan = runtime.query("EXPLAIN " + sql, principal).read_all().to_pylist()
    return next((str(row["engine"]) for row in plan if row["kind"] == "residual"), "")


# -- measuring -------------------------------------------------------------------------------------


@dataclass
class QueryResult:
    number: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in SYSTEMS})
    problems: dict[str, str] = field(default_factory=dict)   # system -> why its result is not counted
    merge: str = ""                   # where merge-sail's residual runs (EXPLAIN), "-" when none

    def median_ms(self, system: str) -> float:
        values = self.seconds[system]
        return statistics.median(values) * 1000.0 if values else math.nan


def _checker(sql: str, expected: pa.Table) -> Callable[[pa.Table], str | None]:
    from tests.oracle import assert_same_result, order_keys, query_limit

    keys, limit = order_keys(sql), query_limit(sql)

    def check(actual: pa.Table) -> str | None:
        try:
            assert_same_result(actual, expected, ordered=keys is not None, order_by=keys, limit=limit)
        except AssertionError as error:
            return "DIFFERS: " + str(error).splitlines()[0]
        return None

    return check


def benchmark(sf: float, uri: str, numbers: list[int], runs: int, out: Path,
              progress: bool) -> dict[int, QueryResult]:
    from flightmesh.executor import MeshRuntime

    mesh = build(sf, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(sf)}")
    sources = load_spark_tables(uri, mesh, prefix=f"bench_sf{sf_tag(sf)}")
    descriptors = {"merge-duckdb": spark_descriptor(mesh, uri, sources, out / f"sf{sf_tag(sf)}-duckdb.yaml")}
    if merge_on_sail_available():
        descriptors["merge-sail"] = spark_descriptor(
            mesh, uri, sources, out / f"sf{sf_tag(sf)}-sail.yaml",
            settings={"merge_engine": {"kind": "sail", "uri": uri, "exchange": str(out / "exchange")}})
    texts = load_queries()
    results = {n: QueryResult(n) for n in numbers}
    with contextlib.ExitStack() as stack:
        oracle = stack.enter_context(contextlib.closing(mesh.connect_oracle()))
        runtimes = {system: stack.enter_context(MeshRuntime.open(path)) for system, path in descriptors.items()}
        principals = {system: runtime.principal_for("analyst") for system, runtime in runtimes.items()}
        checks = {n: _checker(texts[n], oracle.sql(texts[n]).to_arrow_table()) for n in numbers}

        def runner(system: str, n: int) -> Callable[[], pa.Table]:
            if system == "duckdb":
                return lambda: oracle.sql(texts[n]).to_arrow_table()
            qualified = mesh.qualify(texts[n])
            return lambda: runtimes[system].query(qualified, principals[system]).read_all()

        why_not = "not run: settings.merge_engine knows no sail kind yet"
        if "merge-sail" in runtimes:
            # A build whose settings take the key but whose executor does not delegate yet
            # would time the DuckDB merge twice: EXPLAIN must name the residual's engine as Sail.
            engine = residual_engine(runtimes["merge-sail"], principals["merge-sail"], mesh.qualify(texts[3]))
            if not engine.startswith("sail"):
                del runtimes["merge-sail"]
                why_not = f"not run: EXPLAIN names the residual's engine {engine!r}, not sail (merge not delegated)"
        if "merge-sail" in runtimes:
            for n in numbers:
                where = residual_engine(runtimes["merge-sail"], principals["merge-sail"], mesh.qualify(texts[n]))
                results[n].merge = where.split()[0] if where else "-"
        systems = [s for s in SYSTEMS if s == "duckdb" or s in runtimes]
        for s in SYSTEMS:
            if s not in systems:
                for result in results.values():
                    result.problems[s] = why_not

        def run(system: str, n: int, timed: bool) -> None:
            if system in results[n].problems:
                return
            started = time.perf_counter()
            try:
                table = runner(system, n)()
            except Exception as error:   # a refusal is a result of its own: reported, not timed
                results[n].problems[system] = f"refused: {type(error).__name__}: {str(error)[:90]}"
                return
            seconds = time.perf_counter() - started
            if system != "duckdb":
                problem = checks[n](table)
                if problem is not None:
                    results[n].problems[system] = problem
                    return
            if timed:
                results[n].seconds[system].append(seconds)

        for n in numbers:   # warm-up: plans cached, files in the page cache, checked once
            for system in systems:
                run(system, n, timed=False)
            _progress(progress, f"SF {sf:g} warm q{n:02d}")
        for round_ in range(runs):
            for n in numbers:
                shift = round_ % len(systems)
                for system in systems[shift:] + systems[:shift]:
                    run(system, n, timed=True)
            _progress(progress, f"SF {sf:g} round {round_ + 1}/{runs} done")
    return results


def _progress(enabled: bool, message: str) -> None:
    if enabled:
        print(f"  .. {message}", file=sys.stderr, flush=True)


# -- the report ------------------------------------------------------------------------------------


def geometric_mean(values: list[float]) -> float:
    usable = [v for v in values if v > 0 and not math.isnan(v)]
    return math.exp(sum(math.log(v) for v in usable) / len(usable)) if usable else math.nan


COLUMNS = (("query", 5), ("duckdb", 8), ("m-duckdb", 9), ("m-sail", 9), ("md/duck", 7), ("ms/duck", 7),
           ("ms/md", 6), ("merge", 6))


def report(sf: float, results: dict[int, QueryResult]) -> dict[str, float]:
    """Print one scale factor's table; the geometric mean ms per system over the queries all ran."""
    print(f"\nTPC-H SF {sf:g}: median ms of the timed runs (m-duckdb: merge in the embedded DuckDB, "
          "m-sail: merge on Sail)")
    print("  ".join(f"{name:>{width}}" for name, width in COLUMNS) + "  result")
    for n, result in results.items():
        duck, md, ms = (result.median_ms(s) for s in SYSTEMS)
        cells = (f"q{n:02d}", f"{duck:.1f}", f"{md:.1f}", f"{ms:.1f}", f"{md / duck:.2f}", f"{ms / duck:.2f}",
                 f"{ms / md:.2f}", result.merge)
        verdict = "; ".join(f"{s}: {why}" for s, why in result.problems.items() if not why.startswith("not run"))
        print("  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))
              + "  " + (verdict or "same as oracle"))
    counted = [r for r in results.values() if all(r.seconds[s] for s in SYSTEMS if s not in r.problems)]
    means = {s: geometric_mean([r.median_ms(s) for r in counted]) for s in SYSTEMS}
    print(f"geometric mean ms over {len(counted)} queries: duckdb {means['duckdb']:.1f}, merge-duckdb "
          f"{means['merge-duckdb']:.1f}, merge-sail {means['merge-sail']:.1f}")

    def ratio(a: str, b: str) -> float:
        return geometric_mean([r.median_ms(a) / r.median_ms(b) for r in counted])

    print(f"geometric-mean ratio merge-duckdb / duckdb: {ratio('merge-duckdb', 'duckdb'):.2f}; "
          f"merge-sail / duckdb: {ratio('merge-sail', 'duckdb'):.2f}; "
          f"merge-sail / merge-duckdb: {ratio('merge-sail', 'merge-duckdb'):.2f}")
    skipped = sorted({why for r in results.values() for why in r.problems.values() if why.startswith("not run")})
    for why in skipped:
        print(f"merge-sail {why}")
    return means


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, action="append", help="TPC-H scale factor; repeatable (default 0.1)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query and system (default 3)")
    parser.add_argument("--queries", type=parse_queries, default=parse_queries(None),
                        help="comma-separated query numbers (default: all 22)")
    parser.add_argument("--workers", type=int, default=2, help="Sail workers (local-cluster); 0: local mode")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    scale_factors = sorted(set(args.sf or [0.1]))
    from benchmarks.transport import describe_machine

    print(f"TPC-H SF {', '.join(f'{sf:g}' for sf in scale_factors)}: lineitem and orders on Sail "
          f"({'local-cluster, ' + str(args.workers) + ' workers' if args.workers else 'local mode'}, in this "
          f"process), the rest in PostgreSQL and SQLite; {args.runs} timed runs per query and system after one "
          "warm-up, interleaved; medians")
    print(describe_machine())
    means: dict[float, dict[str, float]] = {}
    out = REPO / "benchmarks" / "data" / "tpch-spark"
    with start_sail(args.workers) as uri:
        for sf in scale_factors:
            results = benchmark(sf, uri, args.queries, args.runs, out, not args.quiet)
            means[sf] = report(sf, results)
    if len(scale_factors) > 1:
        low, high = scale_factors[0], scale_factors[-1]
        print(f"\ngrowth of the geometric mean from SF {low:g} to SF {high:g} (x{high / low:g} data):")
        for system in SYSTEMS:
            print(f"  {system:>12}: {means[high][system] / means[low][system]:.2f}x "
                  f"({means[low][system]:.1f} ms -> {means[high][system]:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
