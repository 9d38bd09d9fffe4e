"""Steps of the error-log tests: an unmapped group reported for real, admin calls."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.integration.conftest import OrgCredentials
from tests.integration.group_steps import (
    GROUP_SCHEMA,
    create_group,
    create_user,
    scim_client,
)
from tests.integration.stack import Stack

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
# The group-mapping service reports in the background.
REPORT_DEADLINE_SECONDS = 20.0


def admin_client(stack: Stack, **headers: str) -> httpx.AsyncClient:
    """Return a client of the admin API holding the stack's admin credential."""
    return httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {stack.admin_token}", **headers},
        timeout=60,
    )


async def push_unmapped_group(stack: Stack, org: OrgCredentials) -> dict[str, Any]:
    """Push a group with a member that maps to no role; return the group."""
    async with scim_client(stack, org) as scim:
        member = await create_user(scim)
        return await create_group(scim, members=[member])


async def wait_for_error(
    stack: Stack,
    org: OrgCredentials,
    *,
    kind: str,
    subject_id: str = "",
    summary: str = "",
) -> dict[str, Any]:
    """Return the error of `kind` once the log shows it.

    It is the one about `subject_id`, or the one whose operation summary
    holds `summary`.
    """
    deadline = time.monotonic() + REPORT_DEADLINE_SECONDS
    async with admin_client(stack) as admin:
        while True:
            response = await admin.get(
                "/admin/errors", params={"org": org.name, "kind": kind}
            )
            assert response.status_code == 200, response.text
            for error in response.json()["errors"]:
                if (subject_id and error["subject"]["id"] == subject_id) or (
                    summary and summary in error["operation"]["summary"]
                ):
                    return dict(error)
            assert time.monotonic() < deadline, (
                f"no {kind} error for {subject_id or summary}"
            )
            await asyncio.sleep(0.2)


async def map_group(stack: Stack, org: OrgCredentials, group: str, role: str) -> None:
    """Grant `role` to the members of `group` through the admin API."""
    async with admin_client(stack) as admin:
        response = await admin.post(
            f"/admin/orgs/{org.name}/role-mappings",
            json={"group": group, "role": role},
        )
    assert response.status_code == 201, response.text


async def post_bulk_group(
    org: OrgCredentials, stack: Stack, *, name: str, bulk_id: str
) -> dict[str, Any]:
    """Create a group through a one-operation Bulk; return that operation's answer."""
    body = {
        "schemas": [BULK_REQUEST],
        "Operations": [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": bulk_id,
                "data": {"schemas": [GROUP_SCHEMA], "displayName": name},
            }
        ],
    }
    async with scim_client(stack, org) as scim:
        response = await scim.post("/Bulk", json=body)
    assert response.status_code == 200, response.text
    operations: list[dict[str, Any]] = response.json()["Operations"]
    assert len(operations) == 1, operations
    return operations[0]


async def group_names(stack: Stack, org: OrgCredentials, name: str) -> list[str]:
    """Return the displayName of each group of the org called `name`."""
    async with scim_client(stack, org) as scim:
        response = await scim.get(
            "/Groups", params={"filter": f'displayName eq "{name}"'}
        )
    assert response.status_code == 200, response.text
    return [group["displayName"] for group in response.json().get("Resources", [])]
