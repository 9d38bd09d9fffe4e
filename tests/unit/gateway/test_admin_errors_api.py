"""The error log's admin API against a fake error tracker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from error_tracker_fakes import (
    AdminAuditOfAcme,
    FakeErrorTracker,
    IdentityKnowingAcme,
    serving,
    settings_with_tracker,
    stamp_at,
    unmapped_group_error,
)
from gateway_fakes import ADMIN_TOKEN, BASE, ORG_ID, TOKEN, FakeIdentity
from group_mapping_fakes import FakeGroupMapping
from identity_admin_fakes import BOOTSTRAP_ID, FakeIdentityAdmin

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.group_mapping.v1 import group_mapping_pb2 as gm_pb
from protos.rivane.identity.v1 import admin_pb2
from services.common.settings import StackSettings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ERRORS = f"{BASE}/admin/errors"
AUDIT = f"{BASE}/admin/audit"


@pytest.fixture
async def fake_identity() -> AsyncIterator[FakeIdentity]:
    yield IdentityKnowingAcme()


@pytest.fixture
async def fake_identity_admin(
    fake_identity: FakeIdentity,
) -> AsyncIterator[FakeIdentityAdmin]:
    yield AdminAuditOfAcme(identity=fake_identity)


@pytest.fixture
async def tracker() -> AsyncIterator[FakeErrorTracker]:
    yield FakeErrorTracker()


@pytest.fixture
async def settings(
    identity_addr: str, group_mapping_addr: str, tracker: FakeErrorTracker
) -> AsyncIterator[StackSettings]:
    base = StackSettings(
        environment="test",
        identity_addr=identity_addr,
        group_mapping_addr=group_mapping_addr,
        admin_token=ADMIN_TOKEN,
        public_base_url="",
        token_cache_seconds=0,
        rate_limit_per_second=0,
    )
    async with serving(tracker) as address:
        yield settings_with_tracker(base, address)


async def test_errors_need_the_admin_credential(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    assert (await anonymous.get(ERRORS)).status_code == 401
    # An org's SCIM token opens no admin route.
    assert (await client.get(ERRORS)).status_code == 401
    retried = await client.post(f"{ERRORS}/retry", json={"ids": ["x"]})
    assert retried.status_code == 401


async def test_list_errors_filters_by_org_name_kind_and_state(
    anonymous: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())

    response = await anonymous.get(
        ERRORS,
        params={"org": "acme", "kind": "unmapped_group", "state": "open"},
        headers=ADMIN,
    )

    assert response.status_code == 200, response.text
    asked = tracker.requests["ListErrors"]
    assert (asked.org_id, asked.kind, asked.state) == (
        ORG_ID,
        pb.ERROR_KIND_UNMAPPED_GROUP,
        pb.ERROR_STATE_OPEN,
    )
    [shown] = response.json()["errors"]
    assert shown["error_id"] == record.error_id
    assert (shown["org"], shown["org_id"]) == ("acme", ORG_ID)
    assert (shown["kind"], shown["state"]) == ("unmapped_group", "open")
    assert shown["operation"]["request"] == {"orgId": "acme"}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kind", "unmapped"),
        ("state", "OPEN"),
        ("since", "yesterday"),
        # Valid times whose UTC falls outside the years 1 to 9999.
        ("since", "0001-01-01T00:00:00+14:00"),
        ("until", "9999-12-31T23:59:59-14:00"),
    ],
)
async def test_list_errors_with_an_unknown_filter_value_answers_400(
    anonymous: httpx.AsyncClient, name: str, value: str
) -> None:
    response = await anonymous.get(ERRORS, params={name: value}, headers=ADMIN)

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert name in response.json()["detail"]


async def test_list_errors_of_an_unknown_org_answers_404(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await anonymous.get(ERRORS, params={"org": "nobody"}, headers=ADMIN)

    assert response.status_code == 404


async def test_get_error_shows_its_history(
    anonymous: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())
    await anonymous.post(f"{ERRORS}/{record.error_id}/retry", headers=ADMIN)

    response = await anonymous.get(f"{ERRORS}/{record.error_id}", headers=ADMIN)

    assert response.status_code == 200
    [attempt] = response.json()["history"]
    assert attempt["trigger"] == "admin"
    assert attempt["outcome"] == "resolved"
    assert attempt["actor"] == f"{BOOTSTRAP_ID} bootstrap"


async def test_unknown_error_answers_404(anonymous: httpx.AsyncClient) -> None:
    missing = f"{ERRORS}/{uuid.uuid4()}"

    assert (await anonymous.get(missing, headers=ADMIN)).status_code == 404
    retried = await anonymous.post(f"{missing}/retry", headers=ADMIN)
    assert retried.status_code == 404


async def test_retry_one_records_the_admin_credential_as_actor(
    anonymous: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())

    response = await anonymous.post(f"{ERRORS}/{record.error_id}/retry", headers=ADMIN)

    assert response.status_code == 200
    assert response.json()["error"]["state"] == "resolved"
    assert tracker.requests["RetryErrors"].actor == f"{BOOTSTRAP_ID} bootstrap"
    assert (
        tracker.requests["RetryErrors"].request_id == response.headers["x-request-id"]
    )


async def test_retry_many_answers_each_id(
    anonymous: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    first = tracker.add(unmapped_group_error())
    second = tracker.add(unmapped_group_error())
    missing = str(uuid.uuid4())

    response = await anonymous.post(
        f"{ERRORS}/retry",
        json={"ids": [first.error_id, second.error_id, missing]},
        headers=ADMIN,
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["found"] for item in results] == [True, True, False]
    assert [item.get("error", {}).get("state") for item in results[:2]] == [
        "resolved",
        "resolved",
    ]


@pytest.mark.parametrize(
    "body", [{}, {"ids": []}, {"ids": "abc"}, {"ids": [1]}, {"ids": ["a"] * 501}]
)
async def test_retry_many_refuses_a_bad_list(
    anonymous: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await anonymous.post(f"{ERRORS}/retry", json=body, headers=ADMIN)

    assert response.status_code == 400


async def test_client_errors_list_filters_by_status(
    anonymous: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    tracker.client_errors.append(
        pb.ClientError(
            client_error_id="c1",
            org_id=ORG_ID,
            status=409,
            scim_type="uniqueness",
            detail="userName taken",
            method="POST",
            path="/scim/v2/Users",
        )
    )

    response = await anonymous.get(
        f"{BASE}/admin/client-errors", params={"status": 409}, headers=ADMIN
    )

    assert response.status_code == 200
    [shown] = response.json()["client_errors"]
    assert (shown["status"], shown["scim_type"], shown["org"]) == (
        409,
        "uniqueness",
        "acme",
    )
    assert tracker.requests["ListClientErrors"].status == 409


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("scim_type", "uniq\x00ueness"),
        ("scim_type", "<b>uniqueness</b>"),
        ("since", "0001-01-01T00:00:00+14:00"),
    ],
)
async def test_client_errors_with_an_impossible_filter_answer_400(
    anonymous: httpx.AsyncClient, tracker: FakeErrorTracker, name: str, value: str
) -> None:
    response = await anonymous.get(
        f"{BASE}/admin/client-errors", params={name: value}, headers=ADMIN
    )

    assert response.status_code == 400, response.text
    assert name in response.json()["detail"]
    assert "ListClientErrors" not in tracker.requests


async def test_scim_conflict_reaches_the_client_error_stream(
    client: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@example.test",
        "password": "s3cret-not-kept",
    }
    await client.post(f"{BASE}/scim/v2/Users", json=body)
    response = await client.post(f"{BASE}/scim/v2/Users?attributes=id", json=body)
    assert response.status_code == 409
    app = client._transport.app  # type: ignore[attr-defined]

    await app.state.client_errors.flush()

    [kept] = tracker.client_errors
    assert (kept.status, kept.scim_type, kept.method) == (409, "uniqueness", "POST")
    assert kept.path == "/scim/v2/Users"
    assert kept.org_id == ORG_ID
    assert kept.request_id == response.headers["x-request-id"]
    assert "s3cret" not in str(kept)
    assert TOKEN not in str(kept)


async def test_admin_audit_lists_retries_among_admin_actions_newest_first(
    anonymous: httpx.AsyncClient,
    tracker: FakeErrorTracker,
    fake_identity_admin: AdminAuditOfAcme,
    fake_group_mapping: FakeGroupMapping,
) -> None:
    older = datetime.now(UTC) - timedelta(minutes=5)
    fake_group_mapping.role_changes = [
        gm_pb.RoleMappingChange(
            audit_id="g-audit-1",
            org_id=ORG_ID,
            group_id="g-1",
            display_name="Finance",
            action="MAP_ROLE",
            roles_before=[],
            roles_after=["finance.approver"],
            request_id="req-map",
            admin_credential_id=BOOTSTRAP_ID,
            occurred_at=stamp_at(older + timedelta(minutes=1)),
        )
    ]
    fake_identity_admin.audit = (
        admin_pb2.AdminAuditEntry(
            audit_id="a-1",
            occurred_at=stamp_at(older),
            actor_credential_id=BOOTSTRAP_ID,
            actor_name="bootstrap",
            action="CREATE_TOKEN",
            org_id=ORG_ID,
            org_name="acme",
            target="token t-1",
            details_json="{}",
            request_id="req-token",
        ),
    )
    record = tracker.add(unmapped_group_error())
    await anonymous.post(
        f"{ERRORS}/{record.error_id}/retry",
        headers={**ADMIN, "X-Request-Id": "req-retry"},
    )

    both = await anonymous.get(AUDIT, params={"org": "acme"}, headers=ADMIN)
    asked_org = tracker.requests["ListAdminRetries"].org_id
    newest = await anonymous.get(AUDIT, params={"limit": 1}, headers=ADMIN)
    calls_before = fake_identity_admin.calls.count("ListAdminAudit")
    retries_only = await anonymous.get(
        AUDIT, params={"action": "RETRY_ERROR"}, headers=ADMIN
    )

    assert both.status_code == 200, both.text
    assert [e["action"] for e in both.json()["entries"]] == [
        "RETRY_ERROR",
        "MAP_ROLE",
        "CREATE_TOKEN",
    ]
    mapped = both.json()["entries"][1]
    assert mapped["actor"] == {"credential_id": BOOTSTRAP_ID, "name": "bootstrap"}
    assert mapped["details"]["roles_after"] == ["finance.approver"]
    assert (mapped["target"], mapped["request_id"]) == ("group Finance", "req-map")
    retry = both.json()["entries"][0]
    assert retry["actor"] == {"credential_id": BOOTSTRAP_ID, "name": "bootstrap"}
    assert (retry["org"], retry["org_id"]) == ("acme", ORG_ID)
    assert retry["request_id"] == "req-retry"
    assert retry["details"]["error_id"] == record.error_id
    assert retry["details"]["kind"] == "unmapped_group"
    assert retry["details"]["outcome"] == "resolved"
    assert asked_org == ORG_ID
    assert [e["action"] for e in newest.json()["entries"]] == ["RETRY_ERROR"]
    assert [e["action"] for e in retries_only.json()["entries"]] == ["RETRY_ERROR"]
    # The identity service does not know RETRY_ERROR: it is not asked.
    assert fake_identity_admin.calls.count("ListAdminAudit") == calls_before


async def test_admin_audit_of_an_unknown_org_is_a_404_whatever_the_action(
    anonymous: httpx.AsyncClient,
) -> None:
    for action in ("", "RETRY_ERROR", "MAP_ROLE"):
        response = await anonymous.get(
            AUDIT, params={"org": "nobody", "action": action}, headers=ADMIN
        )

        assert response.status_code == 404, (action, response.text)


async def test_an_id_sent_twice_to_retry_is_retried_and_answered_once(
    anonymous: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())
    other = tracker.add(unmapped_group_error())

    response = await anonymous.post(
        f"{ERRORS}/retry",
        json={"ids": [record.error_id, other.error_id, record.error_id]},
        headers=ADMIN,
    )

    assert response.status_code == 200, response.text
    assert [item["error_id"] for item in response.json()["results"]] == [
        record.error_id,
        other.error_id,
    ]
    assert list(tracker.requests["RetryErrors"].error_ids) == [
        record.error_id,
        other.error_id,
    ]
