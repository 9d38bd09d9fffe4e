"""Each change of a user puts one event on Kafka and one audit row in PostgreSQL.

One user goes through its whole life once per module: create, rename,
deactivate, the same deactivation again, a marker change, delete. The tests
then read what arrived on the provisioning topics and what was written to
`provisioning_audit` and `outbox_event`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.models import OutboxEvent, ProvisioningAudit
from tests.integration.conftest import OrgCredentials, new_org
from tests.integration.kafka_reader import Published, describe, read_events, take_mark
from tests.integration.stack import Stack

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
# Clocks of the test and the services are one machine's; allow for rounding.
CLOCK_SLACK = timedelta(seconds=1)

# (name, method, path suffix, body, publishes an event)
CHANGES: list[tuple[str, str, str, dict[str, Any] | None, bool]] = [
    ("create", "POST", "", None, True),
    (
        "rename",
        "PATCH",
        "/{uid}",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "replace", "path": "name.familyName", "value": "Byron"}
            ],
        },
        True,
    ),
    (
        "deactivate",
        "PATCH",
        "/{uid}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        True,
    ),
    (
        "deactivate again",
        "PATCH",
        "/{uid}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        False,
    ),
    (
        "marker",
        "PATCH",
        "/{uid}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Marker"}],
        },
        True,
    ),
    ("delete", "DELETE", "/{uid}", None, True),
]
EXPECTED = [
    ("scim.user_provisioned", "PROVISION"),
    ("scim.user_updated", "UPDATE"),
    ("scim.user_deprovisioned", "DEACTIVATE"),
    ("scim.user_updated", "UPDATE"),
    ("scim.user_deprovisioned", "DEPROVISION"),
]


@dataclass(frozen=True)
class Lifecycle:
    """What the module's user went through and what was published about it."""

    org: OrgCredentials
    user_id: str
    trace_id: str
    # Request ids of the changes that publish, in order.
    request_ids: list[str]
    repeat_request_id: str
    started: datetime
    finished: datetime
    events: list[Published]

    def explain(self) -> str:
        """Describe what arrived, for assertion messages."""
        return f"user {self.user_id}; events of the user:\n{describe(self.events)}"


def _user_body() -> dict[str, Any]:
    login = f"events.{secrets.token_hex(4)}@example.test"
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": login,
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"type": "work", "value": login, "primary": True}],
    }


