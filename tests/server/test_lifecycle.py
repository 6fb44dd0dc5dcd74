"""The server's life as an operator sees it: SIGTERM with queries in flight on a real ``flightmesh
serve`` process (they finish, new ones are refused, exit 0), and a port already in use refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import adbc_driver_manager
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.lifecycle import PortInUse
from flightmesh.server.messages import pack, sql
from tests.server.support import EVENT_ROWS, PASSWORDS, Mesh, build_mesh

ROOT = Path(__file__).resolve().parents[2]
STREAMS = 3


@pytest.fixture(scope="module")
def draining_mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    mesh = build_mesh(tmp_path_factory.mktemp("lifecycle"))
    with mesh.descriptor.open("a") as descriptor:
        descriptor.write("settings:\n  drain_seconds: 120\n  http_port: 0\n")
    return mesh


def _serve(descriptor: Path, *options: str) -> tuple[subprocess.Popen[str], int, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "flightmesh.server.cli", "serve", str(descriptor), "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"})
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("flightmesh: serving"):
            port = int(line.split("on grpc://127.0.0.1:", 1)[1].split(";")[0])
            http_port = int(line.split("on http://127.0.0.1:", 1)[1].split(";")[0])
            return process, port, http_port
    process.kill()
    raise AssertionError(f"the server did not start: {process.communicate()}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _connect(port: int) -> Any:
    return dbapi.connect(f"grpc://127.0.0.1:{port}",
                         db_kwargs={"username": "alice", "password": PASSWORDS["alice"]}, autocommit=True)


def _health(http_port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _until(condition: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def test_sigterm_lets_running_queries_finish_refuses_new_ones_and_exits_0(
        draining_mesh: Mesh, processes: list[subprocess.Popen[str]]) -> None:
    process, port, http_port = _serve(draining_mesh.descriptor)
    processes.append(process)
    connections = [_connect(port) for _ in range(STREAMS)]
    readers, received = [], []
    try:
        for connection in connections:
            cursor = connection.cursor()
            cursor.execute("SELECT event_id FROM telemetry.events")  # 3M rows: longer than any buffer
            reader = cursor.fetch_record_batch()
            received.append(reader.read_next_batch().num_rows)  # the stream is open and in flight
            readers.append((cursor, reader))
        _until(lambda: _health(http_port)[1]["running_queries"] == STREAMS, "every stream running")

        process.send_signal(signal.SIGTERM)
        _until(lambda: _health(http_port)[0] == 503, "the health check saying draining")
        assert _health(http_port)[1]["status"] == "draining"
        with _connect(port) as late, late.cursor() as cursor, \
                pytest.raises(adbc_driver_manager.Error, match="draining"):
            cursor.execute("SELECT count(*) FROM sales.orders")
        assert process.poll() is None  # still serving the streams in flight

        for index, (cursor, reader) in enumerate(readers):
            received[index] += reader.read_all().num_rows
            cursor.close()
    finally:
        for connection in connections:
            connection.close()
    assert received == [EVENT_ROWS] * STREAMS  # every query in flight finished, whole
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "flightmesh: stopped" in out
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    outcomes = [line["outcome"] for line in lines if line.get("event") == "query"]
    assert outcomes.count("ok") == STREAMS and outcomes.count("refused") == 1
    assert any("draining" in line["message"] for line in lines)


def test_sigterm_cancels_what_outlasts_drain_seconds_and_exits_0(
        draining_mesh: Mesh, processes: list[subprocess.Popen[str]]) -> None:
    short = draining_mesh.descriptor.with_name("short-drain.yaml")  # the same data, another setting
    short.write_text(draining_mesh.descriptor.read_text().replace("drain_seconds: 120", "drain_seconds: 1"))
    process, port, http_port = _serve(short)
    processes.append(process)
    client = flight.connect(f"grpc://127.0.0.1:{port}")  # a raw Flight client: it can stop reading
    options = flight.FlightCallOptions(headers=[client.authenticate_basic_token("alice", PASSWORDS["alice"])])
    command = flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(
        query="SELECT event_id FROM telemetry.events")))
    info = client.get_flight_info(command, options)
    stream = client.do_get(info.endpoints[0].ticket, options)
    stream.read_chunk()
    _until(lambda: _health(http_port)[1]["running_queries"] == 1, "the stream running")
    process.send_signal(signal.SIGTERM)  # and this client never reads on
    out, err = process.communicate(timeout=60)
    client.close()
    assert process.returncode == 0, err
    assert "flightmesh: stopped" in out
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("they are cancelled" in line["message"] for line in lines)
    assert [line["outcome"] for line in lines if line.get("event") == "query"] == ["cancelled"]


# -- a port already in use -----------------------------------------------------------------------------


def test_a_second_server_on_a_used_port_is_refused_naming_the_port(runtime: MeshRuntime) -> None:
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0") as first:
        with pytest.raises(PortInUse, match=rf"port {first.port} on 127\.0\.0\.1 is already in use"):
            FlightMeshServer(runtime, f"grpc://127.0.0.1:{first.port}")
        with pytest.raises(PortInUse, match=rf"port {first.port} on 0\.0\.0\.0 is already in use"):
            FlightMeshServer(runtime, f"grpc://0.0.0.0:{first.port}")
        # The first one still serves, alone.
        with dbapi.connect(f"grpc://127.0.0.1:{first.port}", autocommit=True,
                           db_kwargs={"username": "alice", "password": PASSWORDS["alice"]}) as connection, \
                connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sales.orders")
            assert cursor.fetchall() == [(500,)]


def test_serve_on_a_port_another_program_listens_on_exits_1_naming_it(mesh: Mesh) -> None:
    with socket.socket() as other:  # not a gRPC server: a plain listener
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(mesh.descriptor), "--port", str(port)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1 and "serving" not in result.stdout
    assert f"flightmesh: port {port} on 127.0.0.1 is already in use" in result.stderr
