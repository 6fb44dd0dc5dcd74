"""What one hostile client can cost the server: memory, time past the limit, other users' latency.

    python benchmarks/hostile_resources.py [--timeout 5] [--victim-runs 20]

The server runs in its own process (``flightmesh serve``) over the demo mesh (DuckDB, SQLite,
Parquet) plus a MariaDB product, with ``query_timeout_seconds`` set low and the merge DuckDB
capped at 1 GB. Each attack of the security review (issue 8) is sent through ADBC; while it
runs, a second client (the victim, another user) runs a small cross-product query over and
over. Printed per attack:

* outcome: refused (and the message), timed out, or answered, and its wall time;
* s, over: seconds one attempt took, and past ``timeout`` (the promise: at most 1);
* rss: the server's peak resident memory during the attack minus before it (sampled every 20 ms);
* victim: the victim's median latency during the attack over its median before any attack.
  Attacks that end at once are sent again and again for 3 s, so the victim is measured under
  a sustained attack, not over a few milliseconds.

Nothing here asserts a time: the figures are for the closing note and the README.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

import adbc_driver_flightsql.dbapi as dbapi  # noqa: E402

from benchmarks.transport import server_process  # noqa: E402

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
VICTIM_SQL = ("SELECT c.country, count(*) AS n FROM sales.orders o JOIN crm.customers c "
              "ON c.customer_id = o.customer_id GROUP BY c.country ORDER BY n DESC LIMIT 3")


def attacks() -> dict[str, str]:
    parameters_800 = " UNION ALL ".join(f"SELECT order_id FROM sales.orders WHERE order_id = {i}" for i in range(800))
    return {
        "unnest(generate_series(1, 1e9)) in the merge":
            "SELECT count(*) FROM (SELECT unnest(generate_series(1, 1000000000)))",
        "length(repeat('x', 2e9))": "SELECT length(repeat('x', 2e9))",
        "SQLite 4-way cross join": "SELECT count(*) FROM crm.customers a, crm.customers b, crm.customers c, "
                                   "crm.customers d",
        "MariaDB 5-way self join, streamed": "SELECT a.id, b.id, c.id, d.id, e.pad FROM shop.big a, shop.big b, "
                                             "shop.big c, shop.big d, shop.big e",
        "DuckDB x SQLite cross join in the merge": "SELECT count(*) FROM sales.order_items i, crm.customers c, "
                                                   "crm.customers d WHERE i.quantity + c.customer_id > d.customer_id",
        "800-branch UNION ALL": parameters_800,
        "(CAST('/etc/hostname' AS TEXT)).pg_read_file": "SELECT (CAST('/etc/hostname' AS TEXT)).pg_read_file",
        "a 2 MB statement": "SELECT " + " + ".join("1" for _ in range(700_000)),
    }


@dataclass
class Outcome:
    name: str
    result: str
    seconds: float
    rss_mb: float
    victim_ratio: float


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def peak_rss(pid: int) -> Iterator[Callable[[], int]]:
    """Sample the server's RSS every 20 ms; yields a function giving the peak so far (kB)."""
    peak = [rss_kb(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0]
    finally:
        stop.set()
        thread.join()


class Victim:
    """Another user's small query, run in a loop on its own connection; latencies recorded."""

    def __init__(self, port: int) -> None:
        self.connection = dbapi.connect(f"grpc://127.0.0.1:{port}", autocommit=True,
                                        db_kwargs={"username": "vera", "password": "vera-pw"})
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def once(self) -> float:
        started = time.perf_counter()
        with self.connection.cursor() as cursor:
            cursor.execute(VICTIM_SQL)
            cursor.fetchall()
        return time.perf_counter() - started

    def baseline(self, runs: int) -> float:
        return statistics.median(self.once() for _ in range(runs))

    def start(self) -> None:
        self.latencies = []
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                self.latencies.append(self.once())

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        return statistics.median(self.latencies) if self.latencies else float("nan")


def prepare_mariadb(rows: int) -> None:
    import pymysql

    with contextlib.closing(pymysql.connect(**MARIADB, autocommit=True)) as connection, connection.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS fm_bench_hostile")
        cur.execute("DROP TABLE IF EXISTS fm_bench_hostile.big")
        cur.execute("CREATE TABLE fm_bench_hostile.big (id INT PRIMARY KEY, pad VARCHAR(200))")
        cur.executemany("INSERT INTO fm_bench_hostile.big VALUES (%s, %s)",
                        [(i, "p" * 200) for i in range(rows)])


def write_mesh(folder: Path, timeout: float) -> tuple[Path, str]:
    """The demo mesh plus the MariaDB product; returns it and alice's password."""
    from flightmesh.server.demo import write_demo

    descriptor, passwords = write_demo(folder)
    text = descriptor.read_text()
    head, users = text.split("\nusers:\n")
    descriptor.write_text(
        head
        + "\n  shop:\n"
          "    engine: {kind: mysql, uri: \"mysql://root@127.0.0.1:3306/fm_bench_hostile\", allow_privileged: true}\n"
          "    tables: {big: {}}\n"
          "    access: {read: [analyst]}\n"
        + "\nusers:\n" + users
        + "  vera: {password: vera-pw, roles: [analyst]}\n"
        + f"\nsettings:\n  query_timeout_seconds: {timeout}\n  merge_memory_limit: 1GB\n"
    )
    return descriptor, passwords["alice"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=5.0, help="the server's query_timeout_seconds")
    parser.add_argument("--victim-runs", type=int, default=20, help="victim runs for the baseline median")
    parser.add_argument("--mariadb-rows", type=int, default=2000)
    args = parser.parse_args(argv)
    prepare_mariadb(args.mariadb_rows)
    with tempfile.TemporaryDirectory() as scratch:
        descriptor, password = write_mesh(Path(scratch), args.timeout)
        command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(descriptor), "--port", "0"]
        with server_process(command, "flightmesh") as (port, pid):
            victim = Victim(port)
            base = victim.baseline(args.victim_runs)
            print(f"server pid {pid}; RSS at rest {rss_kb(pid) / 1024:.0f} MB; victim median {base * 1000:.1f} ms; "
                  f"query_timeout_seconds {args.timeout}")
            outcomes = [run_attack(name, sql, port, pid, password, victim, base) for name, sql in attacks().items()]
            outcomes.append(run_logins(port, pid, victim, base))
            victim.connection.close()
    report(outcomes, args.timeout)
    return 0


