"""One SCIM deactivation is one trace, from the gateway to the revocation consumer.

The gateway and the identity service run in this process against a database
of their own, with every span collected in memory; the event is read back
from the real Kafka and handed to the revocation service's consumer code.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import cast

import asyncpg
import httpx
import pytest
from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from sqlalchemy.engine import make_url

from gateway.app import create_app
from services.common.settings import StackSettings, get_settings
from services.common.telemetry import add_span_processor, configure_tracing
from services.group_mapping.app import GroupMappingApp
from services.identity.app import IdentityApp
from services.session_revocation.consumer import DeprovisionConsumer
from services.session_revocation.revocations import Outcome, RevocationNotice, Source
from tests.integration.kafka_reader import Published, read_events, take_mark
from tests.integration.stack import free_port, integration_database_url, reset_database

TOPIC = "scim.user_deprovisioned"
_DATABASE = "rivane_trace_test"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends from now on."""
    configure_tracing("trace-test")
    collected = InMemorySpanExporter()
    add_span_processor(SimpleSpanProcessor(collected))
    yield collected
    collected.shutdown()


async def _fresh_database() -> str:
    url = make_url(integration_database_url())
    server = url.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", _DATABASE
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{_DATABASE}"')
    finally:
        await connection.close()
    database_url = url.set(database=_DATABASE).render_as_string(hide_password=False)
    await asyncio.to_thread(reset_database, database_url)
    return database_url


@dataclass
class Running:
    """The in-process gateway's client and its admin credential."""

    client: httpx.AsyncClient
    admin_token: str


@pytest.fixture(scope="module")
async def running(exporter: InMemorySpanExporter) -> AsyncIterator[Running]:
    """The identity service and the gateway, in this process, on free ports."""
    admin_token = secrets.token_urlsafe(24)
    settings = StackSettings(
        database_url=await _fresh_database(),
        kafka_bootstrap=get_settings().kafka_bootstrap,
        identity_addr=f"127.0.0.1:{free_port()}",
        group_mapping_addr=f"127.0.0.1:{free_port()}",
        # No revocation service listens: the fast path fails, the event stays.
        revocation_addr=f"127.0.0.1:{free_port()}",
        identity_metrics_port=0,
        admin_token=admin_token,
    )
    identity = IdentityApp(settings)
    await identity.start(settings.identity_addr)
    group_mapping = GroupMappingApp(settings, background=False)
    await group_mapping.start(settings.group_mapping_addr)
    app = create_app(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway"
            ) as client,
        ):
            yield Running(client=client, admin_token=admin_token)
    finally:
        await group_mapping.stop()
        await identity.stop()


class _RecordingApplier:
    """Stands in for the revoker: remembers the span each event is applied in."""

    def __init__(self) -> None:
        self.spans: list[trace.Span] = []

    async def apply(self, notice: RevocationNotice, *, source: Source) -> Outcome:
        self.spans.append(trace.get_current_span())
        # The consumer reads nothing from the outcome.
        return cast(Outcome, None)


def _record(event: Published) -> ConsumerRecord[bytes, bytes]:
    value = json.dumps(event.payload).encode()
    return ConsumerRecord(
        topic=event.topic,
        partition=event.partition,
        offset=event.offset,
        timestamp=int(time.time() * 1000),
        timestamp_type=0,
        key=(event.key or "").encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(event.key or ""),
        serialized_value_size=len(value),
        headers=[(name, raw.encode()) for name, raw in event.headers.items()],
    )


async def _deactivate_a_user(running: Running) -> tuple[str, str]:
    org = f"org-{uuid.uuid4().hex[:12]}"
    created = await running.client.post(
        f"/admin/orgs/{org}/tokens",
        headers={"Authorization": f"Bearer {running.admin_token}"},
    )
    created.raise_for_status()
    auth = {"Authorization": f"Bearer {created.json()['token']}"}
    user = await running.client.post(
        "/scim/v2/Users",
        headers=auth,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"{uuid.uuid4().hex[:8]}@example.test",
            "active": True,
        },
    )
    user.raise_for_status()
    user_id: str = user.json()["id"]

    patched = await running.client.patch(
        f"/scim/v2/Users/{user_id}",
        headers=auth,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
    )
    assert patched.status_code == 200, patched.text
    return user_id, created.json()["token"]


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        names.append(by_id[parent.span_id].name)
        parent = by_id[parent.span_id].parent
    return names


async def test_patch_deactivation_is_one_trace_through_every_hop(
    running: Running, exporter: InMemorySpanExporter
) -> None:
    mark = await take_mark(get_settings().kafka_bootstrap, [TOPIC])
    exporter.clear()

    user_id, token = await _deactivate_a_user(running)
    events = await read_events(
        mark, until=lambda seen: any(e.user_id == user_id for e in seen)
    )
    [event] = [e for e in events if e.user_id == user_id]
    applier = _RecordingApplier()
    consumer = DeprovisionConsumer(
        revoker=applier, bootstrap_servers="unused:9092", group_id="unused"
    )
    await consumer._apply(_record(event))

    spans = list(exporter.get_finished_spans())
    [server] = [
        s
        for s in spans
        if s.kind is SpanKind.SERVER
        and s.name.startswith("PATCH")
        and (s.attributes or {}).get("url.path") == f"/scim/v2/Users/{user_id}"
    ]
    trace_id = server.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}

    # One tree: every span but the gateway's has its parent in the trace.
    assert server.parent is None
    orphans = [s.name for s in in_trace if s is not server and s.parent is None]
    assert not orphans
    assert all(s.parent.span_id in by_id for s in in_trace if s.parent), [
        s.name for s in in_trace
    ]

    # gateway -> gRPC client -> identity's gRPC server -> SQL.
    [rpc_server] = [
        s
        for s in in_trace
        if s.kind is SpanKind.SERVER and s.name.endswith("IdentityService/PatchUser")
    ]
    rpc_client = by_id[rpc_server.parent.span_id]  # type: ignore[union-attr]
    assert rpc_client.kind is SpanKind.CLIENT
    assert server.name in _ancestors(rpc_client, by_id)
    sql = [s for s in in_trace if (s.attributes or {}).get("db.system") == "postgresql"]
    servers = {s.name for s in in_trace if s.kind is SpanKind.SERVER}
    assert all(servers & set(_ancestors(s, by_id)) for s in sql)
    assert any(rpc_server.name in _ancestors(s, by_id) for s in sql)

    # The relay's publish continues the trace the event was written in, and
    # the consumer continues the record's.
    [publish] = [s for s in in_trace if s.name == f"publish {TOPIC}"]
    assert publish.kind is SpanKind.PRODUCER
    assert rpc_server.name in _ancestors(publish, by_id)
    [consumed] = applier.spans
    consume = by_id[consumed.get_span_context().span_id]
    assert consume.kind is SpanKind.CONSUMER
    assert publish.name in [
        by_id[consume.parent.span_id].name,
        *_ancestors(consume, by_id),
    ]  # type: ignore[union-attr]

    # What an SRE filters on, and no credential anywhere.
    attributes = server.attributes or {}
    assert attributes["scim.resource_type"] == "User"
    assert attributes["scim.resource_id"] == user_id
    assert attributes["scim.operation"] == "patch"
    assert attributes["http.response.status_code"] == 200
    assert attributes.get("rivane.org_id")
    for span in in_trace:
        assert token not in repr(dict(span.attributes or {})), span.name
