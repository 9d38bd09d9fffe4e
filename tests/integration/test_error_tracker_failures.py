"""Failures caused for real: each appears in the error tracker and is repaired.

Kafka is stopped with `scripts/kafka.sh stop` (and always started again), the
revocation service is stopped, a group is pushed that no role maps to. Each
time the error is listed, an admin retry while the cause is still there
leaves it open, and once the cause is gone the effect is there (the event on
Kafka, the token revoked, the role granted) and the error RESOLVED. The
stack's automatic replays wait two minutes, so what resolves it here is the
admin's retry or the service whose cause went away.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from protos.rivane.group_mapping.v1 import group_mapping_pb2_grpc
from tests.integration.access_tokens import Gateway
from tests.integration.conftest import OrgCredentials, new_org
from tests.integration.error_steps import (
    ADMIN,
    history,
    retry,
    tracker,
    wait_for_error,
)
from tests.integration.group_steps import create_group, create_user, scim_client
from tests.integration.kafka_reader import describe, read_events, take_mark
from tests.integration.stack import Stack
from tests.integration.test_outbox_outage import KAFKA_SCRIPT, Broker
from tests.integration.test_role_mapping import map_role, roles_of

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
async def stub(stack: Stack) -> AsyncIterator[pb_grpc.ErrorTrackerServiceStub]:
    """A stub of the stack's error tracker."""
    async with tracker(stack) as client:
        yield client


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[Broker]:
    """The broker, started again after the test whatever happened in it."""
    assert KAFKA_SCRIPT.is_file(), f"{KAFKA_SCRIPT} is missing"
    broker = Broker(stack.kafka_bootstrap)
    try:
        yield broker
    finally:
        if broker.stopped:
            await broker.start()


async def _resolved(
    stub: pb_grpc.ErrorTrackerServiceStub, error_id: str, *, seconds: float = 60
) -> pb.GetErrorResponse:
    """Wait until the error is RESOLVED; return it with its attempts."""
    for _ in range(int(seconds * 5)):
        found = await history(stub, error_id)
        if found.error.state == pb.ERROR_STATE_RESOLVED:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"error {error_id} not resolved: {found}")


def _admin_attempts(found: pb.GetErrorResponse) -> list[tuple[str, int]]:
    return [
        (attempt.status_code, attempt.outcome)
        for attempt in found.attempts
        if attempt.trigger == "admin" and attempt.actor == ADMIN
    ]


async def test_kafka_down_is_reported_and_the_retry_delivers_the_event(
    stack: Stack,
    stub: pb_grpc.ErrorTrackerServiceStub,
    broker: Broker,
    scim_org: OrgCredentials,
) -> None:
    mark = await take_mark(stack.kafka_bootstrap, ["scim.user_provisioned"])
    await broker.stop()
    async with httpx.AsyncClient(
        base_url=stack.scim_url, headers=scim_org.auth, timeout=30
    ) as client:
        login = f"outage.{uuid.uuid4().hex[:8]}@example.test"
        created = await client.post(
            "/Users", json={"schemas": [USER_SCHEMA], "userName": login}
        )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    error = await wait_for_error(
        stub,
        kind=pb.ERROR_KIND_EVENT_NOT_PUBLISHED,
        dedup_key="outbox_event",
        state=pb.ERROR_STATE_OPEN,
    )
    assert error.reason_code == "KAFKA_UNAVAILABLE"
    assert error.subject_type == "Event" and error.subject_id
    assert error.operation.target == "identity"
    still_down = await retry(stub, error.error_id)
    assert still_down.error.state == pb.ERROR_STATE_OPEN
    assert still_down.attempt.status_code == "UNAVAILABLE"

    await broker.start()
    # The admin's retry and the relay race to publish; either resolves it.
    await retry(stub, error.error_id)
    events = await read_events(
        mark,
        until=lambda seen: any(event.user_id == user_id for event in seen),
        wait_seconds=60,
    )
    assert any(event.user_id == user_id for event in events), describe(events)
    found = await _resolved(stub, error.error_id)
    assert ("UNAVAILABLE", pb.ERROR_STATE_OPEN) in _admin_attempts(found)
    assert found.attempts[-1].outcome == pb.ERROR_STATE_RESOLVED


