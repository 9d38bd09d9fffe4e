"""The error log's admin API, the client-error stream and the page's guards."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime

import httpx

from tests.integration.conftest import OrgCredentials
from tests.integration.error_log_steps import (
    admin_client,
    map_group,
    push_unmapped_group,
    wait_for_error,
)
from tests.integration.group_steps import USER_SCHEMA, scim_client
from tests.integration.stack import Stack


async def test_error_log_refuses_requests_without_the_admin_credential(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as anonymous:
        for method, path in (
            ("GET", "/admin/errors"),
            ("GET", f"/admin/errors/{uuid.uuid4()}"),
            ("POST", f"/admin/errors/{uuid.uuid4()}/retry"),
            ("POST", "/admin/errors/retry"),
            ("GET", "/admin/client-errors"),
        ):
            bare = await anonymous.request(method, path)
            with_scim_token = await anonymous.request(
                method, path, headers=scim_org.auth
            )
            assert (bare.status_code, with_scim_token.status_code) == (401, 401), path


async def test_unknown_kind_or_state_answers_400(stack: Stack) -> None:
    async with admin_client(stack) as admin:
        kind = await admin.get("/admin/errors", params={"kind": "exploded"})
        state = await admin.get("/admin/errors", params={"state": "Open"})

    assert kind.status_code == 400
    assert "unmapped_group" in kind.json()["detail"]
    assert state.status_code == 400


async def test_unknown_error_id_answers_404(stack: Stack) -> None:
    missing = uuid.uuid4()
    async with admin_client(stack) as admin:
        shown = await admin.get(f"/admin/errors/{missing}")
        retried = await admin.post(f"/admin/errors/{missing}/retry")

    assert (shown.status_code, retried.status_code) == (404, 404)


async def test_unmapped_group_is_listed_filtered_and_resolved_by_retry(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    group = await push_unmapped_group(stack, scim_org)
    error = await wait_for_error(
        stack, scim_org, kind="unmapped_group", subject_id=group["id"]
    )
    assert (error["org"], error["org_id"]) == (scim_org.name, str(scim_org.org_id))
    assert error["state"] in ("open", "failed")

    async with admin_client(stack) as admin:
        other_kind = await admin.get(
            "/admin/errors",
            params={"org": scim_org.name, "kind": "revocation_failed"},
        )
        resolved_only = await admin.get(
            "/admin/errors", params={"org": scim_org.name, "state": "resolved"}
        )
        # Retried while still unmapped: the replay fails and says so.
        early = await admin.post(f"/admin/errors/{error['error_id']}/retry")
        await map_group(stack, scim_org, group["id"], "viewer")
        retried = await admin.post(f"/admin/errors/{error['error_id']}/retry")
        shown = await admin.get(f"/admin/errors/{error['error_id']}")
        audit = await admin.get(
            "/admin/audit", params={"org": scim_org.name, "action": "RETRY_ERROR"}
        )
        whole_audit = await admin.get("/admin/audit", params={"org": scim_org.name})

    assert other_kind.json()["errors"] == []
    assert error["error_id"] not in {
        e["error_id"] for e in resolved_only.json()["errors"]
    }
    assert early.status_code == 200
    assert early.json()["error"]["state"] != "resolved"
    assert retried.status_code == 200
    assert retried.json()["error"]["state"] == "resolved"
    history = shown.json()["history"]
    admin_attempts = [attempt for attempt in history if attempt["trigger"] == "admin"]
    assert admin_attempts, history
    # The early retry is in the history, by the admin credential that asked.
    assert admin_attempts[0]["actor"] not in ("", "auto")
    assert admin_attempts[0]["outcome"] != "resolved"
    assert shown.json()["state"] == "resolved"

    # Each retry that replayed is in the admin audit log with its outcome,
    # newest first. The second replays only if the mapping had not resolved
    # the error already.
    assert audit.status_code == 200, audit.text
    retries = [
        entry
        for entry in audit.json()["entries"]
        if entry["details"]["error_id"] == error["error_id"]
    ]
    expected = [(early.headers["X-Request-Id"], early.json()["error"]["state"])]
    if retried.json()["attempt"] is not None:
        expected.insert(0, (retried.headers["X-Request-Id"], "resolved"))
    assert [
        (entry["request_id"], entry["details"]["outcome"]) for entry in retries
    ] == expected
    entry = retries[-1]
    assert entry["action"] == "RETRY_ERROR"
    assert entry["details"]["status_code"] == early.json()["attempt"]["status_code"]
    assert (entry["org"], entry["org_id"]) == (scim_org.name, str(scim_org.org_id))
    assert entry["details"]["kind"] == "unmapped_group"
    assert entry["details"]["subject_id"] == group["id"]
    # Unfiltered, the retries sit among the org's other admin actions by time.
    entries = whole_audit.json()["entries"]
    actions = {entry["action"] for entry in entries}
    assert {"RETRY_ERROR", "CREATE_TOKEN"} <= actions, actions
    # The same admin credential created the org's token and retried.
    token_entry = next(e for e in entries if e["action"] == "CREATE_TOKEN")
    assert entry["actor"] == token_entry["actor"]
    times = [datetime.fromisoformat(entry["occurred_at"]) for entry in entries]
    assert times == sorted(times, reverse=True)


async def test_retry_many_answers_each_id(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    groups = [await push_unmapped_group(stack, scim_org) for _ in range(2)]
    errors = [
        await wait_for_error(
            stack, scim_org, kind="unmapped_group", subject_id=group["id"]
        )
        for group in groups
    ]
    for group in groups:
        await map_group(stack, scim_org, group["id"], "viewer")
    missing = str(uuid.uuid4())

    async with admin_client(stack) as admin:
        response = await admin.post(
            "/admin/errors/retry",
            json={"ids": [errors[0]["error_id"], errors[1]["error_id"], missing]},
        )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [result["found"] for result in results] == [True, True, False]
    assert [result["error"]["state"] for result in results[:2]] == [
        "resolved",
        "resolved",
    ]


async def test_bad_scim_request_is_listed_in_the_client_error_stream(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    secret = f"never-kept-{uuid.uuid4().hex[:8]}"
    body = {"schemas": [USER_SCHEMA], "userName": f"dup.{secret}@example.test"}
    async with scim_client(stack, scim_org) as scim:
        assert (await scim.post("/Users", json=body)).status_code == 201
        conflict = await scim.post(f"/Users?filter={secret}", json=body)
    assert conflict.status_code == 409

    deadline = time.monotonic() + 15
    async with admin_client(stack) as admin:
        while True:
            listed = await admin.get(
                "/admin/client-errors", params={"org": scim_org.name, "status": 409}
            )
            assert listed.status_code == 200, listed.text
            kept = listed.json()["client_errors"]
            if kept or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)

    [error] = kept
    assert (error["status"], error["scim_type"]) == (409, "uniqueness")
    assert (error["method"], error["path"]) == ("POST", "/scim/v2/Users")
    assert error["request_id"] == conflict.headers["x-request-id"]
    assert error["org"] == scim_org.name
    assert "filter" not in str(error)
    assert scim_org.token not in str(error)


async def test_refused_bulk_operations_are_listed_in_the_client_error_stream(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    login = f"bulk.{uuid.uuid4().hex[:10]}@example.test"
    user = {"schemas": [USER_SCHEMA], "userName": login}
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "first", "data": user},
            {"method": "POST", "path": "/Users", "bulkId": "again", "data": user},
            {"method": "DELETE", "path": f"/Users/{uuid.uuid4()}"},
        ],
    }
    async with scim_client(stack, scim_org) as scim:
        answer = await scim.post("/Bulk", json=body)
    assert answer.status_code == 200, answer.text
    statuses = [op["status"] for op in answer.json()["Operations"]]
    assert statuses == ["201", "409", "404"]

    deadline = time.monotonic() + 15
    async with admin_client(stack) as admin:
        while True:
            listed = await admin.get(
                "/admin/client-errors", params={"org": scim_org.name}
            )
            assert listed.status_code == 200, listed.text
            kept = [
                error
                for error in listed.json()["client_errors"]
                if error["request_id"] == answer.headers["x-request-id"]
            ]
            if len(kept) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)

    seen = sorted((e["status"], e["scim_type"], e["detail"]) for e in kept)
    assert [(status, scim_type) for status, scim_type, _ in seen] == [
        (404, None),
        (409, "uniqueness"),
    ]
    assert seen[0][2].startswith("operation 2 (DELETE): ")
    assert seen[1][2].startswith("operation 1 (POST, bulkId again): ")
    assert all((e["method"], e["path"]) == ("POST", "/scim/v2/Bulk") for e in kept)


async def test_admin_page_refuses_access_without_login(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as browser:
        page = await browser.get("/admin/ui/errors")
        bearer = await browser.get(
            "/admin/ui/errors",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        )
        retry = await browser.post(f"/admin/ui/errors/{uuid.uuid4()}/retry")

    for response in (page, bearer, retry):
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/ui/login"


async def test_admin_page_refuses_a_forged_or_missing_csrf_token(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    group = await push_unmapped_group(stack, scim_org)
    error = await wait_for_error(
        stack, scim_org, kind="unmapped_group", subject_id=group["id"]
    )
    retry = f"/admin/ui/errors/{error['error_id']}/retry"

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as browser:
        form = await browser.get("/admin/ui/login")
        login_csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert login_csrf is not None
        login = await browser.post(
            "/admin/ui/login",
            data={"credential": stack.admin_token, "csrf": login_csrf.group(1)},
        )
        assert login.status_code == 303
        page = await browser.get(f"/admin/ui/errors/{error['error_id']}")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        missing = await browser.post(retry, data={})
        forged = await browser.post(retry, data={"csrf": "f" * 64})

    assert (missing.status_code, forged.status_code) == (403, 403)
    async with admin_client(stack) as admin:
        shown = await admin.get(f"/admin/errors/{error['error_id']}")
    assert [a for a in shown.json()["history"] if a["trigger"] == "admin"] == []
