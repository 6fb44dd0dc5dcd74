"""The residual's inputs as tables or as streams: what handing DuckDB the fragments' sizes is worth.

    python benchmarks/residual_order.py --sf 0.1 [--runs 5] [--queries 5,7,8] [--broad]

For every TPC-H query (``--broad``: broad-workload query, ``--queries b17,b21``) whose residual
joins fragments, the same bound plan runs in one embedded ``MeshRuntime`` three ways,
interleaved run by run (so all see the same machine load):

* ``tables``: every fragment registered as an Arrow table, so the merge DuckDB knows each one's
  row count and orders the joins from it;
* ``streamed``: as the planner plans it: every fragment a stream, sized with its estimate when
  the plan says so (``Plan.merge_rows``, planner/merge_sizes.py), except those the residual
  reads twice;
* ``unsized``: every stream unsized (DuckDB takes each for one row and keeps the written join
  order).

Each answer is compared with the one-file oracle (``tests/oracle.py``). Medians per query, the
ratios tables / streamed and streamed / unsized (below 1: the first is faster), and the
geometric means of the ratios.

Measured (2026-12-02, loaded 2-core machine): SF 0.1 geometric mean 0.98 (noise); at SF 1 the
tables made TPC-H Q5 and Q7 4x slower through a server: knowing row counts but no distinct
counts, DuckDB joined customer to supplier on the nation key first (30,000 x 10,000 / 25 rows)
instead of following the written order. So the planner keeps streams.

Sizing the streams (2026-12-02, SF 1, 5-11 interleaved runs, machine load 3-6 on 2 cores): on
the broad workload b21 0.68, b18 0.84, b65 0.85, b17 and b22 1.00-1.06 (streamed / unsized);
on the TPC-H queries it sizes (3, 8, 10, 11, 13-19, 21, 22) the geometric mean 1.04 at 5 runs,
1.01 at 11 runs for the six that looked worst (noise): Q5 and Q7, whose joins have no key
side, stay unsized.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

from benchmarks import broad_mesh  # noqa: E402
from benchmarks.broad import load_queries as broad_queries  # noqa: E402
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
    parser.add_argument("--broad", action="store_true", help="the broad workload's queries (benchmarks/broad.py)")
    args = parser.parse_args(argv)
    queries: dict[int | str, str]
    if args.broad:
        mesh: Any = broad_mesh.build(args.sf, REPO / "benchmarks" / "data" / f"broad-sf{broad_mesh.sf_tag(args.sf)}")
        queries, qualify, title = dict(broad_queries()), broad_mesh.qualify, "broad workload"
    else:
        mesh = build(args.sf, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(args.sf)}")
        queries, qualify, title = dict(load_queries()), mesh.qualify, "TPC-H"
    names = [name if args.broad else int(name) for name in args.queries.split(",") if name] or list(queries)
    oracle = mesh.connect_oracle()
    ratios, sized_ratios = [], []
    print(f"{title} SF {args.sf:g}, {args.runs} interleaved runs per way; medians in ms")
    print("query    tables  streamed   unsized  t/s  s/u  fragments")
    with MeshRuntime.open(mesh.descriptor) as runtime:
        analyst = runtime.principal_for("analyst")
        assert analyst is not None
        for number in names:
            sql = qualify(queries[number])
            bound = runtime.bind(runtime.prepare(sql, analyst), analyst)
            if bound.plan.residual is None:
                continue
            ways = {"tables": _tables(bound), "streamed": bound,
                    "unsized": replace(bound, plan=replace(bound.plan, merge_rows=()))}
            expected = oracle.sql(queries[number]).to_arrow_table()
            times: dict[str, list[float]] = {name: [] for name in ways}
            for run in range(args.runs + 1):
                for name in (ways if run % 2 == 0 else reversed(list(ways))):
                    started = time.perf_counter()
                    try:
                        result = runtime.execute(ways[name]).read_all()
                    except Exception as error:
                        raise SystemExit(f"{number} {name}: {error}") from error
                    elapsed = (time.perf_counter() - started) * 1000.0
                    if run == 0:  # the warm-up also checks the answer
                        assert_same_result(result, expected, ordered=order_keys(queries[number]) is not None,
                                           order_by=order_keys(queries[number]), limit=query_limit(queries[number]),
                                           check_names=False)
                    else:
                        times[name].append(elapsed)
            tables, streamed, unsized = (statistics.median(times[name]) for name in ways)
            ratios.append(tables / streamed)
            if bound.plan.merge_rows:
                sized_ratios.append(streamed / unsized)
            shown = number if args.broad else f"q{number:02d}"
            sizing = "" if bound.plan.merge_rows else " unsized"
            print(f"  {shown}  {tables:8.1f}  {streamed:8.1f}  {unsized:8.1f}  {tables / streamed:4.2f}  "
                  f"{streamed / unsized:4.2f}  {len(bound.plan.fragments)}{sizing}")
    for label, values in (("tables / streamed", ratios), ("streamed / unsized, sized plans", sized_ratios)):
        if values:
            print(f"geometric mean {label}: {math.exp(sum(map(math.log, values)) / len(values)):.3f} "
                  f"over {len(values)} queries")
    print("every answer equal to the oracle's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
