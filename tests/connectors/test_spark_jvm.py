"""The spark engine kind against Apache Spark's own Spark Connect server (the JVM), not Sail.

Slow and opt-in (``make test-spark-jvm``, or ``FLIGHTMESH_SPARK_JVM=1``; marked ``spark_jvm``):
the first run creates ``build/spark-jvm/venv`` with the ``pyspark`` wheel, whose jars carry the
server (about 500 MB; PySpark stays out of the project's own environment, where it would break
the in-process Sail the other spark tests start). The server is started as
``spark-submit --class org.apache.spark.sql.connect.service.SparkConnectServer`` on the machine's
Java 17, in local mode with two cores, its session time zone set to New York so that the
connector has to set UTC itself; it answers after 40-75 s here (2 shared cores) and is stopped
at the end.

- A Spark product joined with PostgreSQL and DuckDB products equals the one-file DuckDB oracle,
  for the same queries as against Sail (tests/connectors/test_spark.py), and a row filter and a
  mask on the Spark product equal the policy written by hand over the raw rows.
- A query cancelled through flightmesh stops its job on the cluster: Spark's own REST API shows
  the job failed (killed), none left running, and the connector's one session serves again.
- Sessions run in UTC on a server whose default zone is not; ``flightmesh introspect`` reads the
  catalog tables (shared by Apache Spark's sessions) and the comments Spark keeps on them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_pg
import duckdb
import pytest

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.spark import SparkConnector
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import CancelScope, QueryCancelled
from tests.oracle import assert_same_result

from .conftest import pg_execute
from .dataset import CUSTOMERS, ORDERS
from .harness import load_spark_views, spark_sql
from .oracle_db import assert_answers_as_oracle, oracle_of
from .test_spark import BIG, QUERIES, REGIONS

pytestmark = [
    pytest.mark.spark_jvm,
    pytest.mark.postgresql,
    pytest.mark.skipif(os.environ.get("FLIGHTMESH_SPARK_JVM") != "1",
                       reason="Apache Spark's JVM server: slow, opt-in (make test-spark-jvm, FLIGHTMESH_SPARK_JVM=1)"),
]

PYSPARK = "4.3.0"
REPO = Path(__file__).resolve().parents[2]
HOME = REPO / "build" / "spark-jvm"
STARTUP_SECONDS = 240      # the JVM listens after 27-41 s here; a cold page cache takes longer

_MESH = """
mesh: {name: spark_jvm_mesh}
products:
  shop:
    engine: {kind: spark, uri: "%(spark)s", pool_size: 1}
    tables:
      orders: {source: global_temp.jvm_orders}
      big: {source: global_temp.jvm_big}
      numbers: {source: global_temp.jvm_numbers}
    access: {read: [analyst, clerk]}
    policies:
      row_filters:
        - {table: orders, where: "status <> 'returned'", for: [clerk]}
      masks:
        - {table: orders, column: amount, with: "CASE WHEN amount > 50 THEN 50 ELSE amount END", except: [analyst]}
  crm:
    engine: {kind: postgresql, uri: "%(pg)s", allow_privileged: true}
    tables: {customers: {source: spark_jvm_test.customers}}
    access: {read: [analyst, clerk]}
  ref:
    engine: {kind: duckdb, path: ref.duckdb}
    tables: {regions: {}}
    access: {read: [analyst]}
users:
  ann: {password: "not-a-secret", roles: [analyst]}
  cid: {password: "not-a-secret", roles: [clerk]}