async def test_revocation_service_down_is_reported_and_the_retry_revokes(
    stack: Stack,
    stub: pb_grpc.ErrorTrackerServiceStub,
    database: AsyncEngine,
) -> None:
    org = await new_org(stack, database)
    gateway = Gateway(stack, org)
    try:
        user_id = await gateway.create_user()
        token = await gateway.issue_token(user_id)
        await asyncio.to_thread(stack.stop, "session_revocation")
        try:
            await gateway.set_active(user_id, False)
            error = await wait_for_error(
                stub,
                kind=pb.ERROR_KIND_REVOCATION_FAILED,
                subject_id=user_id,
                org_id=str(org.org_id),
            )
            assert error.source == "identity"
            assert error.subject_type == "User"
            down = await retry(stub, error.error_id)
            assert down.error.state == pb.ERROR_STATE_OPEN
            assert down.attempt.status_code == "UNAVAILABLE"
        finally:
            await asyncio.to_thread(stack.start, "session_revocation")

        # The admin's retry and the service's Kafka consumer race to revoke;
        # the revocation is applied once, and the error resolved either way.
        result = await retry(stub, error.error_id)
        assert result.error.state == pb.ERROR_STATE_RESOLVED, result
        change = await gateway.revocation_of(user_id, "DEACTIVATE", wait_seconds=60)
        assert change["revocation"]["tokens_revoked"] == 1
        assert await gateway.introspect(token) == {"active": False}
        found = await _resolved(stub, error.error_id)
        assert ("UNAVAILABLE", pb.ERROR_STATE_OPEN) in _admin_attempts(found)
        # The retries, newest first, as the admin audit log reads them. The
        # second replayed only if the consumer had not resolved the error first.
        listed = await stub.ListAdminRetries(
            pb.ListAdminRetriesRequest(org_id=str(org.org_id), limit=10), timeout=10
        )
        expected = [(error.error_id, ADMIN, pb.ERROR_STATE_OPEN)]
        if result.HasField("attempt"):
            expected.insert(0, (error.error_id, ADMIN, pb.ERROR_STATE_RESOLVED))
        assert [
            (item.error_id, item.attempt.actor, item.attempt.outcome)
            for item in listed.retries
        ] == expected
        assert listed.retries[0].kind == pb.ERROR_KIND_REVOCATION_FAILED
        assert listed.retries[0].subject_id == user_id
    finally:
        await gateway.close()


async def test_unmapped_group_is_reported_until_a_role_is_mapped(
    stack: Stack,
    stub: pb_grpc.ErrorTrackerServiceStub,
    scim_org: OrgCredentials,
) -> None:
    async with scim_client(stack, scim_org) as client:
        user_id = await create_user(client)
        group = await create_group(client, members=[user_id])

    error = await wait_for_error(
        stub,
        kind=pb.ERROR_KIND_UNMAPPED_GROUP,
        dedup_key=group["id"],
        org_id=str(scim_org.org_id),
    )
    assert (error.reason_code, error.subject_type) == ("NO_ROLE_MAPPING", "Group")
    unmapped = await retry(stub, error.error_id)
    assert unmapped.error.state == pb.ERROR_STATE_OPEN
    assert unmapped.attempt.status_code == "FAILED_PRECONDITION"

    await map_role(stack, scim_org, group["id"], "finance.viewer")

    found = await _resolved(stub, error.error_id, seconds=30)
    again = await retry(stub, error.error_id)
    assert again.error.state == pb.ERROR_STATE_RESOLVED
    async with grpc.aio.insecure_channel(stack.addresses["group_mapping"]) as channel:
        stub_gm = group_mapping_pb2_grpc.GroupMappingServiceStub(channel)
        assert await roles_of(stub_gm, scim_org, user_id) == ["finance.viewer"]
    assert _admin_attempts(found) == [("FAILED_PRECONDITION", pb.ERROR_STATE_OPEN)]
    assert (found.attempts[-1].trigger, found.error.resolved_by) == (
        "source",
        "group_mapping",
    )
