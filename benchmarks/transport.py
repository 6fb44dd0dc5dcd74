"""Pass-through throughput: ``SELECT * FROM lineitem`` through flightmesh beside plain Arrow Flight.

    python benchmarks/transport.py [--sf 1] [--runs 5]

Every server runs in its own process (a client sharing the server's GIL would measure the GIL),
all on loopback, all reading the same ``sales.duckdb`` file of the TPC-H mesh:

* ``flightmesh``: ``flightmesh serve`` over a one-product mesh exposing only that file's lineitem.
  Read two ways: a raw ``pyarrow.flight`` client speaking Flight SQL (GetFlightInfo with a
  ``CommandStatementQuery`` built from the project's own protobuf messages, then DoGet), and
  ADBC's ``cursor.execute`` + ``fetch_arrow_table`` (the statement re-executed, so no prepare).
* ``plain``: a bare ``pyarrow.flight`` server (this file, ``--serve-plain``) whose DoGet streams
  (a) the same DuckDB query's Arrow reader, or (b) the table already in memory.

The raw flightmesh client and the plain one share one drain loop; each timing runs from
GetFlightInfo to the end of the stream. Throughput is Arrow bytes (the in-memory size of the
result, the same for every system) over wall time. Runs are interleaved (the order rotates each
round) and the median is reported, so machine noise hits every system alike.

CPU time of each server process and of the client is counted too, and a last reference drains
the DuckDB reader in this process with no transport at all. On two cores, DuckDB producing the
Arrow (~0.7 CPU-s per GB) competes with sending and receiving it; the server with the table in
memory skips that work, so it bounds every engine-backed server from above. What flightmesh
itself costs is its ratio to the plain server over the same reader, and its extra server CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))  # `python benchmarks/transport.py` from anywhere

import pyarrow as pa  # noqa: E402
import pyarrow.flight as flight  # noqa: E402

USER, PASSWORD = "analyst", "analyst-tpch"
QUERY = "SELECT * FROM sales.lineitem"
PLAIN_QUERY = "SELECT * FROM lineitem"
BATCH_ROWS = 65_536            # the DuckDB connector's batch size, for the plain reader too
TARGET = 0.80                  # issue 3: flightmesh keeps >= 80% of plain Flight's throughput


# -- the plain server (runs in its own process) ----------------------------------------------------


class PlainServer(flight.FlightServerBase):  # type: ignore[misc]
    """DoGet(b"duckdb") streams a fresh DuckDB reader; DoGet(b"memory") the table in memory."""

    def __init__(self, database: Path, batch_rows: int) -> None:
        super().__init__("grpc://127.0.0.1:0")
        import duckdb

        self.database = duckdb.connect(str(database), read_only=True)
        self.batch_rows = batch_rows
        self.table = self.database.sql(PLAIN_QUERY).to_arrow_table()   # (b), loaded once
        self.table = pa.Table.from_batches(self.table.to_batches(max_chunksize=batch_rows))

    def get_flight_info(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> Any:
        endpoint = flight.FlightEndpoint(descriptor.command, [])
        return flight.FlightInfo(self.table.schema, descriptor, [endpoint], -1, -1)

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> Any:
        if ticket.ticket == b"memory":
            return flight.RecordBatchStream(self.table)
        reader = self.database.cursor().sql(PLAIN_QUERY).to_arrow_reader(self.batch_rows)
        return flight.RecordBatchStream(reader)


def serve_plain(database: Path, batch_rows: int) -> None:
    server = PlainServer(database, batch_rows)
    print(f"plain: serving on grpc://127.0.0.1:{server.port}", flush=True)
    server.serve()


# -- starting servers ------------------------------------------------------------------------------


@contextlib.contextmanager
def server_process(command: list[str], name: str) -> Iterator[tuple[int, int]]:
    """Run ``command`` (a server printing ``grpc://HOST:PORT`` when ready); yield (port, pid).

    The server's stderr goes to a file, not a pipe: a pipe nobody reads would block a server that
    logs a lot. It is shown if the server fails to start.
    """
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=REPO)
        try:
            port = None
            deadline = time.monotonic() + 120
            assert process.stdout is not None
            while port is None and time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                found = re.search(r"grpc://[\d.]+:(\d+)", line)
                port = int(found.group(1)) if found else None
            if port is None:
                process.kill()
                process.wait()
                errors.seek(0)
                raise RuntimeError(f"the {name} server did not start: {errors.read()[-2000:]}")
            yield port, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def write_descriptor(folder: Path, database: Path) -> Path:
    """A mesh of one product: the SF-n ``sales.duckdb`` with only its lineitem exposed."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = folder / "mesh.yaml"
    descriptor.write_text(
        "# Written by benchmarks/transport.py: one product, one table.\n"
        "mesh: {name: transport, sql_dialect: duckdb}\n"
        "products:\n"
        "  sales:\n"
        "    domain: sales\n"
        "    owner: sales-team@tpch.example\n"
        "    description: TPC-H line items, alone\n"
        f"    engine: {{kind: duckdb, path: {database}}}\n"
        "    tables: {lineitem: {}}\n"
        "    access: {read: [analyst]}\n"
        f"users:\n  {USER}: {{password: {PASSWORD}, roles: [analyst]}}\n"
    )
    return descriptor


# -- clients ---------------------------------------------------------------------------------------


def drain(client: flight.FlightClient, descriptor: flight.FlightDescriptor,
          options: flight.FlightCallOptions) -> int:
    """GetFlightInfo, then read every endpoint's stream to the end; the rows read."""
    info = client.get_flight_info(descriptor, options)
    rows = 0
    for endpoint in info.endpoints:
        reader = client.do_get(endpoint.ticket, options)
        for chunk in reader:
            rows += chunk.data.num_rows
    return rows


def flightmesh_raw(port: int) -> Callable[[], int]:
    from flightmesh.server.messages import pack, sql

    client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
    token = client.authenticate_basic_token(USER, PASSWORD)
    options = flight.FlightCallOptions(headers=[token])
    descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(query=QUERY)))
    return lambda: drain(client, descriptor, options)