"""
# 4e10 pairs compared in a nested loop: minutes of work on two cores, stopped after a second.
SLOW = "SELECT count(*) AS n FROM shop.numbers a CROSS JOIN shop.numbers b WHERE a.id <> b.id"


@dataclass(frozen=True)
class SparkServer:
    uri: str                  # sc://127.0.0.1:port
    ui: str                   # http://127.0.0.1:port, Spark's web UI and REST API
    started_seconds: float    # from spark-submit to a first answer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pyspark_home() -> Path:
    """The pyspark package of ``build/spark-jvm/venv``, installed there on first use."""
    venv = HOME / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        partial = HOME / "venv.partial"
        shutil.rmtree(partial, ignore_errors=True)
        HOME.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(partial)], check=True, timeout=300)
        subprocess.run([str(partial / "bin" / "python"), "-m", "pip", "install", "--quiet", f"pyspark=={PYSPARK}"],
                       check=True, timeout=1800)
        partial.rename(venv)   # the scripts' shebangs name venv.partial; only python itself is run
    found = subprocess.run([str(python), "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
                           check=True, capture_output=True, text=True, timeout=120)
    return Path(found.stdout.strip())


@pytest.fixture(scope="module")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkServer]:
    if shutil.which("java") is None:
        pytest.fail("Apache Spark's server needs Java 17 (java on PATH)")
    home = _pyspark_home()
    work = tmp_path_factory.mktemp("spark_jvm")
    port, ui_port = _free_port(), _free_port()
    command = [
        str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]", "--driver-memory", "1g",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", f"spark.ui.port={ui_port}", "--conf", "spark.ui.host=127.0.0.1",
        "--conf", "spark.sql.session.timeZone=America/New_York",   # the connector must set UTC itself
        "--conf", f"spark.sql.warehouse.dir={work / 'warehouse'}",
        "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={work}",
    ]
    environment = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
                   "SPARK_LOG_DIR": str(work), "PYSPARK_PYTHON": str(HOME / "venv" / "bin" / "python")}
    log = (work / "server.log").open("wb")
    started = time.monotonic()
    # A session of its own: the JVM and anything spark-submit starts are stopped together.
    process = subprocess.Popen(command, cwd=work, env=environment, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        uri = f"sc://127.0.0.1:{port}"
        _wait_until_answering(uri, process, work / "server.log")
        server = SparkServer(uri, f"http://127.0.0.1:{ui_port}", time.monotonic() - started)
        print(f"\nApache Spark {PYSPARK} Spark Connect server answering after {server.started_seconds:.1f} s")
        yield server
    finally:
        _stop(process)
        log.close()


def _wait_until_answering(uri: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import adbc_driver_spark.dbapi as spark_dbapi

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Spark Connect server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with spark_dbapi.connect(uri) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT 1 AS ready")
                cursor.fetchall()
                return
        except Exception:   # not listening yet
            time.sleep(1)
    pytest.fail(f"the Spark Connect server did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.fixture(scope="module")
def jvm_mesh(spark_server: SparkServer, postgres_database: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshRuntime, duckdb.DuckDBPyConnection]]:
    import adbc_driver_spark.dbapi as spark_dbapi

    folder = tmp_path_factory.mktemp("spark_jvm_mesh")
    load_spark_views(spark_server.uri, folder / "views", {"jvm_orders": ORDERS, "jvm_big": BIG})
    with spark_dbapi.connect(spark_server.uri) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE OR REPLACE GLOBAL TEMPORARY VIEW jvm_numbers AS SELECT id FROM range(200000)")
        cursor.fetchall()
    pg_execute(postgres_database, "DROP SCHEMA IF EXISTS spark_jvm_test CASCADE", "CREATE SCHEMA spark_jvm_test",
               "CREATE TABLE spark_jvm_test.customers (id INTEGER NOT NULL, name VARCHAR(40), region VARCHAR(10), "
               "score DOUBLE PRECISION)")
    with adbc_pg.connect(postgres_database, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.adbc_ingest("customers", CUSTOMERS, mode="append", db_schema_name="spark_jvm_test")
    with duckdb.connect(str(folder / "ref.duckdb")) as ref:
        ref.register("incoming", REGIONS)
        ref.execute("CREATE TABLE regions AS SELECT * FROM incoming")
    descriptor = folder / "mesh.yaml"
    descriptor.write_text(_MESH % {"spark": spark_server.uri, "pg": postgres_database})
    runtime = MeshRuntime.open(descriptor)
    oracle = oracle_of({"shop.orders": ORDERS, "shop.big": BIG, "crm.customers": CUSTOMERS, "ref.regions": REGIONS})
    try:
        yield runtime, oracle
    finally:
        runtime.close()
        oracle.close()


@pytest.mark.parametrize("name", list(QUERIES))
def test_federated_query_equals_the_oracle(name: str, jvm_mesh: tuple[MeshRuntime, Any]) -> None:
    runtime, oracle = jvm_mesh
    sql = QUERIES[name]
    assert_answers_as_oracle(runtime, oracle, sql)


def test_policies_hold_on_the_spark_product(jvm_mesh: tuple[MeshRuntime, Any]) -> None:
    runtime, oracle = jvm_mesh
    clerk = runtime.principal_for("cid")
    assert clerk is not None
    sql = "SELECT o.id, o.amount, c.name FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id"
    by_hand = ("SELECT o.id, CASE WHEN o.amount > 50 THEN 50 ELSE o.amount END AS amount, c.name "
               "FROM shop.orders o JOIN crm.customers c ON c.id = o.customer_id WHERE o.status <> 'returned'")
    assert_same_result(runtime.query(sql, clerk).read_all(), oracle.sql(by_hand).to_arrow_table(), ordered=False)


def test_sessions_run_in_utc(spark_server: SparkServer) -> None:
    """The server's default zone is New York; the connector sets its sessions to UTC (without that it
    would refuse the endpoint), so a timestamp literal means the same instant as in the mesh."""
    connector = SparkConnector("utc", spark_server.uri, pool_size=1)
    try:
        sql = "SELECT TIMESTAMP '2024-02-29 12:00:00' AS at, current_timezone() AS zone"
        table = connector.execute(FragmentQuery(sql), CancelScope()).read_all()
    finally:
        connector.close()
    assert table.column("zone").to_pylist() == ["UTC"]
    assert table.column("at")[0].as_py().hour == 12


# Spark's REST API on this machine only: no proxy; its first answer loads its web stack (slow).
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _jobs(ui: str) -> list[dict[str, Any]]:
    """Every job of the server's one application, with its ``status`` (RUNNING, SUCCEEDED, FAILED)."""
    with _LOCAL.open(f"{ui}/api/v1/applications", timeout=120) as response:
        (application,) = json.load(response)
    with _LOCAL.open(f"{ui}/api/v1/applications/{application['id']}/jobs", timeout=120) as response:
        jobs: list[dict[str, Any]] = json.load(response)
        return jobs


