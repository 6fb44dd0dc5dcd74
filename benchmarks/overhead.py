"""The fixed cost of one query through flightmesh, beside a plain Arrow Flight round trip.

    python benchmarks/overhead.py [--sf 1] [--runs 200] [--queries one,nation,q06]

Every TPC-H query pays, on top of its own work, what one GetFlightInfo + DoGet costs through
flightmesh (authentication, the plan cache, binding, ticket signing, admission, the merge engine,
the query history, audit, metrics). Tiny results measure that cost alone; they are timed beside
the floor of the transport in the same run:

* ``plain Flight``: a bare ``pyarrow.flight`` server (this file, ``--serve-plain``, its own
  process) answering GetFlightInfo with a one-column schema and DoGet with a one-row table:
  the two gRPC round trips on loopback and nothing else.
* ``flightmesh raw``: ``flightmesh serve`` over the TPC-H mesh, read by a raw ``pyarrow.flight``
  client (GetFlightInfo with a ``CommandStatementQuery``, then DoGet): the server's cost with
  the lightest client.
* ``flightmesh ADBC``: the ADBC Flight SQL driver, one cursor per query re-executed (the plan
  cached), as ``tpch.py`` measures.

Queries: ``one`` (``SELECT 1 AS x``: no engine), ``nation`` (25 rows from PostgreSQL) and
``q06`` (TPC-H 6: a scan of lineitem in DuckDB, for scale). Runs are interleaved (the order
rotates every round), medians are reported, with the server's CPU time per query (from
``/proc``, so other people's load disturbs it less than wall time); the footer prints the ratio
flightmesh / plain Flight and the milliseconds flightmesh adds to a round trip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))  # `python benchmarks/overhead.py` from anywhere

import pyarrow as pa  # noqa: E402
import pyarrow.flight as flight  # noqa: E402

from benchmarks.transport import cpu_seconds, describe_machine, server_process  # noqa: E402

ONE_ROW = pa.table({"x": pa.array([1], pa.int32())})


class PlainServer(flight.FlightServerBase):  # type: ignore[misc]
    """GetFlightInfo answers a one-column schema and a ticket; DoGet streams one row."""

    def __init__(self) -> None:
        super().__init__("grpc://127.0.0.1:0")

    def get_flight_info(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> Any:
        endpoint = flight.FlightEndpoint(b"one", [])
        return flight.FlightInfo(ONE_ROW.schema, descriptor, [endpoint], -1, -1)

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> Any:
        return flight.RecordBatchStream(ONE_ROW)


def serve_plain() -> None:
    server = PlainServer()
    print(f"plain: serving on grpc://127.0.0.1:{server.port}", flush=True)
    server.serve()


def round_trip(client: flight.FlightClient, descriptor: flight.FlightDescriptor,
               options: flight.FlightCallOptions) -> int:
    """GetFlightInfo, then every endpoint's DoGet read to the end; the rows read."""
    info = client.get_flight_info(descriptor, options)
    rows = 0
    for endpoint in info.endpoints:
        rows += client.do_get(endpoint.ticket, options).read_all().num_rows
    return rows


@dataclass
class System:
    """One way of running a query: ``run(sql)`` answers the rows it read."""

    run: Callable[[str], int]
    server_pid: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    server_cpu: dict[str, list[float]] = field(default_factory=dict)


def plain_system(port: int, pid: int) -> System:
    client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
    options = flight.FlightCallOptions()
    descriptor = flight.FlightDescriptor.for_command(b"one")
    return System(lambda _sql: round_trip(client, descriptor, options), pid)


def raw_system(port: int, pid: int, user: str, password: str) -> System:
    from flightmesh.server.messages import pack, sql

    client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
    options = flight.FlightCallOptions(headers=[client.authenticate_basic_token(user, password)])
    descriptors: dict[str, flight.FlightDescriptor] = {}

    def run(text: str) -> int:
        descriptor = descriptors.get(text)
        if descriptor is None:
            descriptor = descriptors[text] = flight.FlightDescriptor.for_command(
                pack(sql.CommandStatementQuery(query=text)))
        return round_trip(client, descriptor, options)

    return System(run, pid)


