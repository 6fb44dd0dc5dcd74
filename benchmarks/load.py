"""Load: 64 concurrent ADBC clients running a mixed workload against one ``flightmesh serve``.

    python benchmarks/load.py [--clients 64] [--seconds 30] [--rounds 1] [--seed 1] [--setting NAME=VALUE ...]

The server runs in its own process (``flightmesh serve``, JSON query log to a file, the HTTP side
port on), over a mesh this script writes to a temporary folder: ``sales.orders`` in DuckDB
(100,000 rows), ``crm.customers`` in SQLite (10,000), ``telemetry.events`` in Parquet (1,000,000).
Each client is a thread with its own ADBC connection (the driver releases the GIL), logged in as
one of four users, and runs, until the time is up, queries drawn from this mix:

=========  ======  =============================================================================
kind       weight  statement
=========  ======  =============================================================================
point        40    ``SELECT * FROM sales.orders WHERE order_id = ?`` (a prepared statement, bound)
join         20    orders JOIN customers (two engines, merged in DuckDB), GROUP BY country
scan         15    an aggregate over telemetry.events (Parquet)
stream       10    100,000 rows of telemetry.events streamed to the client
system       10    ``SELECT count(*) FROM mesh.tables`` (answered by flightmesh itself)
refused       5    ``SELEC 1``: a deliberate syntax error, refused with INVALID_ARGUMENT
=========  ======  =============================================================================

Printed: queries per second, p50 / p99 latency per kind and overall, errors (anything but the
deliberate refusals and admission refusals, which are counted apart: admission control may
refuse under the burst with UNAVAILABLE, and that is a refusal, not an error), the server's RSS
(``/proc/PID/status``) after a warm-up and at the end (after the clients disconnect and a short
settle), its peak, and the server's own counts from ``/metrics`` next to the clients' counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))  # `python benchmarks/load.py` from anywhere

import adbc_driver_flightsql.dbapi as dbapi  # noqa: E402
import adbc_driver_manager  # noqa: E402
import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

ORDERS, CUSTOMERS, EVENTS = 100_000, 10_000, 1_000_000
USERS = {f"user{i}": f"secret-{i}" for i in range(4)}
MIX: tuple[tuple[str, int, str], ...] = (
    ("point", 40, "SELECT * FROM sales.orders WHERE order_id = ?"),
    ("join", 20, "SELECT c.country, count(*) AS n, sum(o.amount) AS total FROM sales.orders o "
                 "JOIN crm.customers c USING (customer_id) GROUP BY c.country ORDER BY c.country"),
    ("scan", 15, "SELECT value % 10 AS bucket, count(*) AS n, avg(value) AS mean FROM telemetry.events "
                 "GROUP BY 1 ORDER BY 1"),
    ("stream", 10, "SELECT event_id, value FROM telemetry.events WHERE event_id < 100000"),
    ("system", 10, "SELECT count(*) FROM mesh.tables"),
    ("refused", 5, "SELEC 1"),
)


# -- the mesh ------------------------------------------------------------------------------------------


def write_mesh(directory: Path, settings: dict[str, str] | None = None) -> Path:
    data = directory / "data"
    (data / "telemetry").mkdir(parents=True)
    rng = np.random.default_rng(7)
    orders = pa.table({
        "order_id": np.arange(1, ORDERS + 1, dtype=np.int64),
        "customer_id": rng.integers(1, CUSTOMERS + 1, ORDERS, dtype=np.int64),
        "amount": np.round(rng.uniform(1, 500, ORDERS), 2),
    })
    with duckdb.connect(str(data / "sales.duckdb")) as sales:
        sales.register("source", orders)
        sales.execute("CREATE TABLE orders AS SELECT * FROM source")
    crm = sqlite3.connect(data / "crm.sqlite")
    try:
        crm.execute("CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT)")
        countries = ["DE", "FR", "US", "JP", "BR"]
        crm.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                        [(i, f"customer {i}", countries[i % 5]) for i in range(1, CUSTOMERS + 1)])
        crm.commit()
    finally:
        crm.close()
    ids = np.arange(EVENTS, dtype=np.int64)
    pq.write_table(pa.table({"event_id": ids, "value": ids % 1000}), data / "telemetry" / "events.parquet",
                   row_group_size=65_536)
    users = "".join(f"  {name}: {{password: {password}, roles: [analyst]}}\n" for name, password in USERS.items())
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: load}\nproducts:\n"
        "  sales:\n    engine: {kind: duckdb, path: data/sales.duckdb}\n    tables: {orders: {}}\n"
        "    access: {read: [analyst]}\n"
        "  crm:\n    engine: {kind: sqlite, path: data/crm.sqlite}\n    tables: {customers: {}}\n"
        "    access: {read: [analyst]}\n"
        "  telemetry:\n    engine: {kind: parquet, path: data/telemetry}\n"
        "    tables: {events: {source: events.parquet}}\n    access: {read: [analyst]}\n"
        f"users:\n{users}"
        "settings:\n  http_port: 0\n" + "".join(f"  {key}: {value}\n" for key, value in (settings or {}).items()))
    return descriptor


# -- the server ------------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    http_port: int

    def rss_mb(self, field_name: str = "VmRSS") -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) / 1024 if match else float("nan")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=30) as answer:
            text = answer.read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}


def start_server(descriptor: Path, log: Path) -> Server:
    process = subprocess.Popen(
        [sys.executable, "-m", "flightmesh.server.cli", "serve", str(descriptor), "--port", "0"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=REPO)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("flightmesh: serving"):
            port = int(line.split("on grpc://127.0.0.1:", 1)[1].split(";")[0])
            http_port = int(line.split("on http://127.0.0.1:", 1)[1].split(";")[0])
            return Server(process, port, http_port)
    process.wait(30)
    raise SystemExit(f"the server did not start; see {log}")


# -- the clients -----------------------------------------------------------------------------------------


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refusals: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def client(index: int, server: Server, deadline: float, seed: int, results: Results) -> None:
    rng = random.Random(seed * 1000 + index)
    user = f"user{index % len(USERS)}"
    kinds = [kind for kind, _, _ in MIX]
    weights = [weight for _, weight, _ in MIX]
    statements = {kind: sql for kind, _, sql in MIX}
    connection = dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": user,
                               "password": USERS[user]}, autocommit=True)
    try:
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            outcome = _run(connection, kind, statements[kind], rng)
            elapsed = time.perf_counter() - started
            with results.lock:
                if outcome is None:
                    results.latencies[kind].append(elapsed)
                elif outcome.startswith("refused:"):
                    results.refusals[outcome] += 1
                else:
                    results.errors.append(f"{kind}: {outcome}")
    finally:
        connection.close()


def _run(connection: Any, kind: str, sql: str, rng: random.Random) -> str | None:
    """None when the query answered as expected; 'refused: ...' for a deliberate refusal; else the error."""
    try:
        with connection.cursor() as cursor:
            if kind == "point":
                wanted = rng.randint(1, ORDERS)
                cursor.execute(sql, (wanted,))
                rows = cursor.fetchall()
                if len(rows) != 1 or rows[0][0] != wanted:
                    return f"wrong answer for order {wanted}: {rows!r}"
            else:
                cursor.execute(sql)
                table = cursor.fetch_arrow_table()
                expected = {"join": 5, "scan": 10, "stream": 100_000, "system": None, "refused": None}[kind]
                if expected is not None and table.num_rows != expected:
                    return f"{table.num_rows} rows instead of {expected}"
    except adbc_driver_manager.Error as error:
        message = str(error).split("\n")[0]
        if kind == "refused" and ("InvalidArgument" in message or "INVALID_ARGUMENT" in message):
            return "refused: syntax error (deliberate)"
        if "max_running_queries" in message or "max_queued_queries" in message or "max_queries_per_user" in message:
            return "refused: admission control (UNAVAILABLE)"
        return message[:300]
    if kind == "refused":
        return "a syntax error was answered"
    return None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _metric(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting for the mesh, e.g. plan_cache_size=0 (repeatable)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the load this many times in a row, the server's RSS after each (a leak grows)")
    args = parser.parse_args()

    print(f"python {platform.python_version()}, pyarrow {pa.__version__}, duckdb {duckdb.__version__}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="flightmesh-load-") as folder:
        directory = Path(folder)
        descriptor = write_mesh(directory, dict(item.split("=", 1) for item in args.setting))
        log = directory / "server.log"
        server = start_server(descriptor, log)
        try:
            # Warm-up: every kind once per user (connections, plan caches, engine pools), then the baseline.
            warm = Results()
            for index in range(len(USERS)):
                client(index, server, time.monotonic() + 1.0, args.seed + 99, warm)
            time.sleep(1.0)
            rss_start = server.rss_mb()
            before = server.metrics()

            results = Results()
            wall, rss_rounds = 0.0, []
            for round_number in range(args.rounds):
                deadline = time.monotonic() + args.seconds
                started = time.perf_counter()
                threads = [threading.Thread(target=client, args=(i, server, deadline, args.seed + round_number,
                                                                 results)) for i in range(args.clients)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                wall += time.perf_counter() - started
                time.sleep(2.0)  # the server lets go of what the last queries held
                rss_rounds.append(server.rss_mb())
            rss_end, rss_peak = rss_rounds[-1], server.rss_mb("VmHWM")
            after = server.metrics()
        finally:
            server.process.terminate()
            server.process.wait(60)
        query_lines = sum(1 for line in log.read_text().splitlines()
                          if line.startswith("{") and json.loads(line).get("event") == "query")

    answered = sum(len(values) for values in results.latencies.values())
    refused = sum(results.refusals.values())
    total = answered + refused + len(results.errors)
    everything = [value for values in results.latencies.values() for value in values]
    print(f"{args.clients} clients, {args.rounds} x {args.seconds:.0f} s ({wall:.1f} s): {total} queries, "
          f"{total / wall:.1f} queries/s ({answered / wall:.1f}/s answered)")
    print(f"{'kind':8} {'count':>7} {'p50 ms':>9} {'p99 ms':>9}")
    for kind, _, _ in MIX:
        values = results.latencies.get(kind, [])
        if values:
            print(f"{kind:8} {len(values):7d} {_percentile(values, 0.5) * 1000:9.1f} "
                  f"{_percentile(values, 0.99) * 1000:9.1f}")
    print(f"{'all':8} {answered:7d} {_percentile(everything, 0.5) * 1000:9.1f} "
          f"{_percentile(everything, 0.99) * 1000:9.1f}  (answered queries)")
    for reason, count in sorted(results.refusals.items()):
        print(f"refusals, {reason.removeprefix('refused: ')}: {count}")
    print(f"errors: {len(results.errors)}")
    for error in Counter(results.errors).most_common(5):
        print(f"  {error[1]} x {error[0]}")
    moved = {outcome: _metric(after, "flightmesh_queries_total", outcome=outcome)
             - _metric(before, "flightmesh_queries_total", outcome=outcome)
             for outcome in ("ok", "refused", "failed", "cancelled", "timeout")}
    print("server /metrics during the run: " + ", ".join(f"{k} {v:.0f}" for k, v in moved.items())
          + f"; JSON query lines in its log (with warm-up): {query_lines}")
    print(f"server RSS: {rss_start:.0f} MB after warm-up, {rss_end:.0f} MB at the end "
          f"({rss_end - rss_start:+.0f} MB, {(rss_end / rss_start - 1) * 100:+.1f}%), peak {rss_peak:.0f} MB")
    if len(rss_rounds) > 1:
        print("server RSS after each round: " + ", ".join(f"{value:.0f} MB" for value in rss_rounds))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