def flightmesh_adbc(port: int) -> tuple[Callable[[], int], Callable[[], None]]:
    import adbc_driver_flightsql.dbapi as dbapi

    connection = dbapi.connect(f"grpc://127.0.0.1:{port}", db_kwargs={"username": USER, "password": PASSWORD},
                               autocommit=True)
    cursor = connection.cursor()

    def run() -> int:
        cursor.execute(QUERY)       # the same SQL again: ADBC reuses the prepared statement
        return int(cursor.fetch_arrow_table().num_rows)

    def close() -> None:
        cursor.close()
        connection.close()

    return run, close


def plain(port: int, what: bytes) -> Callable[[], int]:
    client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
    options = flight.FlightCallOptions()
    descriptor = flight.FlightDescriptor.for_command(what)
    return lambda: drain(client, descriptor, options)


# -- the benchmark ---------------------------------------------------------------------------------


def describe_machine() -> str:
    import adbc_driver_flightsql
    import duckdb

    load = os.getloadavg()
    return (f"python {platform.python_version()}, pyarrow {pa.__version__}, duckdb {duckdb.__version__}, "
            f"adbc-driver-flightsql {adbc_driver_flightsql.__version__}; {os.cpu_count()} cores; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


@dataclass
class System:
    """One way of reading the table: ``run()`` reads it all and answers the rows it read."""

    run: Callable[[], int]
    server_pid: int | None = None      # whose CPU time to count beside the client's
    seconds: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)


def engine_alone(database: Path, batch_rows: int) -> Callable[[], int]:
    """DuckDB's own cost: the same query's Arrow reader drained in this process, no transport."""
    import duckdb

    connection = duckdb.connect(str(database), read_only=True)

    def run() -> int:
        cursor = connection.cursor()
        try:
            return sum(batch.num_rows for batch in cursor.sql(PLAIN_QUERY).to_arrow_reader(batch_rows))
        finally:
            cursor.close()

    return run


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per system (default 5)")
    parser.add_argument("--no-adbc", action="store_true", help="skip the ADBC client")
    parser.add_argument("--serve-plain", type=Path, metavar="DATABASE", help=argparse.SUPPRESS)
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS,
                        help=f"rows per batch of the plain server's DuckDB reader (default {BATCH_ROWS})")
    args = parser.parse_args(argv)
    if args.serve_plain is not None:
        serve_plain(args.serve_plain, args.batch_rows)
        return 0
    if not 1 <= args.runs <= 100:
        parser.error("--runs must be between 1 and 100")

    from benchmarks.tpch_mesh import build, sf_tag

    data = build(args.sf, REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(args.sf)}")
    database = data.descriptor.parent / "data" / "sales.duckdb"
    descriptor = write_descriptor(data.root / "transport", database)
    with contextlib.closing(data.connect_oracle()) as oracle:
        expected_rows = oracle.execute("SELECT count(*) FROM lineitem").fetchall()[0][0]
        arrow_bytes = oracle.sql(PLAIN_QUERY).to_arrow_table().nbytes

    print(f"transport: SELECT * FROM lineitem, TPC-H SF {args.sf:g}: {expected_rows:,} rows, "
          f"{arrow_bytes / 1e9:.3f} GB of Arrow; {args.runs} runs each, interleaved; medians")
    print(describe_machine())
    flightmesh_cli = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(descriptor), "--port", "0"]
    plain_cli = [sys.executable, str(Path(__file__).resolve()), "--serve-plain", str(database),
                 "--batch-rows", str(args.batch_rows)]
    with (server_process(flightmesh_cli, "flightmesh") as (mesh_port, mesh_pid),
          server_process(plain_cli, "plain") as (plain_port, plain_pid)):
        systems = {
            PLAIN_DUCKDB: System(plain(plain_port, b"duckdb"), plain_pid),
            PLAIN_MEMORY: System(plain(plain_port, b"memory"), plain_pid),
            FLIGHTMESH_RAW: System(flightmesh_raw(mesh_port), mesh_pid),
        }
        close_adbc: Callable[[], None] = lambda: None  # noqa: E731
        if not args.no_adbc:
            adbc_run, close_adbc = flightmesh_adbc(mesh_port)
            systems[FLIGHTMESH_ADBC] = System(adbc_run, mesh_pid)
        systems[ENGINE_ALONE] = System(engine_alone(database, BATCH_ROWS))
        try:
            measure(systems, args.runs, expected_rows)
        finally:
            close_adbc()
    report(systems, arrow_bytes)
    print(describe_machine().split("; ")[-1] + " (at the end)")
    return 0


