"""The error tracker over gRPC: reports, dedup, listing, retries, client errors."""

from __future__ import annotations

import asyncio
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from protos.rivane.group_mapping.v1 import group_mapping_pb2
from protos.rivane.session_revocation.v1 import session_revocation_pb2
from services.common.error_reports import operation
from tests.integration.conftest import OrgCredentials
from tests.integration.error_steps import ADMIN, history, retry, tracker
from tests.integration.group_steps import (
    create_group,
    create_user,
    member_ids,
    scim_client,
)
from tests.integration.stack import ROOT, Stack, free_port

REVOKE_USER = "/rivane.session_revocation.v1.SessionRevocationService/RevokeUser"


@pytest.fixture
async def stub(stack: Stack) -> AsyncIterator[pb_grpc.ErrorTrackerServiceStub]:
    """A stub of the stack's error tracker."""
    async with tracker(stack) as client:
        yield client


def _revoke_operation(org_id: str) -> pb.Operation:
    """A harmless operation that succeeds: revoking a user no one has."""
    return operation(
        REVOKE_USER,
        session_revocation_pb2.RevokeUserRequest(
            org_id=org_id,
            user_id=str(uuid.uuid4()),
            event_id=str(uuid.uuid4()),
            action="DEACTIVATE",
            occurred_at=_stamp(datetime.now(UTC)),
            request_received_at=_stamp(datetime.now(UTC)),
        ),
        summary="revoke a user",
    )


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _report(
    org_id: str,
    dedup_key: str,
    *,
    kind: pb.ErrorKind.ValueType = pb.ERROR_KIND_UNMAPPED_GROUP,
    op: pb.Operation | None = None,
) -> pb.ReportErrorRequest:
    return pb.ReportErrorRequest(
        org_id=org_id,
        kind=kind,
        reason_code="TEST",
        reason="reported by a test",
        subject_type="User",
        subject_id="u1",
        dedup_key=dedup_key,
        operation=op or _revoke_operation(org_id),
        source="tests",
    )


async def test_report_of_the_same_cause_joins_one_error(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    first = await stub.ReportError(_report(org, "cause-1"))
    again = await stub.ReportError(_report(org, "cause-1"))
    other = await stub.ReportError(_report(org, "cause-2"))

    assert first.created and not again.created and other.created
    assert again.error_id == first.error_id
    error = (await history(stub, first.error_id)).error
    assert error.occurrences == 2
    assert error.state == pb.ERROR_STATE_OPEN
    assert error.operation.method == REVOKE_USER


async def test_list_errors_pages_newest_first_with_filters(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    ids = [(await stub.ReportError(_report(org, f"k{n}"))).error_id for n in range(3)]
    await stub.ReportError(
        _report(org, "other-kind", kind=pb.ERROR_KIND_BULK_OPERATION_FAILED)
    )

    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListErrors(
            pb.ListErrorsRequest(
                org_id=org, kind=pb.ERROR_KIND_UNMAPPED_GROUP, limit=2, page_token=token
            )
        )
        seen += [error.error_id for error in page.errors]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))

    later = datetime.now(UTC) + timedelta(minutes=1)
    empty = await stub.ListErrors(pb.ListErrorsRequest(org_id=org, since=_stamp(later)))
    assert list(empty.errors) == []