def run_attack(name: str, sql: str, port: int, pid: int, password: str, victim: Victim, base: float,
               window: float = 3.0) -> Outcome:
    """Send the attack (again and again, for at least ``window`` seconds, when it ends sooner)."""
    before = rss_kb(pid)
    connection = dbapi.connect(f"grpc://127.0.0.1:{port}", autocommit=True,
                               db_kwargs={"username": "alice", "password": password})
    victim.start()
    started = time.perf_counter()
    first: float | None = None
    attempts = 0
    with peak_rss(pid) as peak:
        while first is None or time.perf_counter() - started < window:
            began = time.perf_counter()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
                    # Arrow batches, not Python rows: a client converting rows reads slower than
                    # the server stops, and would measure itself.
                    for _ in cursor.fetch_record_batch():
                        pass
                result = "answered"
            except Exception as error:  # the client's view: the status and the first line
                result = str(error).split(". Detail")[0].split("\n")[0][:110]
            attempts += 1
            first = first if first is not None else time.perf_counter() - began
        ratio = victim.stop() / base
        grown = (peak() - before) / 1024
    connection.close()
    return Outcome(name, f"{result} ({attempts}x)" if attempts > 1 else result, first, grown, ratio)


def run_logins(port: int, pid: int, victim: Victim, base: float, attempts: int = 40) -> Outcome:
    """Wrong passwords in a row for one user: a full argon2 check each, until the throttle."""
    before = rss_kb(pid)
    victim.start()
    started = time.perf_counter()
    refused = throttled = 0
    with peak_rss(pid) as peak:
        for _ in range(attempts):
            try:
                dbapi.connect(f"grpc://127.0.0.1:{port}", autocommit=True,
                              db_kwargs={"username": "alice", "password": "wrong"}).close()
            except Exception as error:
                refused += 1
                throttled += "too many" in str(error)
    seconds = time.perf_counter() - started
    return Outcome(f"{attempts} wrong passwords", f"{refused} refused, {throttled} of them by the throttle",
                   seconds, (peak() - before) / 1024, victim.stop() / base)


def report(outcomes: list[Outcome], timeout: float) -> None:
    print(f"\n{'attack':<44} {'s':>6} {'over':>6} {'rss MB':>7} {'victim':>7}  outcome")
    for item in outcomes:
        over = max(0.0, item.seconds - timeout)
        print(f"{item.name:<44} {item.seconds:6.2f} {over:6.2f} {item.rss_mb:7.0f} {item.victim_ratio:6.2f}x  "
              f"{item.result}")


if __name__ == "__main__":
    sys.exit(main())
