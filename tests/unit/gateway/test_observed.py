"""A request's span and Prometheus series say which route, resource and org."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from gateway_fakes import ORG_ID, SCIM, TOKEN, FakeIdentity, user_body
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from gateway.context import SCIM_PATH
from services.common.telemetry import add_span_processor, configure_tracing


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The spans this process ends, collected in memory."""
    configure_tracing("gateway-test")
    collected = InMemorySpanExporter()
    add_span_processor(SimpleSpanProcessor(collected))
    yield collected
    collected.shutdown()


def _server_span(exporter: InMemorySpanExporter, path: str) -> dict[str, object]:
    [span] = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.SERVER and (s.attributes or {}).get("url.path") == path
    ]
    return dict(span.attributes or {})


async def test_span_names_the_scim_resource_operation_and_org(
    client: httpx.AsyncClient,
    fake_identity: FakeIdentity,
    exporter: InMemorySpanExporter,
) -> None:
    exporter.clear()
    created = await client.post(f"{SCIM}/Users", json=user_body("ada@example.test"))
    user_id = created.json()["id"]
    exporter.clear()

    await client.get(f"{SCIM}/Users/{user_id}")

    attributes = _server_span(exporter, f"{SCIM_PATH}/Users/{user_id}")
    assert attributes["scim.resource_type"] == "User"
    assert attributes["scim.resource_id"] == user_id
    assert attributes["scim.operation"] == "get"
    assert attributes["rivane.org_id"] == ORG_ID
    assert TOKEN not in repr(attributes)


async def test_span_keeps_no_filter_value(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()

    await client.get(f"{SCIM}/Users", params={"filter": 'userName eq "ada@x.test"'})

    attributes = _server_span(exporter, f"{SCIM_PATH}/Users")
    assert attributes["url.query"] == "filter=REDACTED"
    assert attributes["scim.operation"] == "list"


async def test_requests_are_counted_per_route_org_and_status(
    client: httpx.AsyncClient,
) -> None:
    labels = {
        "method": "GET",
        "route": f"{SCIM_PATH}/Users/{{user_id}}",
        "org": ORG_ID,
        "status": "404",
    }
    before = REGISTRY.get_sample_value("rivane_gateway_requests_total", labels) or 0

    await client.get(f"{SCIM}/Users/00000000-0000-0000-0000-000000000000")

    after = REGISTRY.get_sample_value("rivane_gateway_requests_total", labels)
    assert after == before + 1
