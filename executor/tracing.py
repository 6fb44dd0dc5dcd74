"""OpenTelemetry spans of a query: ``flightmesh.plan``, one ``flightmesh.fragment`` per fragment, ``flightmesh.merge``.

Off unless an exporter is configured (settings ``otel_exporter``: ``console`` or ``otlp``, with
``otel_endpoint`` or the standard ``OTEL_EXPORTER_OTLP_*`` variables): then every function here
returns at its first line, so a server without tracing pays one ``is None`` test per span and
needs no OpenTelemetry package (the ``flightmesh[otel]`` extra brings it).

One query is one trace. Planning (GetFlightInfo) opens the plan span as the current span; when
the planned query is given its id (``QueryTracker.issue``) ``remember`` keeps the span's context
on the query's tag, and the fragments and the merge, which run later on other threads (DoGet,
the prefetch threads), open their spans as its children. Every span carries the query id
(``flightmesh.query_id``); a fragment's also its products, its engine and the rows it returned.
No SQL text and no value goes into a span: spans leave the server, and a policy may hide values
that a statement's literals name.

The provider is this module's own, not OpenTelemetry's global one, so an application embedding
flightmesh keeps its own tracing, and a test can install the SDK's in-memory exporter
(``use_provider``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flightmesh.mesh import CancelScope, DescriptorError, QueryCancelled
from flightmesh.planner import Fragment

from .query_context import QueryTag, tag_of

__all__ = ["configure", "end_span", "fragment_span", "plan_span", "remember", "start_span", "use_provider"]

_tracer: Any = None      # an opentelemetry Tracer while tracing is on; None: off
_provider: Any = None    # the provider we made (shut down when tracing is configured again)


def configure(exporter: str, endpoint: str = "") -> None:
    """Turn spans on with ``exporter`` ('console' or 'otlp'), or off ('')."""
    global _provider
    _shutdown()
    if not exporter:
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        raise DescriptorError([f"settings.otel_exporter: {exporter!r} needs the OpenTelemetry SDK "
                               "(pip install 'flightmesh[otel]')"]) from None
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise DescriptorError(["settings.otel_exporter: 'otlp' needs opentelemetry-exporter-otlp-proto-http "
                                   "(pip install 'flightmesh[otel]')"]) from None
        span_exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    # A batch processor: spans are exported from its own thread, never on a query's path.
    provider = TracerProvider(resource=Resource.create({"service.name": "flightmesh"}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    use_provider(provider)
    _provider = provider


def use_provider(provider: Any) -> None:
    """Spans from ``provider`` (an SDK ``TracerProvider``; None: off). Tests pass one with an in-memory exporter."""
    global _tracer
    _tracer = provider.get_tracer("flightmesh") if provider is not None else None


def _shutdown() -> None:
    global _provider
    use_provider(None)
    if _provider is not None:
        _provider.shutdown()  # exports what is still buffered
        _provider = None


@contextlib.contextmanager
def plan_span(user: str) -> Iterator[None]:
    """Around planning one statement: the query's root span, current while it plans."""
    if _tracer is None:
        yield
        return
    from opentelemetry import trace

    span = _tracer.start_span("flightmesh.plan", attributes={"flightmesh.user": user})
    # Not OpenTelemetry's own recording of the exception: its message may quote values.
    with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
        try:
            yield
        except BaseException as error:
            end_span(span, error)
            raise
    end_span(span)


def remember(found: QueryTag) -> None:
    """Keep the current (plan) span's context on the query's tag, and name the query on that span."""
    if _tracer is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    context = current.get_span_context()
    if not context.is_valid:
        return
    current.set_attribute("flightmesh.query_id", found.query_id)
    current.set_attribute("flightmesh.products", list(found.products))
    found.trace = context


def start_span(name: str, scope: CancelScope | None, **attributes: Any) -> Any:
    """A started span ``name`` of the query under ``scope`` (a child of its plan span), or None when off."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    found = tag_of(scope) if scope is not None else None
    parent = None
    if found is not None:
        attributes["flightmesh.query_id"] = found.query_id
        if found.trace is not None:
            parent = trace.set_span_in_context(trace.NonRecordingSpan(found.trace))
    return _tracer.start_span(name, context=parent, attributes=attributes)


def fragment_span(scope: CancelScope | None, fragment: Fragment) -> Any:
    """A started ``flightmesh.fragment`` span for ``fragment`` of the query under ``scope`` (None when off)."""
    if _tracer is None:
        return None
    return start_span("flightmesh.fragment", scope, **{
        "flightmesh.fragment": fragment.name, "flightmesh.products": list(fragment.products),
        "flightmesh.product": ",".join(fragment.products), "flightmesh.engine": fragment.engine})


def end_span(span: Any, error: BaseException | None = None, **attributes: Any) -> None:
    """End ``span`` (None: tracing is off), with ``attributes`` and, for a failure, its error type.

    A stream closed early (GeneratorExit: its reader was done with it) is not a failure; a
    cancellation is marked ``flightmesh.cancelled``, not an error of this span's own.
    """
    if span is None:
        return
    for key, value in attributes.items():
        span.set_attribute(key, value)
    if isinstance(error, QueryCancelled):
        span.set_attribute("flightmesh.cancelled", True)
    elif error is not None and not isinstance(error, GeneratorExit):
        from opentelemetry.trace import Status, StatusCode

        # The type only: an error's message may quote values, and spans leave the server.
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR))
    span.end()
