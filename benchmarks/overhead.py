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
PLAIN = "plain Flight"               # pyarrow.flight client, the plain server
PLAIN_ADBC = "plain Flight SQL ADBC"  # the ADBC driver, the plain server
RAW = "flightmesh raw"               # pyarrow.flight client speaking Flight SQL, flightmesh
ADBC = "flightmesh ADBC"             # the ADBC driver, flightmesh


class PlainServer(flight.FlightServerBase):  # type: ignore[misc]
    """GetFlightInfo answers a one-column schema and a ticket; DoGet streams one row.

    It also answers the one action ADBC sends before re-executing a statement
    (CreatePreparedStatement, with that schema), so the ADBC driver can be timed against it too:
    the floor of a Flight SQL round trip with that client.
    """

    def __init__(self) -> None:
        super().__init__("grpc://127.0.0.1:0")

    def get_flight_info(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> Any:
        if descriptor.command != b"one" and b"PreparedStatementQuery" not in descriptor.command:
            # ADBC asks for SqlInfo when it connects: "not implemented" is an answer it accepts.
            raise flight.FlightUnimplementedError("only queries")
        endpoint = flight.FlightEndpoint(b"one", [])
        return flight.FlightInfo(ONE_ROW.schema, descriptor, [endpoint], -1, -1)

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> Any:
        return flight.RecordBatchStream(ONE_ROW)

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> list[flight.Result]:
        from flightmesh.server.messages import pack, sql

        if action.type == "ClosePreparedStatement":
            return []
        if action.type != "CreatePreparedStatement":
            raise flight.FlightUnimplementedError(action.type)
        result = sql.ActionCreatePreparedStatementResult(
            prepared_statement_handle=b"one", dataset_schema=ONE_ROW.schema.serialize().to_pybytes(),
            parameter_schema=pa.schema([]).serialize().to_pybytes())
        return [flight.Result(pack(result))]


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
    reference: str | None = None   # the plain system this one is compared with; None: it is one
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


def adbc_system(port: int, pid: int, user: str | None, password: str | None) -> tuple[System, Callable[[], None]]:
    """ADBC, one cursor per query re-executed (as ``tpch.py``); no credentials for the plain server."""
    import adbc_driver_flightsql.dbapi as dbapi

    credentials = {"username": user, "password": password} if user is not None and password is not None else {}
    connection = dbapi.connect(f"grpc://127.0.0.1:{port}", db_kwargs=credentials, autocommit=True)
    cursors: dict[str, Any] = {}

    def run(text: str) -> int:
        cursor = cursors.get(text)
        if cursor is None:
            cursor = cursors[text] = connection.cursor()
        cursor.execute(text)
        return int(cursor.fetch_arrow_table().num_rows)

    def close() -> None:
        for cursor in cursors.values():
            cursor.close()
        connection.close()

    return System(run, pid), close


def measure(systems: dict[str, System], queries: dict[str, str], runs: int) -> None:
    """Interleaved: each round runs every (system, query) once, the order rotating every round; a
    plain server answers one row whatever the query, so it runs once per round."""
    pairs = [(name, query) for query in queries for name, system in systems.items()
             if system.reference is not None or query == next(iter(queries))]
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


def report(systems: dict[str, System]) -> None:
    print(f"\n{'system':<20} {'query':<8} {'median ms':>9} {'p90 ms':>7} {'server CPU ms':>13}")
    for name, system in systems.items():
        for query, seconds in system.seconds.items():
            ordered = sorted(seconds)
            p90 = ordered[int(0.9 * (len(ordered) - 1))]
            cpu = statistics.mean(system.server_cpu[query])  # ticks of 10 ms: the mean, not the median
            label = "(any)" if system.reference is None else query
            print(f"{name:<20} {label:<8} {statistics.median(seconds) * 1000:9.2f} {p90 * 1000:7.2f} "
                  f"{cpu * 1000:13.2f}")
    print()
    for name, system in systems.items():
        if system.reference is None:
            continue
        floor = statistics.median(next(iter(systems[system.reference].seconds.values()))) * 1000
        for query, seconds in system.seconds.items():
            ms = statistics.median(seconds) * 1000
            print(f"{name:<20} {query:<8} {ms / floor:5.2f}x {system.reference} ({floor:.2f} ms): "
                  f"flightmesh adds {ms - floor:5.2f} ms")


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
    closers: list[Callable[[], None]] = []
    with (server_process(flightmesh_cli, "flightmesh") as (mesh_port, mesh_pid),
          server_process(plain_cli, "plain") as (plain_port, plain_pid)):
        systems = {PLAIN: plain_system(plain_port, plain_pid),
                   RAW: raw_system(mesh_port, mesh_pid, user, password)}
        systems[RAW].reference = PLAIN
        if not args.no_adbc:
            systems[PLAIN_ADBC], close_plain = adbc_system(plain_port, plain_pid, None, None)
            systems[ADBC], close_mesh = adbc_system(mesh_port, mesh_pid, user, password)
            systems[ADBC].reference = PLAIN_ADBC
            closers += [close_plain, close_mesh]
        try:
            measure(systems, queries, args.runs)
        finally:
            for close in closers:
                close()
    report(systems)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
