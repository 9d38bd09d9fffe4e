"""Tracing shared by every process: one provider, W3C trace context everywhere.

Context travels in gRPC metadata through the interceptors below and in Kafka
headers through `inject_headers` and `extract_context`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)

from services.common.settings import get_settings

EXPORTERS = ("none", "console")

_configured = False


def configure_tracing(service_name: str) -> None:
    """Install this process's tracer provider and the W3C propagator.

    The exporter comes from `settings.otel_exporter`: "none" keeps spans in
    process (context still propagates), "console" prints them. Only the first
    call installs a provider; OpenTelemetry allows one per process.
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
    if exporter == "console":
        # Exported as each span ends: a process stopped by a signal keeps none
        # in a buffer, and the console is for local runs, not for volume.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


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
