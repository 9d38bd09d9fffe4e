"""Steps the group tests repeat: SCIM calls as an IdP makes them, and DB reads."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.group_mapping.models import (
    GroupAudit,
    GroupMembership,
    GroupOutboxEvent,
    ScimGroup,
)
from tests.integration.conftest import OrgCredentials
from tests.integration.stack import Stack

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_client(stack: Stack, org: OrgCredentials) -> httpx.AsyncClient:
    """Return a client on the SCIM base URL with the org's token."""
    return httpx.AsyncClient(
        base_url=stack.scim_url,
        headers={**org.auth, "Content-Type": "application/scim+json"},
        timeout=30,
    )


async def create_user(client: httpx.AsyncClient) -> str:
    """Provision a user; return its id."""
    login = f"groups.{secrets.token_hex(5)}@example.test"
    body = {"schemas": [USER_SCHEMA], "userName": login, "active": True}
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


async def create_group(
    client: httpx.AsyncClient, *, members: Sequence[str] = (), name: str = ""
) -> dict[str, Any]:
    """Create a group holding `members`; return its representation."""
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": name or f"Group {secrets.token_hex(5)}",
        "members": [{"value": member} for member in members],
    }
    response = await client.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    group: dict[str, Any] = response.json()
    return group


async def patch_group(
    client: httpx.AsyncClient, group_id: str, *operations: dict[str, Any]
) -> httpx.Response:
    """Send a PatchOp with these operations."""
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return await client.patch(f"/Groups/{group_id}", json=body)


def add(*user_ids: str) -> dict[str, Any]:
    """The operation Okta adds members with."""
    return {
        "op": "add",
        "path": "members",
        "value": [{"value": user_id} for user_id in user_ids],
    }


async def member_ids(client: httpx.AsyncClient, group_id: str) -> set[str]:
    """Return the members a GET of the group lists."""
    response = await client.get(f"/Groups/{group_id}")
    assert response.status_code == 200, response.text
    return {member["value"] for member in response.json().get("members", [])}


async def stored_group(database: AsyncEngine, group_id: str) -> dict[str, Any]:
    """Return what the database holds about a group: row, members, audit, events."""
    gid = uuid.UUID(group_id)
    # One snapshot for every read, so that a change committing between them
    # cannot pair the old version with the new members.
    async with database.connect() as raw:
        connection = await raw.execution_options(isolation_level="REPEATABLE READ")
        row = (
            await connection.execute(
                select(ScimGroup.display_name, ScimGroup.version).where(
                    ScimGroup.group_id == gid
                )
            )
        ).one_or_none()
        members = set(
            (
                await connection.execute(
                    select(GroupMembership.user_id).where(
                        GroupMembership.group_id == gid
                    )
                )
            ).scalars()
        )
        audits = (
            await connection.execute(
                select(func.count()).where(GroupAudit.group_id == gid)
            )
        ).scalar_one()
        events = (
            await connection.execute(
                select(func.count()).where(
                    GroupOutboxEvent.payload["cause"]["group_id"].astext == group_id
                )
            )
        ).scalar_one()
    return {
        "display_name": None if row is None else row.display_name,
        "version": None if row is None else row.version,
        "members": {str(member) for member in members},
        "audit_rows": audits,
        "role_events": events,
    }