def test_cancelled_query_stops_on_the_cluster(jvm_mesh: tuple[MeshRuntime, Any], spark_server: SparkServer) -> None:
    runtime, _ = jvm_mesh
    principal = runtime.principal_for("ann")
    assert principal is not None
    plan = runtime.bind(runtime.prepare(SLOW, principal), principal)
    (fragment,) = plan.fragments
    assert fragment.engine == "spark" and plan.residual is None   # the whole join is the cluster's work
    before = {job["jobId"] for job in _jobs(spark_server.ui)}
    scope = CancelScope()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            runtime.query(SLOW, principal, cancel=scope).read_all()
        except BaseException as error:
            failures.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    # cancel once the job runs on the cluster, not before it got there
    deadline = time.monotonic() + 120
    while not [j for j in _jobs(spark_server.ui) if j["jobId"] not in before and j["status"] == "RUNNING"]:
        assert time.monotonic() < deadline, "the slow query never started a job"
        time.sleep(0.5)
    scope.cancel()
    worker.join(120)
    assert not worker.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], QueryCancelled), failures
    # the job is stopped on the cluster, not only our reading of it
    deadline = time.monotonic() + 120
    while True:
        ours = [job for job in _jobs(spark_server.ui) if job["jobId"] not in before]
        if ours and all(job["status"] != "RUNNING" for job in ours):
            break
        assert time.monotonic() < deadline, [(job["jobId"], job["status"]) for job in ours]
        time.sleep(0.5)
    statuses = [(job["jobId"], job["status"], job.get("numKilledTasks"), job.get("numCompletedTasks")) for job in ours]
    assert any(job["status"] == "FAILED" for job in ours), statuses   # Spark reports a killed job as FAILED
    # the product's one pooled session serves again
    table = runtime.query("SELECT count(*) AS n FROM shop.orders", principal).read_all()
    assert table.column("n").to_pylist() == [ORDERS.num_rows]


