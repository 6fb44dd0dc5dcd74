"""The gRPC health checking protocol on settings.grpc_health_port, read by grpc's own health client
stub: SERVING while the server serves, NOT_SERVING once the drain starts (a Watch stream is told at
once), a used port refused naming it; and on a real ``flightmesh serve`` process, NOT_SERVING after
SIGTERM while a query in flight still streams to its end."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.lifecycle import PortInUse
from tests.server.support import EVENT_ROWS, PASSWORDS, Mesh

ROOT = Path(__file__).resolve().parents[2]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FLIGHT = "arrow.flight.protocol.FlightService"


def _descriptor(mesh: Mesh, name: str, port: int) -> Path:
    descriptor = mesh.descriptor.with_name(f"{name}.yaml")  # beside the data: the same relative paths
    descriptor.write_text(mesh.descriptor.read_text() + f"settings:\n  grpc_health_port: {port}\n"
                          "  drain_seconds: 120\n")
    return descriptor


@pytest.fixture
def served(mesh: Mesh) -> Iterator[FlightMeshServer]:
    with MeshRuntime.open(_descriptor(mesh, "grpc-health", 0)) as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        yield server


def _check(port: int, service: str = "") -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_serving_then_not_serving_once_the_drain_starts(served: FlightMeshServer) -> None:
    assert served.grpc_health is not None
    port = served.grpc_health.port
    assert _check(port) == SERVING and _check(port, FLIGHT) == SERVING
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == SERVING
        served.operations.lifecycle.start_draining()  # what SIGTERM does (lifecycle.serve_until_stopped)
        assert next(watch).status == NOT_SERVING
        watch.cancel()
    assert _check(port) == NOT_SERVING and _check(port, FLIGHT) == NOT_SERVING


def test_an_unknown_service_is_not_found(served: FlightMeshServer) -> None:
    assert served.grpc_health is not None
    with pytest.raises(grpc.RpcError) as raised:
        _check(served.grpc_health.port, "no.such.Service")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_off_by_default(runtime: MeshRuntime) -> None:
    with FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        assert server.grpc_health is None


def test_a_used_health_port_is_refused_naming_it(mesh: Mesh) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        with MeshRuntime.open(_descriptor(mesh, "grpc-health-taken", taken)) as runtime, \
                pytest.raises(PortInUse, match=rf"port {taken} on 127\.0\.0\.1 is already in use"):
            FlightMeshServer(runtime, "grpc://127.0.0.1:0")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sigterm_turns_a_real_server_not_serving_while_its_query_finishes(mesh: Mesh) -> None:
    health_port = _free_port()
    descriptor = _descriptor(mesh, "grpc-health-serve", health_port)
    process = subprocess.Popen([sys.executable, "-m", "flightmesh.server.cli", "serve", str(descriptor), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        port = next(int(line.split("on grpc://127.0.0.1:", 1)[1].split(";")[0].split(" ")[0])
                    for line in process.stdout if line.startswith("flightmesh: serving"))
        assert _check(health_port) == SERVING
        with dbapi.connect(f"grpc://127.0.0.1:{port}", autocommit=True,
                           db_kwargs={"username": "alice", "password": PASSWORDS["alice"]}) as connection, \
                connection.cursor() as cursor:
            cursor.execute("SELECT event_id FROM telemetry.events")  # 3M rows: longer than any buffer
            reader = cursor.fetch_record_batch()
            received = reader.read_next_batch().num_rows
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 60
            while _check(health_port) != NOT_SERVING:
                assert time.monotonic() < deadline, "never NOT_SERVING after SIGTERM"
                time.sleep(0.05)
            received += reader.read_all().num_rows
        assert received == EVENT_ROWS  # the query in flight finished, whole
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "flightmesh: stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # and its pipes closed
