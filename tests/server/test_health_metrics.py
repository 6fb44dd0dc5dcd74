"""The HTTP side port read by real clients: ``/health`` over urllib without a login, ``/metrics``
parsed with ``prometheus_client.parser``; and the JSON line every query writes to the log."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_manager
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.query_log import JsonFormatter
from tests.server.conftest import adbc_connect
from tests.server.support import Mesh


@pytest.fixture(scope="module")
def watched(runtime: MeshRuntime) -> Iterator[FlightMeshServer]:
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0", http_port=0) as running:
        yield running


def _get(server: FlightMeshServer, path: str) -> tuple[int, bytes]:
    assert server.http is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http.port}{path}", timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _samples(server: FlightMeshServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = _get(server, "/metrics")
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _query(server: FlightMeshServer, sql: str) -> list[tuple[Any, ...]]:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


# -- /health -------------------------------------------------------------------------------------------


def test_health_needs_no_login_and_lists_each_product(watched: FlightMeshServer) -> None:
    status, body = _get(watched, "/health")
    assert status == 200
    health = json.loads(body)
    assert health["status"] == "serving" and health["mesh"] == "acme"
    # The published products, not the discovery schemas every mesh has; no reasons, no addresses.
    assert health["products"] == {name: {"reachable": True} for name in ("catalog", "crm", "sales", "telemetry")}


def test_the_side_port_is_off_unless_asked_for(runtime: MeshRuntime) -> None:
    assert runtime.settings.http_port == -1
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        assert server.http is None


def test_health_is_503_while_draining_and_new_queries_are_refused(runtime: MeshRuntime) -> None:
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0", http_port=0) as server:
        assert _query(server, "SELECT count(*) FROM sales.orders") == [(500,)]
        server.operations.lifecycle.start_draining()
        status, body = _get(server, "/health")
        assert status == 503 and json.loads(body)["status"] == "draining"
        with pytest.raises(adbc_driver_manager.Error, match="draining") as refused:
            _query(server, "SELECT count(*) FROM sales.orders")
        assert "UNAVAILABLE" in str(refused.value) or "Unavailable" in str(refused.value)
        samples = _samples(server)
        assert _value(samples, "flightmesh_queries_total", outcome="refused") >= 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _mesh_with_a_dead_engine(directory: Path, *, with_live_product: bool) -> Path:
    live = ("  local:\n    engine: {kind: parquet, path: data}\n    tables:\n      t: {source: t.parquet}\n"
            "    access: {read: [analyst]}\n") if with_live_product else ""
    if with_live_product:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (directory / "data").mkdir()
        pq.write_table(pa.table({"x": [1, 2, 3]}), directory / "data" / "t.parquet")
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: m}\nproducts:\n"
        f"  remote:\n    engine: {{kind: postgresql, uri: 'postgresql://postgres@127.0.0.1:{_closed_port()}/x'}}\n"
        "    tables:\n      t: {}\n    access: {read: [analyst]}\n"
        f"{live}users:\n  ana: {{password: pw, roles: [analyst]}}\n")
    return descriptor


@pytest.mark.parametrize("with_live_product", [True, False])
def test_health_reports_an_unreachable_engine(tmp_path: Path, with_live_product: bool) -> None:
    descriptor = _mesh_with_a_dead_engine(tmp_path, with_live_product=with_live_product)
    with MeshRuntime.open(descriptor, allow_unavailable=True) as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0", http_port=0) as server:
        status, body = _get(server, "/health")
        health = json.loads(body)
        assert health["products"]["remote"] == {"reachable": False}
        assert str(tmp_path) not in body.decode() and "127.0.0.1" not in body.decode()
        if with_live_product:  # the rest of the mesh serves
            assert (status, health["status"], health["products"]["local"]) == (200, "serving", {"reachable": True})
        else:  # nothing can be served
            assert (status, health["status"]) == (503, "unavailable")


# -- /metrics -----------------------------------------------------------------------------------------


def test_metrics_move_after_a_query(watched: FlightMeshServer) -> None:
    before = _samples(watched)
    sql = "SELECT o.order_id, c.country FROM sales.orders o JOIN crm.customers c USING (customer_id)"
    assert len(_query(watched, sql)) == 500
    after = _samples(watched)
    assert _value(after, "flightmesh_queries_total", outcome="ok") == \
        _value(before, "flightmesh_queries_total", outcome="ok") + 1
    assert _value(after, "flightmesh_query_duration_seconds_count", outcome="ok") == \
        _value(before, "flightmesh_query_duration_seconds_count", outcome="ok") + 1
    assert _value(after, "flightmesh_rows_streamed_total") == _value(before, "flightmesh_rows_streamed_total") + 500
    assert _value(after, "flightmesh_bytes_streamed_total") > _value(before, "flightmesh_bytes_streamed_total")
    for product in ("sales", "crm"):  # one fragment in each engine
        assert _value(after, "flightmesh_fragment_duration_seconds_count", product=product) == \
            _value(before, "flightmesh_fragment_duration_seconds_count", product=product) + 1
    assert _value(after, "flightmesh_active_sessions") >= 1
    assert _value(after, "flightmesh_queries_running") == 0


def test_a_refused_query_is_counted_as_refused(watched: FlightMeshServer) -> None:
    before = _samples(watched)
    with pytest.raises(adbc_driver_manager.Error):
        _query(watched, "SELECT no_such_column FROM sales.orders")
    after = _samples(watched)
    assert _value(after, "flightmesh_queries_total", outcome="refused") > \
        _value(before, "flightmesh_queries_total", outcome="refused")
    assert _value(after, "flightmesh_queries_total", outcome="ok") == \
        _value(before, "flightmesh_queries_total", outcome="ok")


def test_a_query_running_is_seen_by_the_gauge(watched: FlightMeshServer) -> None:
    with adbc_connect(watched) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM telemetry.events")  # 3M rows: still streaming after one batch
        reader = cursor.fetch_record_batch()
        reader.read_next_batch()
        assert _value(_samples(watched), "flightmesh_queries_running") == 1
        reader.read_all()
    assert _value(_samples(watched), "flightmesh_queries_running") == 0


# -- the query log --------------------------------------------------------------------------------------


def test_every_query_writes_one_json_line(watched: FlightMeshServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="flightmesh.query"):
        _query(watched, "SELECT count(*) AS n FROM crm.customers")
        with pytest.raises(adbc_driver_manager.Error):
            _query(watched, "SELEC 1")
    lines = [json.loads(JsonFormatter().format(record)) for record in caplog.records
             if record.name == "flightmesh.query"]
    assert [line["outcome"] for line in lines] == ["ok", "refused"]
    ok, refused = lines
    assert ok["user"] == "alice" and ok["rows"] == 1 and ok["products"] == ["crm"] and ok["query_id"]
    assert ok["sql"] == "SELECT count(*) AS n FROM crm.customers" and ok["error"] is None
    assert ok["elapsed_ms"] >= 0 and ok["started"].endswith("Z") and ok["level"] == "INFO"
    assert refused["sql"] == "SELEC 1" and refused["error"]
    assert refused["query_id"] and refused["query_id"] != ok["query_id"]  # refusals have ids too


def test_a_query_waiting_for_admission_is_seen_as_queued(mesh: Mesh) -> None:
    one_at_a_time = mesh.descriptor.with_name("one-at-a-time.yaml")  # the same data, beside it
    one_at_a_time.write_text(mesh.descriptor.read_text() + "settings:\n  max_running_queries: 1\n")
    with MeshRuntime.open(one_at_a_time) as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0", http_port=0) as server:
        with adbc_connect(server) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT * FROM telemetry.events")
            reader = cursor.fetch_record_batch()
            reader.read_next_batch()  # holds the only running slot
            waiting = threading.Thread(target=_query, args=(server, "SELECT count(*) FROM crm.customers"))
            waiting.start()
            deadline = time.monotonic() + 60
            while _value(_samples(server), "flightmesh_queries_queued") != 1:
                assert time.monotonic() < deadline, "the second query never showed as queued"
                time.sleep(0.05)
            assert _value(_samples(server), "flightmesh_queries_running") == 1
            reader.read_all()
        waiting.join(60)
        samples = _samples(server)
        assert _value(samples, "flightmesh_queries_queued") == 0
        assert _value(samples, "flightmesh_queries_total", outcome="ok") == 2


def test_log_level_decides_whether_query_lines_are_written(
        watched: FlightMeshServer, capsys: pytest.CaptureFixture[str]) -> None:
    from flightmesh.mesh import Settings
    from flightmesh.server.query_log import configure

    assert Settings.check("log_level", "LOUD") is not None and Settings.check("log_level", "warning") is None
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        configure("INFO")
        _query(watched, "SELECT 1 AS one")
        configure("WARNING")  # replaces its own handler: one line per record, not two
        _query(watched, "SELECT 2 AS two")
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    queries = [line["sql"] for line in lines if line.get("event") == "query"]
    assert queries == ["SELECT 1 AS one"]
