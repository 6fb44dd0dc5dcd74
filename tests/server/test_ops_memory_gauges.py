"""The memory gauges of /metrics, parsed with prometheus_client's parser: the plan cache's entries
move with a new statement and stop at plan_cache_size, the idle merge instances rise after a
cross-product query and fall to zero after merge_idle_seconds, and the process's resident memory
is there. They tell a cache that fills once from a leak (benchmarks/load.py)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server.conftest import adbc_connect
from tests.server.support import Mesh

PLAN_CACHE_SIZE = 3
CROSS = ("SELECT c.country, count(*) AS n FROM sales.orders o JOIN crm.customers c "
         "ON o.customer_id = c.customer_id GROUP BY c.country")


@pytest.fixture(scope="module")
def gauged(mesh: Mesh) -> Iterator[FlightMeshServer]:
    descriptor = mesh.descriptor.with_name("memory-gauges.yaml")  # beside the data: the same relative paths
    descriptor.write_text(mesh.descriptor.read_text() + f"settings:\n  plan_cache_size: {PLAN_CACHE_SIZE}\n"
                          "  merge_idle_seconds: 2\n")
    with MeshRuntime.open(descriptor) as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0", http_port=0) as server:
        yield server


def _gauge(server: FlightMeshServer, name: str) -> float:
    assert server.http is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http.port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = [sample.value for family in text_string_to_metric_families(text) for sample in family.samples
              if sample.name == name]
    assert len(values) == 1, name
    return float(values[0])


def _query(server: FlightMeshServer, sql: str) -> list[tuple[Any, ...]]:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def test_the_plan_cache_gauge_moves_with_new_statements_and_stops_at_its_size(gauged: FlightMeshServer) -> None:
    start = _gauge(gauged, "flightmesh_plan_cache_entries")
    _query(gauged, "SELECT 101 AS a FROM sales.orders LIMIT 1")
    assert _gauge(gauged, "flightmesh_plan_cache_entries") == min(PLAN_CACHE_SIZE, start + 1)
    for value in range(PLAN_CACHE_SIZE + 2):
        _query(gauged, f"SELECT {value} AS a FROM sales.orders LIMIT 1")
    assert _gauge(gauged, "flightmesh_plan_cache_entries") == PLAN_CACHE_SIZE


def test_idle_merge_instances_rise_after_a_merge_and_are_closed_after_merge_idle_seconds(
        gauged: FlightMeshServer) -> None:
    assert len(_query(gauged, CROSS)) > 1
    assert _gauge(gauged, "flightmesh_merge_idle_instances") >= 1
    deadline = time.monotonic() + 30
    while _gauge(gauged, "flightmesh_merge_idle_instances") > 0:
        assert time.monotonic() < deadline, "the idle merge instance was never closed"
        time.sleep(0.1)


def test_the_process_memory_is_exported(gauged: FlightMeshServer) -> None:
    assert _gauge(gauged, "process_resident_memory_bytes") > 10_000_000