def test_introspect_reads_catalog_tables_and_comments(spark_server: SparkServer, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Apache Spark's catalog tables are shared by its sessions (Sail's are not): introspected with
    their ``source`` and the comments Spark keeps, never the table's location."""
    import yaml

    from flightmesh.server.cli import main

    statements = ("DROP TABLE IF EXISTS default.jvm_notes",
                  "CREATE TABLE default.jvm_notes (id INT COMMENT 'the order it is about', body STRING) "
                  f"USING parquet LOCATION '{tmp_path}/notes' COMMENT 'notes on orders'",
                  "INSERT INTO default.jvm_notes VALUES (1, 'late'), (2, 'gift')")
    spark_sql(spark_server.uri, *statements)
    target = tmp_path / "products" / "notes.yaml"
    assert main(["introspect", "--kind", "spark", "--uri", spark_server.uri, "--product", "notes",
                 "--tables", "jvm_notes", "-o", str(target)]) == 0, capsys.readouterr().err
    text = target.read_text()
    document = yaml.safe_load(text)
    assert document["tables"]["jvm_notes"]["source"] == "default.jvm_notes"
    assert document["tables"]["jvm_notes"]["description"] == "notes on orders"
    assert document["columns"]["jvm_notes"]["id"] == {"description": "the order it is about"}
    assert str(tmp_path / "notes") not in text


def test_statistics_are_what_spark_keeps(spark_server: SparkServer, tmp_path: Path) -> None:
    """After ``ANALYZE TABLE ... FOR ALL COLUMNS`` the connector reads Spark's row count, NULL
    fractions, bounds and distinct counts; the oracle is DuckDB over the same rows."""
    import pyarrow.parquet as pq

    pq.write_table(ORDERS, tmp_path / "orders.parquet")
    statements = ("DROP TABLE IF EXISTS default.jvm_stats",
                  f"CREATE TABLE default.jvm_stats USING parquet AS SELECT * FROM parquet.`{tmp_path}/orders.parquet`",
                  "ANALYZE TABLE default.jvm_stats COMPUTE STATISTICS FOR ALL COLUMNS")
    spark_sql(spark_server.uri, *statements)
    connector = SparkConnector("stats", spark_server.uri, pool_size=1)
    try:
        schema = connector.describe("default.jvm_stats")
        statistics = connector.table_statistics("default.jvm_stats", schema)
        assert connector.estimate_rows("default.jvm_stats") == ORDERS.num_rows
    finally:
        connector.close()
    oracle = duckdb.connect()
    oracle.register("o", ORDERS)
    assert statistics.rows == oracle.execute("SELECT count(*) FROM o").fetchall()[0][0]
    for name in ("id", "customer_id", "qty", "ordered", "amount"):
        column = statistics.column(name)
        assert column is not None, name
        distinct, nulls, low, high = oracle.execute(
            f"SELECT count(DISTINCT {name}), count(*) FILTER (WHERE {name} IS NULL) / count(*), "
            f"min({name}), max({name}) FROM o").fetchall()[0]
        assert column.null_fraction == pytest.approx(nulls), name
        # Spark counts distinct values with HyperLogLog++ (5 % relative error by default)
        assert column.distinct is not None and abs(column.distinct - distinct) <= max(2, 0.1 * distinct), name
        if name != "amount":
            assert (column.min, column.max) == (low, high), name
        else:
            assert (column.min, column.max) == (float(low), float(high))