async def test_admin_retry_resolves_and_names_the_admin(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    reported = await stub.ReportError(_report(org, "retry-me"))

    result = await retry(stub, reported.error_id)

    assert result.found
    assert result.error.state == pb.ERROR_STATE_RESOLVED
    assert result.error.resolved_by == ADMIN
    assert result.attempt.trigger == "admin"
    assert result.attempt.actor == ADMIN
    assert result.attempt.status_code == "OK"
    # Retrying a resolved error answers it unchanged, without an attempt.
    again = await retry(stub, reported.error_id)
    assert again.error.state == pb.ERROR_STATE_RESOLVED
    assert not again.HasField("attempt")
    attempts = (await history(stub, reported.error_id)).attempts
    assert [(a.trigger, a.actor, a.outcome) for a in attempts] == [
        ("admin", ADMIN, pb.ERROR_STATE_RESOLVED)
    ]
    # A new report of the same cause is a new error.
    anew = await stub.ReportError(_report(org, "retry-me"))
    assert anew.created and anew.error_id != reported.error_id


async def test_concurrent_retries_of_one_error_replay_it_once(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    reported = await stub.ReportError(_report(org, "race"))

    await asyncio.gather(*(retry(stub, reported.error_id) for _ in range(5)))

    found = await history(stub, reported.error_id)
    assert found.error.state == pb.ERROR_STATE_RESOLVED
    assert len(found.attempts) == 1


async def test_an_operation_that_cannot_succeed_fails_and_a_new_report_reopens_it(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    broken = pb.Operation(method="/rivane.nothing.v1.Nope/Call", request_json="{}")
    reported = await stub.ReportError(_report(org, "broken", op=broken))

    failed = await retry(stub, reported.error_id)
    assert failed.error.state == pb.ERROR_STATE_FAILED
    assert failed.attempt.status_code == "INVALID_ARGUMENT"

    again = await stub.ReportError(_report(org, "broken", op=broken))
    assert not again.created
    reopened = await history(stub, reported.error_id)
    assert reopened.error.state == pb.ERROR_STATE_OPEN
    assert [a.outcome for a in reopened.attempts] == [
        pb.ERROR_STATE_FAILED,
        pb.ERROR_STATE_OPEN,
    ]


async def test_resolve_errors_closes_only_the_named_causes(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    gone = await stub.ReportError(_report(org, "gone"))
    kept = await stub.ReportError(_report(org, "kept"))

    reply = await stub.ResolveErrors(
        pb.ResolveErrorsRequest(
            org_id=org,
            kind=pb.ERROR_KIND_UNMAPPED_GROUP,
            dedup_keys=["gone"],
            reason="mapped",
            source="group_mapping",
        )
    )

    assert reply.resolved == 1
    resolved = await history(stub, gone.error_id)
    assert resolved.error.state == pb.ERROR_STATE_RESOLVED
    assert resolved.error.resolved_by == "group_mapping"
    assert [(a.trigger, a.detail) for a in resolved.attempts] == [("source", "mapped")]
    assert (await history(stub, kept.error_id)).error.state == pb.ERROR_STATE_OPEN


async def test_retry_answers_unknown_ids_as_not_found(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    reply = await stub.RetryErrors(
        pb.RetryErrorsRequest(error_ids=[str(uuid.uuid4()), "not-an-id"], actor=ADMIN)
    )
    assert [(r.error_id != "", r.found) for r in reply.results] == [
        (True, False),
        (True, False),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetError(pb.GetErrorRequest(error_id="not-an-id"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_report_with_a_long_dedup_key_is_kept_and_resolvable(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    # A Bulk bulkId the client chose, too long and random for a btree entry.
    org, key = str(uuid.uuid4()), "req-1:" + secrets.token_urlsafe(6000)
    first = await stub.ReportError(_report(org, key))
    again = await stub.ReportError(_report(org, key))

    assert first.created and again.error_id == first.error_id
    reply = await stub.ResolveErrors(
        pb.ResolveErrorsRequest(
            org_id=org,
            kind=pb.ERROR_KIND_UNMAPPED_GROUP,
            dedup_keys=[key],
            source="tests",
        )
    )
    assert reply.resolved == 1


async def test_a_client_error_echoing_u0000_spoils_no_batch(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    echoed = pb.ClientError(
        org_id=org, status=404, detail="User a\x00b not found", path="/Users/a\x00b"
    )
    other = pb.ClientError(org_id=org, status=409, detail="userName taken")

    recorded = await stub.RecordClientErrors(
        pb.RecordClientErrorsRequest(errors=[echoed, other])
    )

    assert recorded.recorded == 2
    listed = await stub.ListClientErrors(pb.ListClientErrorsRequest(org_id=org))
    assert sorted(error.detail for error in listed.errors) == [
        "User a\ufffdb not found",
        "userName taken",
    ]


@pytest.mark.parametrize(
    "request_",
    [
        pb.ListClientErrorsRequest(scim_type="uniq\x00ueness"),
        pb.ListClientErrorsRequest(org_id="\x00"),
    ],
)
async def test_a_listing_filter_postgresql_cannot_hold_is_refused(
    stub: pb_grpc.ErrorTrackerServiceStub, request_: pb.ListClientErrorsRequest
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListClientErrors(request_)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListErrors(pb.ListErrorsRequest(org_id="\x00"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_retry_answers_each_id_sent_even_repeated(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    error_id = (await stub.ReportError(_report(str(uuid.uuid4()), "twice"))).error_id
    sent = [error_id, "not-an-id", error_id, error_id.upper(), "not-an-id"]

    reply = await stub.RetryErrors(pb.RetryErrorsRequest(error_ids=sent, actor=ADMIN))

    assert [(r.error_id, r.found) for r in reply.results] == [
        (error_id, True),
        ("not-an-id", False),
        (error_id, True),
        (error_id.upper(), True),
        ("not-an-id", False),
    ]
    # Replayed once, however often it was named.
    assert len((await history(stub, error_id)).attempts) == 1


async def test_client_errors_are_kept_apart_and_filtered(
    stub: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    recorded = await stub.RecordClientErrors(
        pb.RecordClientErrorsRequest(
            errors=[
                pb.ClientError(
                    org_id=org,
                    status=409,
                    scim_type="uniqueness",
                    detail="userName taken",
                    method="POST",
                    path="/scim/v2/Users",
                    request_id="r1",
                ),
                pb.ClientError(
                    org_id=org,
                    status=400,
                    scim_type="invalidValue",
                    method="PATCH",
                    path="/scim/v2/Users/1",
                    request_id="r2",
                ),
            ]
        )
    )
    assert recorded.recorded == 2

    conflicts = await stub.ListClientErrors(
        pb.ListClientErrorsRequest(org_id=org, status=409)
    )
    assert [(e.status, e.scim_type, e.path) for e in conflicts.errors] == [
        (409, "uniqueness", "/scim/v2/Users")
    ]
    every = await stub.ListClientErrors(pb.ListClientErrorsRequest(org_id=org, limit=1))
    assert len(every.errors) == 1 and every.next_page_token
    rest = await stub.ListClientErrors(
        pb.ListClientErrorsRequest(org_id=org, page_token=every.next_page_token)
    )
    assert len(rest.errors) == 1 and not rest.next_page_token
    # They are not retryable errors.
    errors = await stub.ListErrors(pb.ListErrorsRequest(org_id=org))
    assert list(errors.errors) == []


@pytest.fixture(scope="module")
async def fast_tracker(stack: Stack) -> AsyncIterator[pb_grpc.ErrorTrackerServiceStub]:
    """One more error tracker replaying within a second, two tries at most.

    It keeps its errors in a database of its own, so that the stack's error
    tracker never replays them; its revocation service address leads
    nowhere, so that its replays of RevokeUser find the service away.
    """
    database_url = await _fresh_database(stack.database_url, "_fast_errors")
    migrated = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.error_tracker.migrate",
        "--database-url",
        database_url,
        cwd=ROOT,
    )
    assert await migrated.wait() == 0
    port = free_port()
    env = {
        **stack.env,
        "RIVANE_DATABASE_URL": database_url,
        "RIVANE_ERROR_TRACKER_ADDR": f"127.0.0.1:{port}",
        "RIVANE_ERROR_TRACKER_METRICS_PORT": "0",
        "RIVANE_REVOCATION_ADDR": f"127.0.0.1:{free_port()}",
        "RIVANE_ERROR_RETRY_BASE_SECONDS": "0.5",
        "RIVANE_ERROR_RETRY_MAX_ATTEMPTS": "2",
    }
    log = stack.log_dir / "error_tracker_fast.log"
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.error_tracker",
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), timeout=30)
            yield pb_grpc.ErrorTrackerServiceStub(channel)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)


async def _fresh_database(database_url: str, suffix: str) -> str:
    """Create an empty database beside `database_url`; return its URL."""
    url = make_url(database_url)
    name = f"{url.database}{suffix}"
    engine = create_async_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


async def _settled(
    stub: pb_grpc.ErrorTrackerServiceStub, error_id: str
) -> pb.GetErrorResponse:
    for _ in range(100):
        found = await history(stub, error_id)
        if found.error.state in (pb.ERROR_STATE_RESOLVED, pb.ERROR_STATE_FAILED):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"error {error_id} still {found.error.state}")


async def test_transient_errors_are_replayed_automatically(
    fast_tracker: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    flush = operation(
        "/rivane.error_tracker.v1.RetryTargetService/FlushOutbox",
        pb.FlushOutboxRequest(),
        target="identity",
    )
    repaired = await fast_tracker.ReportError(
        _report(org, "flush", kind=pb.ERROR_KIND_EVENT_NOT_PUBLISHED, op=flush)
    )
    unreachable = await fast_tracker.ReportError(
        _report(org, "revoke", kind=pb.ERROR_KIND_REVOCATION_FAILED)
    )

    resolved = await _settled(fast_tracker, repaired.error_id)
    assert resolved.error.state == pb.ERROR_STATE_RESOLVED
    assert [(a.trigger, a.actor, a.status_code) for a in resolved.attempts] == [
        ("auto", "auto", "OK")
    ]
    failed = await _settled(fast_tracker, unreachable.error_id)
    assert failed.error.state == pb.ERROR_STATE_FAILED
    assert [(a.trigger, a.status_code, a.outcome) for a in failed.attempts] == [
        ("auto", "UNAVAILABLE", pb.ERROR_STATE_OPEN),
        ("auto", "UNAVAILABLE", pb.ERROR_STATE_FAILED),
    ]


async def test_unmapped_groups_are_not_replayed_automatically(
    fast_tracker: pb_grpc.ErrorTrackerServiceStub,
) -> None:
    org = str(uuid.uuid4())
    reported = await fast_tracker.ReportError(_report(org, "group"))
    await asyncio.sleep(2)
    found = await history(fast_tracker, reported.error_id)
    assert found.error.state == pb.ERROR_STATE_OPEN
    assert not found.error.HasField("next_attempt_at")
    assert list(found.attempts) == []


async def test_a_failed_deprovision_is_replayed_through_group_mapping(
    stack: Stack,
    stub: pb_grpc.ErrorTrackerServiceStub,
    scim_org: OrgCredentials,
) -> None:
    async with scim_client(stack, scim_org) as client:
        user_id = await create_user(client)
        group = await create_group(client, members=[user_id])
        org = str(scim_org.org_id)
        event_id = str(uuid.uuid4())
        reported = await stub.ReportError(
            _report(
                org,
                event_id,
                kind=pb.ERROR_KIND_DOWNSTREAM_CALL_FAILED,
                op=operation(
                    "/rivane.group_mapping.v1.GroupMappingService/DropDeprovisionedUser",
                    group_mapping_pb2.DropDeprovisionedUserRequest(
                        org_id=org, user_id=user_id, event_id=event_id
                    ),
                ),
            )
        )

        result = await retry(stub, reported.error_id)

        assert result.error.state == pb.ERROR_STATE_RESOLVED
        assert await member_ids(client, group["id"]) == set()