def adbc_system(port: int, pid: int, user: str, password: str) -> tuple[System, Callable[[], None]]:
    from benchmarks.tpch import FlightMeshClient

    client = FlightMeshClient(port, user, password)
    return System(lambda text: int(client.run(text).num_rows), pid), client.close


def measure(systems: dict[str, System], queries: dict[str, str], plain_name: str, runs: int) -> None:
    """Interleaved: each round runs every (system, query) once, the order rotating every round."""
    pairs = [(name, query) for query in queries for name in systems
             if name != plain_name or query == next(iter(queries))]
    for name, query in pairs:                    # warm-up: plan cache, connections, page cache
        for _ in range(3):
            systems[name].run(queries[query])
    for round_ in range(runs):
        shift = round_ % len(pairs)
        for name, query in pairs[shift:] + pairs[:shift]:
            system = systems[name]
            cpu_before = cpu_seconds(system.server_pid)
            started = time.perf_counter()
            system.run(queries[query])
            system.seconds.setdefault(query, []).append(time.perf_counter() - started)
            system.server_cpu.setdefault(query, []).append(cpu_seconds(system.server_pid) - cpu_before)


def report(systems: dict[str, System], plain_name: str) -> None:
    print(f"\n{'system':<18} {'query':<8} {'median ms':>9} {'p90 ms':>7} {'server CPU ms':>13}")
    for name, system in systems.items():
        for query, seconds in system.seconds.items():
            ordered = sorted(seconds)
            p90 = ordered[int(0.9 * (len(ordered) - 1))]
            cpu = statistics.mean(system.server_cpu[query])  # ticks of 10 ms: the mean, not the median
            print(f"{name:<18} {query:<8} {statistics.median(seconds) * 1000:9.2f} {p90 * 1000:7.2f} "
                  f"{cpu * 1000:13.2f}")
    floor = statistics.median(next(iter(systems[plain_name].seconds.values()))) * 1000
    print(f"\nplain Flight round trip (GetFlightInfo + DoGet, one row): {floor:.2f} ms")
    for name, system in systems.items():
        if name == plain_name:
            continue
        for query, seconds in system.seconds.items():
            ms = statistics.median(seconds) * 1000
            print(f"{name:<18} {query:<8} {ms / floor:5.1f}x plain Flight, {ms - floor:+6.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor of the mesh (default 1)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per system and query (default 200)")
    parser.add_argument("--queries", default="one,nation,q06", help="of one, nation, q06 (default all)")
    parser.add_argument("--no-adbc", action="store_true", help="skip the ADBC client")
    parser.add_argument("--serve-plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_plain:
        serve_plain()
        return 0
    if not 1 <= args.runs <= 10_000:
        parser.error("--runs must be between 1 and 10000")

    from benchmarks.tpch_mesh import USERS, build, load_queries, qualify, sf_tag

    known = {"one": "SELECT 1 AS x", "nation": "SELECT * FROM customers.nation",
             "q06": qualify(load_queries()[6])}
    chosen = [name.strip() for name in args.queries.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        parser.error(f"--queries: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    queries = {name: known[name] for name in chosen}
    data = build(args.sf, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(args.sf)}")
    user, password = next(iter(USERS.items()))
    print(f"overhead: fixed cost per query, TPC-H SF {args.sf:g} mesh; {args.runs} runs each, interleaved; medians")
    print(describe_machine())
    flightmesh_cli = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(data.descriptor), "--port", "0"]
    plain_cli = [sys.executable, str(Path(__file__).resolve()), "--serve-plain"]
    plain_name = "plain Flight"
    with (server_process(flightmesh_cli, "flightmesh") as (mesh_port, mesh_pid),
          server_process(plain_cli, "plain") as (plain_port, plain_pid)):
        systems = {plain_name: plain_system(plain_port, plain_pid),
                   "flightmesh raw": raw_system(mesh_port, mesh_pid, user, password)}
        close: Callable[[], None] = lambda: None  # noqa: E731
        if not args.no_adbc:
            systems["flightmesh ADBC"], close = adbc_system(mesh_port, mesh_pid, user, password)
        try:
            measure(systems, queries, plain_name, args.runs)
        finally:
            close()
    report(systems, plain_name)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
