"""Tracing shared by every process: one provider, W3C trace context everywhere.

Context travels in gRPC metadata through the interceptors below and in Kafka
headers through `inject_headers`, `kafka_headers` and `extract_context`.
`configure_tracing` also turns on the spans of Redis and aiokafka; each
service hands its SQLAlchemy engine to `trace_engine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast
from urllib.parse import parse_qsl, urlencode

import grpc
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.instrumentation.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
)
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.settings import get_settings

EXPORTERS = ("none", "console", "otlp")

# Query parameters whose values may name a person (a SCIM filter compares
# userName, emails, displayName); spans keep the parameter, not the value.
_PERSONAL_QUERY_PARAMETERS = frozenset({"filter"})

_configured = False


class _QueryRedaction(SpanProcessor):
    """Drop the values of personal query parameters from HTTP server spans."""

    def on_start(
        self, span: Span, parent_context: otel_context.Context | None = None
    ) -> None:
        query = (span.attributes or {}).get("url.query")
        if not isinstance(query, str):
            return
        pairs = parse_qsl(query, keep_blank_values=True)
        span.set_attribute(
            "url.query",
            urlencode(
                [
                    (key, "REDACTED" if key in _PERSONAL_QUERY_PARAMETERS else value)
                    for key, value in pairs
                ]
            ),
        )


def configure_tracing(service_name: str) -> None:
    """Install this process's tracer provider and the W3C propagator.

    The exporter comes from `settings.otel_exporter`: "none" keeps spans in
    process (context still propagates), "console" prints them, "otlp" sends
    them in batches to `OTEL_EXPORTER_OTLP_ENDPOINT` (the OpenTelemetry
    variables configure it). Only the first call installs a provider;
    OpenTelemetry allows one per process.
    """
    global _configured

    exporter = get_settings().otel_exporter
    if exporter not in EXPORTERS:
        raise ValueError(
            f"otel_exporter must be one of {', '.join(EXPORTERS)}, not {exporter!r}"
        )

    # Propagation does not depend on the exporter: always W3C tracecontext.
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    if _configured:
        return

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(_QueryRedaction())
    if exporter == "console":
        # Exported as each span ends: a process stopped by a signal keeps none
        # in a buffer, and the console is for local runs, not for volume.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)

    # Redis commands are recorded as "COMMAND ? ?": never a key's value.
    RedisInstrumentor().instrument()
    AIOKafkaInstrumentor().instrument()
    _configured = True


def add_span_processor(processor: SpanProcessor) -> None:
    """Send this process's spans to `processor` too (tests collect them)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError("configure_tracing() installs the provider first")
    provider.add_span_processor(processor)


def shutdown_tracing() -> None:
    """Export the spans still buffered; call once, as the process stops."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def trace_engine(engine: AsyncEngine) -> None:
    """Give each statement `engine` runs a client span (SQL text, no values)."""
    connections = metrics.get_meter(__name__).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(  # type: ignore[no-untyped-call]
        trace.get_tracer("opentelemetry.instrumentation.sqlalchemy"),
        engine.sync_engine,
        connections,
    )


def grpc_server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """Return the interceptors that continue a caller's trace in a gRPC server."""
    # The gRPC instrumentation's functions carry no annotations.
    interceptor = aio_server_interceptor()  # type: ignore[no-untyped-call]
    return [cast(grpc.aio.ServerInterceptor, interceptor)]


def grpc_client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Return the interceptors that put the current trace in gRPC metadata."""
    interceptors = aio_client_interceptors()  # type: ignore[no-untyped-call]
    return cast(list[grpc.aio.ClientInterceptor], interceptors)


def inject_headers() -> dict[str, str]:
    """Return headers carrying the current trace context (e.g. for Kafka)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str]) -> otel_context.Context:
    """Return the trace context that `inject_headers` put in `headers`."""
    return propagate.extract(dict(headers))


def kafka_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Return `headers` for a Kafka record sent now, with the current trace.

    Trace fields already in `headers` (stored when an event was written) give
    way to the current context, which the caller starts from them; the
    aiokafka instrumentation adds it itself, so it is added here only when
    that instrumentation is off. Each field appears once.
    """
    fields = propagate.get_global_textmap().fields
    carrier = {name: value for name, value in headers.items() if name not in fields}
    if not AIOKafkaInstrumentor().is_instrumented_by_opentelemetry:
        propagate.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()]
