"""Long differential-fuzz runs: random queries through the mesh and through the one-file oracle.

    python benchmarks/differential_fuzz.py [--seeds 1 2 3] [--count 2000] [--eager]
        [--avoid-known] [--shrink 3] [--out fuzz_failures.md]

Builds the fuzz mesh of tests/fuzz/mesh.py (MariaDB, PostgreSQL, SQLite, DuckDB, Parquet; fresh
databases on the local servers, dropped at the end), generates ``--count`` queries per seed with
tests/fuzz/generator.py, runs each in-process (``MeshRuntime``) and on the oracle, and prints the
counts: queries, matches, both refused (the oracle errs, the mesh gives a QueryError), and the
failures by signature (wrong answers, errors where the oracle answers, answers where it errs,
untyped errors). ``--eager`` plans with dynamic filters and pre-aggregation forced on (they fire
only on big tables otherwise). ``--avoid-known`` steers around the open classes of
``generator.KNOWN_OPEN``, as the CI test does.

Up to ``--shrink`` failures of each signature are reduced (tests/fuzz/shrink.py) and written to
``--out`` with what the mesh returned, what the oracle returned and the fragments the mesh sent.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `python benchmarks/differential_fuzz.py` from anywhere

from tests.fuzz.differential import Differ, Outcome  # noqa: E402
from tests.fuzz.generator import KNOWN_OPEN, QueryGenerator  # noqa: E402
from tests.fuzz.mesh import build_fuzz_mesh, principal, scratch_databases  # noqa: E402
from tests.fuzz.shrink import shrink  # noqa: E402


def _report(outcome: Outcome) -> list[str]:
    lines = [f"- mesh vs oracle: {outcome.detail[:1500]}"]
    for engine, sql in outcome.fragments:
        lines.append(f"- fragment [{engine}]: `{sql}`")
    if outcome.residual:
        lines.append(f"- residual: `{outcome.residual}`")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--count", type=int, default=2000, help="queries per seed")
    parser.add_argument("--eager", action="store_true", help="force dynamic filters and pre-aggregation")
    parser.add_argument("--avoid-known", action="store_true", help="steer around generator.KNOWN_OPEN")
    parser.add_argument("--shrink", type=int, default=3, help="failures shrunk per signature")
    parser.add_argument("--out", type=Path, default=Path("fuzz_failures.md"))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    counts: collections.Counter[str] = collections.Counter()
    failures: dict[str, list[tuple[int, str, Outcome]]] = collections.defaultdict(list)
    skipped: collections.Counter[str] = collections.Counter()
    with scratch_databases() as (pg_uri, mysql_uri), tempfile.TemporaryDirectory() as folder:
        mesh = build_fuzz_mesh(Path(folder), pg_uri, mysql_uri)
        runtime = mesh.open(eager=args.eager)
        oracle = mesh.oracle()
        differ = Differ(runtime, principal(runtime), oracle)
        try:
            for seed in args.seeds:
                generator = QueryGenerator(seed, avoid=KNOWN_OPEN if args.avoid_known else None)
                for number in range(args.count):
                    sql = generator.query().sql
                    outcome = differ.run(sql)
                    counts["queries"] += 1
                    counts[outcome.status] += 1
                    if not outcome.good:
                        failures[outcome.signature].append((seed, sql, outcome))
                    if (number + 1) % 250 == 0:
                        print(f"seed {seed}: {number + 1} queries, {sum(len(v) for v in failures.values())} "
                              f"failures so far ({time.perf_counter() - started:.0f} s)", flush=True)
                skipped.update(generator.skipped)
            lines = [f"# Differential fuzz failures (seeds {args.seeds}, {args.count} each, "
                     f"eager={args.eager})", ""]
            for signature, found in sorted(failures.items(), key=lambda item: -len(item[1])):
                lines += [f"## {signature}: {len(found)} queries", ""]
                shrunk: set[str] = set()
                for seed, sql, outcome in found[:args.shrink]:
                    small, spent = shrink(sql, lambda q, o=outcome: differ.run(q).same_failure(o))
                    if small in shrunk:
                        continue
                    shrunk.add(small)
                    final = differ.run(small)
                    lines += [f"### seed {seed}, engines {sorted(final.engines)} (shrunk in {spent} tries)", "",
                              f"- original: `{sql}`", f"- shrunk: `{small}`", *_report(final), ""]
            args.out.write_text("\n".join(lines) + "\n")
        finally:
            oracle.close()
            runtime.close()
    elapsed = time.perf_counter() - started
    print(f"\nqueries {counts['queries']} in {elapsed:.0f} s (seeds {args.seeds}, eager={args.eager})")
    print(f"  matches                          {counts['match']}")
    print(f"  oracle errors, mesh QueryError   {counts['both-error']}")
    print(f"  wrong answers                    {counts['mismatch']}")
    print(f"  errors where the oracle answers  {counts['mesh-error']}")
    print(f"  answers where the oracle errs    {counts['oracle-error']}")
    print(f"  untyped errors (both refuse)     {counts['untyped-error']}")
    print("failures by signature:")
    for signature, found in sorted(failures.items(), key=lambda item: -len(item[1])):
        print(f"  {len(found):6d}  {signature}")
    if skipped:
        print("steered around (KNOWN_OPEN): " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    print(f"shrunk failures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
