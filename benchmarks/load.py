"""Load: 64 concurrent ADBC clients running a mixed workload against one ``flightmesh serve``.

    python benchmarks/load.py [--clients 64] [--seconds 30] [--rounds 2] [--warmup 5] [--seed 1]
                              [--setting NAME=VALUE ...]

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
refuse under the burst with UNAVAILABLE, and that is a refusal, not an error), and the server's
own counts from ``/metrics`` next to the clients'.

Memory: the server's RSS (``/proc/PID/status``) is read

* at the start: after a warm-up that fills what is bounded by design and filled once: ``--warmup``
  seconds of the full load with every client at once (connection pools, gRPC's thread pool, the
  malloc arenas of those threads; the merge instances it opened are closed again after
  ``merge_idle_seconds``), then point lookups of distinct orders until the plan cache holds
  ``plan_cache_size`` plans (each bound parameter value is a plan of its own, so the rounds would
  otherwise fill it: about 40 KB a plan), then a settle of ``merge_idle_seconds`` + 3 s;
* sampled every 0.25 s during the rounds (the peak);
* after each round (``--rounds``, default 2, the same workload each time, same seed) and the
  same settle. A leak grows again in round 2; a cache that fills once does not. One bounded store
  is not filled by the warm-up: the audit ring (``governance.audit.keep``, 10,000 records of about
  3 KB) fills over the first 10,000 queries, a few MB a round here; ``--audit-keep 100`` shows the
  rounds without it.
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


def write_mesh(directory: Path, settings: dict[str, str] | None = None, audit_keep: int | None = None) -> Path:
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
        "settings:\n  http_port: 0\n" + "".join(f"  {key}: {value}\n" for key, value in (settings or {}).items())
        + (f"governance:\n  audit: {{keep: {audit_keep}}}\n" if audit_keep is not None else ""))
    return descriptor


# -- the server ------------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    http_port: int

    def rss_mb(self, field_name: str = "VmRSS") -> float:
        """The server's resident memory, MB (or another /proc status field)."""
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


def _fill_plan_cache(server: Server, clients: int, size: int, seconds: float = 300.0) -> None:
    """Point lookups of orders not asked before, from every client at once, until ``size`` plans are cached."""
    if size <= 0:
        return
    deadline = time.monotonic() + seconds
    next_id = iter(range(ORDERS, 0, -1))  # from the top: the rounds draw at random
    lock = threading.Lock()

    def lookups(index: int) -> None:
        user = f"user{index % len(USERS)}"
        with dbapi.connect(f"grpc://127.0.0.1:{server.port}", autocommit=True,
                           db_kwargs={"username": user, "password": USERS[user]}) as connection, \
                connection.cursor() as cursor:
            while time.monotonic() < deadline and _metric(server.metrics(), "flightmesh_plan_cache_entries") < size:
                for _ in range(8):
                    with lock:
                        wanted = next(next_id)
                    cursor.execute(MIX[0][2], (wanted,))
                    cursor.fetchall()

    threads = [threading.Thread(target=lookups, args=(i,)) for i in range(min(clients, 16))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _load(server: Server, clients: int, seconds: float, seed: int, results: Results) -> float:
    """``clients`` clients at once for ``seconds``; the wall time they took."""
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i, server, deadline, seed, results)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


class _Sampler:
    """The server's RSS every 0.25 s while ``running``; ``peak`` the highest seen."""

    def __init__(self, server: Server) -> None:
        self.server, self.peak, self.running = server, 0.0, False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stopped.wait(0.25):
            if self.running:
                self.peak = max(self.peak, self.server.rss_mb())

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


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
    parser.add_argument("--rounds", type=int, default=2,
                        help="run the same load this many times in a row, the server's RSS after each (a leak grows)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of the full load before the start figure (fills what is filled once)")
    parser.add_argument("--audit-keep", type=int, default=None,
                        help="governance.audit.keep: audit records kept in memory (default 10,000, about 3 KB each, "
                             "filled over the first 10,000 queries)")
    parser.add_argument("--settle", type=float, default=None,
                        help="idle seconds before each RSS reading (default merge_idle_seconds + 3)")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.setting)
    # After a round the server is idle; its idle merge instances close after merge_idle_seconds.
    settle = args.settle if args.settle is not None else float(settings.get("merge_idle_seconds", 10.0)) + 3.0

    print(f"python {platform.python_version()}, pyarrow {pa.__version__}, duckdb {duckdb.__version__}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="flightmesh-load-") as folder:
        directory = Path(folder)
        descriptor = write_mesh(directory, settings, args.audit_keep)
        log = directory / "server.log"
        server = start_server(descriptor, log)
        try:
            # Warm-up: the full load for a few seconds, the plan cache filled (what is filled once), then idle.
            _load(server, args.clients, args.warmup, args.seed + 99, Results())
            _fill_plan_cache(server, args.clients, int(settings.get("plan_cache_size", 512)))
            time.sleep(settle)
            rss_start = server.rss_mb()
            before = server.metrics()

            results = Results()
            sampler = _Sampler(server)
            wall, rss_rounds = 0.0, []
            for _ in range(args.rounds):
                sampler.running = True
                wall += _load(server, args.clients, args.seconds, args.seed, results)
                sampler.running = False
                time.sleep(settle)  # the server lets go of what the last queries held
                rss_rounds.append(server.rss_mb())
            sampler.stop()
            rss_end, rss_peak = rss_rounds[-1], sampler.peak
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
    print(f"server RSS: {rss_start:.0f} MB at the start (after {args.warmup:.0f} s of warm-up and {settle:.0f} s "
          f"idle), peak {rss_peak:.0f} MB during the rounds, {rss_end:.0f} MB at the end "
          f"({rss_end - rss_start:+.0f} MB, {(rss_end / rss_start - 1) * 100:+.1f}%)")
    print("server RSS after each round (and the same idle): " + ", ".join(
        f"{value:.0f} MB ({value - rss_start:+.0f})" for value in rss_rounds))
    print("filled once: plan cache " + " -> ".join(f"{_metric(s, 'flightmesh_plan_cache_entries'):.0f}" for s in
                                                   (before, after))
          + " plans, idle merge instances " + " -> ".join(
              f"{_metric(s, 'flightmesh_merge_idle_instances'):.0f}" for s in (before, after))
          + " (start -> end)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
