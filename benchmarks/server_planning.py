"""The server's own planning overhead, A/B in one process: planning twice or once, and GC settings.

    python benchmarks/server_planning.py [--sf 0.1] [--runs 10] [--queries 1,3,5]

A ``flightmesh`` server over the TPC-H mesh runs in this process with the plan cache off, and
each round times, per query and per variant (variants interleaved, their order rotated every
round, so load bursts hit them alike):

* ``explain``: ``EXPLAIN <query>`` through ADBC (CreatePreparedStatement + GetFlightInfo + DoGet);
* ``info``: a raw Flight ``GetFlightInfo`` of the query (CommandStatementQuery), cold;
* ``plan``: ``plan_statement`` alone in the embedded runtime (as ``planning.py``'s column).

Variants: ``twice`` drops the plan ``prepare`` made (the behaviour before one planning per
GetFlightInfo), ``once`` is the code as it is; ``freeze`` and ``gen0=N`` are ``once`` with
``gc.freeze()`` of the opened mesh or a raised generation-0 threshold, applied for that
variant's turn only (``gc.unfreeze()`` and the default threshold restore the others). The
client runs in the same process: its own Python allocations are few (ADBC is native code).
Prints medians and maxima per variant, and the process's resident memory at the end.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.planning import Planner, no_cache_descriptor, parse_numbers, tpch  # noqa: E402
from benchmarks.transport import describe_machine  # noqa: E402

DEFAULT_THRESHOLD = gc.get_threshold()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    import adbc_driver_flightsql.dbapi as dbapi
    import pyarrow.flight as flight
    import yaml

    from flightmesh.executor import MeshRuntime
    from flightmesh.executor import runtime as runtime_module
    from flightmesh.server.app import FlightMeshServer
    from flightmesh.server.messages import pack, sql

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--queries", type=parse_numbers, default=None)
    parser.add_argument("--variants", default="twice,once,freeze,gen0=10000,freeze+gen0=10000")
    args = parser.parse_args(argv)
    workload = tpch(args.sf, None, args.queries)
    descriptor = no_cache_descriptor(workload.descriptor)
    user, entry = next(iter(yaml.safe_load(descriptor.read_text())["users"].items()))
    print(f"server planning A/B, TPC-H SF {args.sf:g}, plan cache off, {args.runs} rounds; {describe_machine()}")

    real_prepare = runtime_module.MeshRuntime.prepare
    mode = {"twice": False}

    def prepare(self: Any, *a: Any, **k: Any) -> Any:
        prepared = real_prepare(self, *a, **k)
        return replace(prepared, planned=None) if mode["twice"] else prepared

    runtime_module.MeshRuntime.prepare = prepare  # type: ignore[method-assign]

    def enter(variant: str) -> None:
        mode["twice"] = variant == "twice"
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_THRESHOLD)
        gc.collect()  # every variant starts from a full collection: none inherits another's debt
        for part in variant.split("+"):
            if part == "freeze":
                gc.freeze()
            elif part.startswith("gen0="):
                gc.set_threshold(int(part.split("=")[1]), *DEFAULT_THRESHOLD[1:])

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    # Every collection's pause, by generation, charged to the variant whose turn it is.
    pauses: dict[str, dict[int, list[float]]] = {v: {0: [], 1: [], 2: []} for v in variants}
    clock = {"variant": variants[0], "started": 0.0}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            clock["started"] = time.perf_counter()
        elif clock["variant"] in pauses:
            paused = (time.perf_counter() - float(clock["started"])) * 1e3
            pauses[str(clock["variant"])][info["generation"]].append(paused)

    gc.callbacks.append(on_gc)
    times: dict[str, dict[str, list[float]]] = {v: {"explain": [], "info": [], "plan": []} for v in variants}
    with MeshRuntime.open(descriptor) as runtime, FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        planner = Planner(workload.descriptor)
        uri = f"grpc://127.0.0.1:{server.port}"
        connection = dbapi.connect(uri, db_kwargs={"username": user, "password": str(entry["password"])},
                                   autocommit=True)
        cursor = connection.cursor()
        client = flight.connect(uri)
        options = flight.FlightCallOptions(headers=[client.authenticate_basic_token(user, str(entry["password"]))])

        def explain(text: str) -> float:
            started = time.perf_counter()
            cursor.execute(f"EXPLAIN {text}")
            cursor.fetch_arrow_table()
            return (time.perf_counter() - started) * 1e3

        def info(text: str) -> float:
            descriptor_ = flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(query=text)))
            started = time.perf_counter()
            client.get_flight_info(descriptor_, options)
            return (time.perf_counter() - started) * 1e3

        measures: dict[str, Callable[[str], float]] = {"explain": explain, "info": info,
                                                       "plan": lambda text: planner.time(text)[1]}
        for text, _ in workload.queries.values():  # warm-up
            for measure in measures.values():
                measure(text)
        for round_ in range(args.runs):
            order = variants[round_ % len(variants):] + variants[:round_ % len(variants)]
            for variant in order:
                clock["variant"] = ""  # enter's own gc.collect() is nobody's pause
                enter(variant)
                clock["variant"] = variant
                for text, _ in workload.queries.values():
                    for name, measure in measures.items():
                        times[variant][name].append(measure(text))
        clock["variant"] = ""
        enter("once")
        cursor.close()
        connection.close()
        client.close()
        planner.close()
    print(f"{'variant':>12}  " + "  ".join(f"{m + ' med':>12}  {m + ' max':>12}" for m in ("explain", "info", "plan")))
    for variant in variants:
        cells = []
        for name in ("explain", "info", "plan"):
            values = times[variant][name]
            cells += [f"{statistics.median(values):>12.2f}", f"{max(values):>12.2f}"]
        print(f"{variant:>12}  " + "  ".join(cells))
    print("GC pauses while each variant ran (ms): count / total / max per generation")
    for variant in variants:
        print(f"{variant:>12}  " + "  ".join(
            f"gen{g} {len(p)} / {sum(p):.0f} / {max(p, default=0):.1f}" for g, p in pauses[variant].items()))
    print(f"(ms over all queries and rounds); RSS at the end {rss_mb():.0f} MB; {describe_machine().split('; ')[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