async def _live_through(
    stack: Stack, org: OrgCredentials, *, trace_id: str
) -> tuple[str, list[str], str]:
    uid = ""
    request_ids: list[str] = []
    repeat_request_id = ""
    async with httpx.AsyncClient(
        base_url=stack.scim_url,
        headers={**org.auth, "Content-Type": "application/scim+json"},
        timeout=30,
    ) as client:
        for name, method, suffix, body, publishes in CHANGES:
            request_id = f"events-{name.replace(' ', '-')}-{uuid.uuid4().hex[:8]}"
            headers = {
                "X-Request-Id": request_id,
                "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            }
            response = await client.request(
                method,
                "/Users" + suffix.format(uid=uid),
                json=_user_body() if name == "create" else body,
                headers=headers,
            )
            assert response.status_code in (200, 201, 204), (
                f"{name}: {method} answered {response.status_code}: {response.text}"
            )
            if name == "create":
                uid = response.json()["id"]
            if publishes:
                request_ids.append(request_id)
            else:
                repeat_request_id = request_id
    return uid, request_ids, repeat_request_id


@pytest.fixture(scope="module")
async def lifecycle(stack: Stack, database: AsyncEngine) -> AsyncIterator[Lifecycle]:
    """Run the user's life once and collect the events published about it."""
    org = await new_org(stack, database)
    trace_id = secrets.token_hex(16)
    mark = await take_mark(stack.kafka_bootstrap)

    started = datetime.now(UTC)
    uid, request_ids, repeat_request_id = await _live_through(
        stack, org, trace_id=trace_id
    )
    finished = datetime.now(UTC)

    # The delete comes last, so once its event is here every earlier event of
    # the user is too: one relay publishes in commit order.
    arrived = await read_events(
        mark,
        until=lambda events: any(
            e.user_id == uid and e.payload.get("action") == "DEPROVISION"
            for e in events
        ),
    )
    mine = sorted(
        (e for e in arrived if e.user_id == uid),
        key=lambda e: int(e.payload.get("version", 0)),
    )
    yield Lifecycle(
        org=org,
        user_id=uid,
        trace_id=trace_id,
        request_ids=request_ids,
        repeat_request_id=repeat_request_id,
        started=started,
        finished=finished,
        events=mine,
    )


def test_each_change_publishes_exactly_one_event(lifecycle: Lifecycle) -> None:
    seen = [(e.topic, e.payload.get("action")) for e in lifecycle.events]
    assert seen == EXPECTED, lifecycle.explain()
    assert len({e.event_id for e in lifecycle.events}) == len(EXPECTED)
    versions = [int(e.payload.get("version", 0)) for e in lifecycle.events]
    assert versions == sorted(set(versions)), lifecycle.explain()


def test_patch_that_changes_nothing_publishes_nothing(lifecycle: Lifecycle) -> None:
    request_ids = [e.payload.get("request_id") for e in lifecycle.events]
    assert lifecycle.repeat_request_id not in request_ids, lifecycle.explain()
    # The marker change follows the repeat; the event right after the
    # deactivation must be the marker's, with nothing in between.
    deactivate, marker = lifecycle.request_ids[2], lifecycle.request_ids[3]
    assert deactivate in request_ids and marker in request_ids, lifecycle.explain()
    following = request_ids[request_ids.index(deactivate) + 1]
    assert following == marker, lifecycle.explain()


def test_events_are_keyed_by_user_and_name_org_and_user(
    lifecycle: Lifecycle,
) -> None:
    assert lifecycle.events, lifecycle.explain()
    for event in lifecycle.events:
        assert event.key == lifecycle.user_id, event.summary()
        assert event.payload["event_type"] == event.topic, event.payload
        assert event.payload["org_id"] == str(lifecycle.org.org_id), event.payload
        assert event.payload["user_id"] == lifecycle.user_id, event.payload
        assert uuid.UUID(event.payload["event_id"]), event.payload


def test_events_carry_change_and_arrival_times(lifecycle: Lifecycle) -> None:
    assert lifecycle.events, lifecycle.explain()
    earliest = lifecycle.started - CLOCK_SLACK
    latest = lifecycle.finished + CLOCK_SLACK
    for event in lifecycle.events:
        occurred = datetime.fromisoformat(event.payload["occurred_at"])
        received = datetime.fromisoformat(event.payload["request_received_at"])
        assert occurred.tzinfo is not None and received.tzinfo is not None
        assert earliest <= received <= occurred <= latest, event.payload


def test_events_carry_request_id_and_trace_context(lifecycle: Lifecycle) -> None:
    request_ids = [e.payload.get("request_id") for e in lifecycle.events]
    assert request_ids == lifecycle.request_ids, lifecycle.explain()
    for event in lifecycle.events:
        traceparent = event.payload["trace"].get("traceparent", "")
        assert TRACEPARENT.fullmatch(traceparent), event.payload
        # The header names the relay's send, a later span of the same trace.
        header = event.headers.get("traceparent", "")
        assert TRACEPARENT.fullmatch(header), event.headers
        assert header.split("-")[1] == traceparent.split("-")[1], event.headers


def test_event_trace_continues_the_callers_trace(lifecycle: Lifecycle) -> None:
    for event in lifecycle.events:
        match = TRACEPARENT.fullmatch(event.payload["trace"].get("traceparent", ""))
        assert match is not None, event.payload
        assert match.group(1) == lifecycle.trace_id, (
            f"the request carried trace {lifecycle.trace_id}; "
            f"{event.summary()} carries {event.payload['trace']}"
        )


async def test_each_change_writes_one_audit_row(
    lifecycle: Lifecycle, database: AsyncEngine
) -> None:
    async with database.connect() as connection:
        rows = list(
            await connection.execute(
                select(ProvisioningAudit)
                .where(ProvisioningAudit.user_id == uuid.UUID(lifecycle.user_id))
                .order_by(ProvisioningAudit.version)
            )
        )

    actions = [row.action for row in rows]
    assert actions == [action for _topic, action in EXPECTED], rows
    assert [row.request_id for row in rows] == lifecycle.request_ids
    for row in rows:
        assert row.org_id == lifecycle.org.org_id
        assert row.token_id == lifecycle.org.token_id
        assert row.after is not None and row.after != row.before, row
        assert row.request_received_at <= row.occurred_at, row
    assert rows[0].before is None
    assert all(row.before is not None for row in rows[1:]), rows
    assert rows[1].after["attributes"]["name"]["familyName"] == "Byron"
    assert [row.after["status"] for row in rows] == [
        "ACTIVE",
        "ACTIVE",
        "INACTIVE",
        "INACTIVE",
        "DEPROVISIONED",
    ]
    # The audit row and the event of a change share one id.
    assert {str(row.event_id) for row in rows} == {
        e.event_id for e in lifecycle.events
    }, lifecycle.explain()


async def test_published_events_are_marked_in_the_outbox(
    lifecycle: Lifecycle, database: AsyncEngine
) -> None:
    event_ids = [uuid.UUID(e.event_id) for e in lifecycle.events]
    assert event_ids, lifecycle.explain()
    query = select(OutboxEvent.event_id, OutboxEvent.published_at).where(
        OutboxEvent.event_id.in_(event_ids)
    )

    # The relay marks a batch right after Kafka acknowledged it.
    deadline = time.monotonic() + 10
    while True:
        async with database.connect() as connection:
            rows = list(await connection.execute(query))
        if all(row.published_at is not None for row in rows):
            break
        assert time.monotonic() < deadline, f"still unpublished: {rows}"
        await asyncio.sleep(0.1)
    assert len(rows) == len(event_ids), rows
