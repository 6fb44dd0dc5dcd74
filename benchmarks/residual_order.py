"""The residual's inputs as tables or as streams: what handing DuckDB the fragments' sizes is worth.

    python benchmarks/residual_order.py --sf 0.1 [--runs 5] [--queries 5,7,8]

For every TPC-H query whose residual joins fragments, the same bound plan runs in one embedded
``MeshRuntime`` two ways, interleaved run by run (so both see the same machine load):

* ``tables``: every fragment registered as an Arrow table, so the merge DuckDB knows each one's
  row count and orders the joins from it;
* ``streamed``: as the planner plans it: every fragment a stream (DuckDB takes each for one row
  and keeps the written join order), except those the residual reads twice.

Each answer is compared with the one-file oracle (``tests/oracle.py``). Medians per query, their
ratio (tables / streamed: below 1 is faster), and the geometric mean of the ratios.

Measured (2026-12-02, loaded 2-core machine): SF 0.1 geometric mean 0.98 (noise); at SF 1 the
tables made TPC-H Q5 and Q7 4x slower through a server: knowing row counts but no distinct
counts, DuckDB joined customer to supplier on the nation key first (30,000 x 10,000 / 25 rows)
instead of following the written order. So the planner keeps streams.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

from benchmarks.tpch_mesh import build, load_queries, sf_tag  # noqa: E402
from flightmesh.executor import MeshRuntime  # noqa: E402
from flightmesh.executor.bound import BoundPlan  # noqa: E402
from tests.oracle import assert_same_result, order_keys, query_limit  # noqa: E402


def _tables(bound: BoundPlan) -> BoundPlan:
    plan = bound.plan
    assert plan.residual is not None
    read = frozenset(table.name for table in sqlglot.parse_one(plan.residual, dialect="duckdb").find_all(exp.Table)
                     if table.name in {fragment.name for fragment in plan.fragments})
    return replace(bound, plan=replace(plan, materialize=plan.materialize | read))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--queries", default="")
    args = parser.parse_args(argv)
    numbers = [int(n) for n in args.queries.split(",") if n] or list(range(1, 23))
    mesh = build(args.sf, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(args.sf)}")
    queries = load_queries()
    oracle = mesh.connect_oracle()
    ratios = []
    print(f"TPC-H SF {args.sf:g}, {args.runs} interleaved runs per way; medians in ms")
    print("query    tables  streamed  ratio  fragments")
    with MeshRuntime.open(mesh.descriptor) as runtime:
        analyst = runtime.principal_for("analyst")
        assert analyst is not None
        for number in numbers:
            sql = mesh.qualify(queries[number])
            bound = runtime.bind(runtime.prepare(sql, analyst), analyst)
            if bound.plan.residual is None:
                continue
            ways = {"tables": _tables(bound), "streamed": bound}
            expected = oracle.sql(queries[number]).to_arrow_table()
            times: dict[str, list[float]] = {name: [] for name in ways}
            for run in range(args.runs + 1):
                for name in (ways if run % 2 == 0 else reversed(list(ways))):
                    started = time.perf_counter()
                    try:
                        result = runtime.execute(ways[name]).read_all()
                    except Exception as error:
                        raise SystemExit(f"q{number:02d} {name}: {error}") from error
                    elapsed = (time.perf_counter() - started) * 1000.0
                    if run == 0:  # the warm-up also checks the answer
                        assert_same_result(result, expected, ordered=order_keys(queries[number]) is not None,
                                           order_by=order_keys(queries[number]), limit=query_limit(queries[number]),
                                           check_names=False)
                    else:
                        times[name].append(elapsed)
            tables, streamed = (statistics.median(times[name]) for name in ways)
            ratio = tables / streamed
            ratios.append(ratio)
            print(f"  q{number:02d}  {tables:8.1f}  {streamed:8.1f}  {ratio:5.2f}  {len(bound.plan.fragments)}")
    if ratios:
        print(f"geometric mean tables / streamed: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f} "
              f"over {len(ratios)} queries; every answer equal to the oracle's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
