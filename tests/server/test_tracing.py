"""OpenTelemetry spans (issue 15): a cross-product query through a real server and ADBC is one trace
of one ``flightmesh.plan`` span, one ``flightmesh.fragment`` span per fragment (its product and
engine, the rows it returned) and one ``flightmesh.merge`` span, all with the query's id. The
SDK's in-memory exporter collects them; the fragments expected are the ones EXPLAIN lists, and the
rows those EXPLAIN ANALYZE counts. Off by default, and then nothing is recorded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flightmesh.executor import tracing
from flightmesh.mesh import DescriptorError, Settings, load_descriptor
from flightmesh.server.app import FlightMeshServer
from tests.server.conftest import adbc_connect
from tests.server.support import Mesh

CROSS = ("SELECT c.country, count(*) AS n, sum(o.amount) AS total FROM sales.orders o "
         "JOIN crm.customers c ON o.customer_id = c.customer_id GROUP BY c.country ORDER BY c.country")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()


def _rows(server: FlightMeshServer, sql: str) -> list[dict[str, Any]]:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table().to_pylist()


def _trace_of(finished: tuple[ReadableSpan, ...], query_id: str) -> list[ReadableSpan]:
    plan = [s for s in finished if s.name == "flightmesh.plan" and s.attributes.get("flightmesh.query_id") == query_id]
    assert len(plan) == 1, [s.name for s in finished]
    trace_id = plan[0].context.trace_id
    return [s for s in finished if s.context.trace_id == trace_id]


def test_a_cross_product_query_is_one_trace_of_plan_fragments_and_merge(
        server: FlightMeshServer, spans: InMemorySpanExporter) -> None:
    explained = [row for row in _rows(server, f"EXPLAIN {CROSS}") if row["kind"] == "fragment"]
    assert len(explained) == 2  # the two products' engines
    analyzed = {row["name"]: row["rows"] for row in _rows(server, f"EXPLAIN ANALYZE {CROSS}")
                if row["kind"] == "fragment"}
    spans.clear()

    answer = _rows(server, CROSS)
    assert len(answer) > 1
    history = _rows(server, "SELECT query_id, sql FROM flightmesh.query_history ORDER BY started_at DESC")
    query_id = next(row["query_id"] for row in history if row["sql"] == CROSS)

    trace = _trace_of(spans.get_finished_spans(), query_id)
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in trace:
        by_name.setdefault(span.name, []).append(span)
    assert sorted(by_name) == ["flightmesh.fragment", "flightmesh.merge", "flightmesh.plan"]
    (plan,), (merge,) = by_name["flightmesh.plan"], by_name["flightmesh.merge"]
    fragments = by_name["flightmesh.fragment"]
    assert sorted((s.attributes["flightmesh.product"], s.attributes["flightmesh.engine"]) for s in fragments) == \
        sorted((row["products"], row["engine"]) for row in explained)
    assert {s.attributes["flightmesh.fragment"]: s.attributes["flightmesh.rows"] for s in fragments} == analyzed
    assert plan.parent is None and plan.attributes["flightmesh.user"] == "alice"
    for span in [*fragments, merge]:
        assert span.attributes["flightmesh.query_id"] == query_id
        assert span.parent is not None and span.parent.span_id == plan.context.span_id
        assert span.status.is_ok
    assert sorted(plan.attributes["flightmesh.products"]) == ["crm", "sales"]
    # No statement text and no value leaves the server in a span.
    for span in trace:
        assert not any("SELECT" in str(value) for value in span.attributes.values())


def test_a_refused_query_ends_its_plan_span_with_the_error_type_only(
        server: FlightMeshServer, spans: InMemorySpanExporter) -> None:
    with pytest.raises(Exception, match="nowhere"):
        _rows(server, "SELECT 'secret-literal' FROM sales.nowhere")
    (plan,) = [s for s in spans.get_finished_spans() if s.name == "flightmesh.plan"]
    assert not plan.status.is_ok
    assert plan.attributes["error.type"]
    assert "secret-literal" not in str(plan.status.description) + str(dict(plan.attributes)) + str(plan.events)


def test_tracing_is_off_by_default(server: FlightMeshServer) -> None:
    assert Settings().otel_exporter == ""
    assert tracing._tracer is None  # every span function returns at its first line
    assert tracing.start_span("flightmesh.merge", None) is None
    assert len(_rows(server, CROSS)) > 1


def test_the_console_exporter_prints_the_spans() -> None:
    # In a process of its own: the console exporter writes to the sys.stdout it found at import.
    script = ("from flightmesh.executor import tracing\n"
              "tracing.configure('console')\n"
              "tracing.end_span(tracing.start_span('flightmesh.merge', None))\n"
              "tracing.configure('')\n")  # off again: the provider's shutdown exports what it buffered
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert '"name": "flightmesh.merge"' in done.stdout


def test_an_unknown_exporter_is_refused_with_the_descriptor(mesh: Mesh) -> None:
    descriptor = mesh.descriptor.with_name("tracing-zipkin.yaml")
    descriptor.write_text(mesh.descriptor.read_text() + "settings:\n  otel_exporter: zipkin\n")
    with pytest.raises(DescriptorError, match="otel_exporter"):
        load_descriptor(descriptor)