PLAIN_DUCKDB = "plain Flight, DuckDB reader"
PLAIN_MEMORY = "plain Flight, table in memory"
FLIGHTMESH_RAW = "flightmesh, pyarrow Flight SQL client"
FLIGHTMESH_ADBC = "flightmesh, ADBC fetch_arrow_table"
ENGINE_ALONE = "DuckDB reader alone, in-process"


def measure(systems: dict[str, System], runs: int, expected_rows: int) -> None:
    for name, system in systems.items():      # warm-up: plan cache, page cache, connections
        rows = system.run()
        if rows != expected_rows:
            raise AssertionError(f"{name} read {rows} rows, expected {expected_rows}")
    names = list(systems)
    for round_ in range(runs):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            system = systems[name]
            server_before = cpu_seconds(system.server_pid) if system.server_pid else 0.0
            client_before = time.process_time()
            started = time.perf_counter()
            rows = system.run()
            system.seconds.append(time.perf_counter() - started)
            system.client_cpu.append(time.process_time() - client_before)
            if system.server_pid:
                system.server_cpu.append(cpu_seconds(system.server_pid) - server_before)
            if rows != expected_rows:
                raise AssertionError(f"{name} read {rows} rows, expected {expected_rows}")


def report(systems: dict[str, System], arrow_bytes: int) -> None:
    median = {name: statistics.median(system.seconds) for name, system in systems.items()}
    width = max(len(name) for name in median)
    print(f"\n{'system':<{width}}  {'median s':>8}  {'GB/s':>5}  {'server CPU s':>12}  "
          f"{'client CPU s':>12}  runs (s)")
    for name, system in systems.items():
        server = f"{statistics.median(system.server_cpu):12.2f}" if system.server_cpu else f"{'-':>12}"
        runs = " ".join(f"{t:.3f}" for t in system.seconds)
        print(f"{name:<{width}}  {median[name]:8.3f}  {arrow_bytes / median[name] / 1e9:5.2f}  {server}  "
              f"{statistics.median(system.client_cpu):12.2f}  {runs}")
    print()
    # What flightmesh adds is best seen in CPU time, which load on the machine disturbs less than
    # wall time: the server's CPU beside the plain server's over the same DuckDB reader.
    if systems[FLIGHTMESH_RAW].server_cpu and systems[PLAIN_DUCKDB].server_cpu:
        ours = statistics.median(systems[FLIGHTMESH_RAW].server_cpu)
        theirs = statistics.median(systems[PLAIN_DUCKDB].server_cpu)
        engine = statistics.median(systems[ENGINE_ALONE].client_cpu)
        send = statistics.median(systems[PLAIN_MEMORY].server_cpu)
        print(f"server CPU: flightmesh {ours:.2f} s, plain over the DuckDB reader {theirs:.2f} s "
              f"(flightmesh adds {ours - theirs:+.2f} s, {(ours - theirs) / theirs:+.0%}); of which DuckDB "
              f"producing the Arrow ~{engine:.2f} s and sending it ~{send:.2f} s (the in-memory server)")
    for name in (FLIGHTMESH_RAW, FLIGHTMESH_ADBC):
        if name not in median:
            continue
        for reference in (PLAIN_DUCKDB, PLAIN_MEMORY):
            ratio = median[reference] / median[name]     # a throughput ratio
            verdict = "meets" if ratio >= TARGET else "below"
            print(f"{name} / {reference}: {ratio:.2f} ({verdict} the {TARGET:.0%} target)")


if __name__ == "__main__":
    sys.exit(main())
