"""Trace context travels from the IdP's request into gRPC metadata."""

from __future__ import annotations

import httpx
from gateway_fakes import SCIM, FakeIdentity
from opentelemetry import trace

from services.common.telemetry import (
    configure_tracing,
    extract_context,
    inject_headers,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def test_incoming_trace_reaches_the_identity_service(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    configure_tracing("gateway-test")

    response = await client.get(f"{SCIM}/Users", headers={"traceparent": TRACEPARENT})

    assert response.status_code == 200
    for rpc in ("ResolveToken", "ListUsers"):
        traceparent = fake_identity.metadata[rpc]["traceparent"]
        assert traceparent.split("-")[1] == TRACE_ID


def test_headers_carry_the_current_trace_and_come_back() -> None:
    configure_tracing("gateway-test")
    tracer = trace.get_tracer("test")

    with tracer.start_as_current_span("publish scim.user_provisioned") as span:
        headers = inject_headers()
        trace_id = span.get_span_context().trace_id

    assert headers["traceparent"].split("-")[1] == trace.format_trace_id(trace_id)
    restored = trace.get_current_span(extract_context(headers)).get_span_context()
    assert restored.trace_id == trace_id


def test_no_headers_outside_a_span() -> None:
    configure_tracing("gateway-test")

    assert "traceparent" not in inject_headers()
