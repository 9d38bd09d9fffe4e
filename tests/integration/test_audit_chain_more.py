"""The audit chain as an auditor reads it: what it keeps, what it withholds.

Each test runs in an org of its own against the real stack.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.models import ProvisioningAudit
from tests.integration.conftest import OrgCredentials, new_org
from tests.integration.stack import Stack

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BADGE = "urn:example:scim:schemas:extension:badge:1.0:User"
BADGE_SCHEMA: dict[str, Any] = {
    "id": BADGE,
    "name": "Badge",
    "attributes": [
        {"name": "site", "type": "string"},
        {"name": "pin", "type": "string", "returned": "never"},
    ],
}


def _admin(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=f"{stack.base_url}/admin",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
    )


def _scim(stack: Stack, org: OrgCredentials) -> httpx.Client:
    headers = {"Content-Type": "application/scim+json", **org.auth}
    return httpx.Client(base_url=stack.scim_url, headers=headers, timeout=30)


def _badge_user(name: str, pin: str) -> dict[str, Any]:
    return {
        "schemas": [USER, BADGE],
        "userName": name,
        BADGE: {"site": "Leeds", "pin": pin},
    }


async def _audit_rows(database: AsyncEngine, user_id: str) -> list[Any]:
    async with database.connect() as connection:
        result = await connection.execute(
            select(
                ProvisioningAudit.action,
                ProvisioningAudit.token_id,
                ProvisioningAudit.before,
                ProvisioningAudit.after,
            )
            .where(ProvisioningAudit.user_id == uuid.UUID(user_id))
            .order_by(ProvisioningAudit.version)
        )
        return list(result)


async def test_a_never_returned_value_stays_out_of_the_audit_trail(
    stack: Stack, database: AsyncEngine
) -> None:
    org = await new_org(stack, database)
    with _admin(stack) as admin:
        registered = admin.post(f"/orgs/{org.name}/schemas", json=BADGE_SCHEMA)
    assert registered.status_code == 201, registered.text
    with _scim(stack, org) as client:
        single = client.post("/Users", json=_badge_user("ada@x.test", "4821"))
        uid = single.json()["id"]
        changed = client.patch(
            f"/Users/{uid}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": f"{BADGE}:pin", "value": "9137"}
                ],
            },
        )
        bulk = client.post(
            "/Bulk",
            json={
                "schemas": [BULK_REQUEST],
                "Operations": [
                    {
                        "method": "POST",
                        "path": "/Users",
                        "bulkId": "b1",
                        "data": _badge_user("bob@x.test", "5560"),
                    }
                ],
            },
        )
    assert single.status_code == 201, single.text
    assert changed.status_code == 200, changed.text
    assert bulk.status_code == 200, bulk.text
    bulk_uid = bulk.json()["Operations"][0]["location"].rsplit("/", 1)[1]

    rows = await _audit_rows(database, uid) + await _audit_rows(database, bulk_uid)
    assert [row.action for row in rows] == ["PROVISION", "UPDATE", "PROVISION"]
    for row in rows:
        # The trail names the change and the token, never the secret itself.
        kept = json.dumps([row.before, row.after])
        assert not any(pin in kept for pin in ("4821", "9137", "5560"))
        assert row.after["attributes"][BADGE] == {"site": "Leeds"}
        assert row.after["withheld_changed"] == [f"{BADGE}:pin"]
        assert row.token_id == org.token_id

    # The admin API shows the same: who made each change and what it changed.
    with _admin(stack) as admin:
        shown = admin.get(f"/orgs/{org.name}/users/{uid}/audit")
    assert shown.status_code == 200, shown.text
    provision, update = shown.json()["changes"]
    assert (provision["source"], provision["token_id"]) == ("SCIM", str(org.token_id))
    assert provision["before"] is None
    assert update["before"]["attributes"][BADGE] == {"site": "Leeds"}
    assert update["after"]["withheld_changed"] == [f"{BADGE}:pin"]
    assert not any(pin in shown.text for pin in ("4821", "9137"))


async def test_the_audit_chain_of_a_user_the_org_never_had_is_not_found(
    stack: Stack, database: AsyncEngine
) -> None:
    org = await new_org(stack, database)
    with _scim(stack, org) as client:
        uid = client.post("/Users", json={"userName": "cy@x.test"}).json()["id"]
    other = await new_org(stack, database)
    with _admin(stack) as admin:
        own = admin.get(f"/orgs/{org.name}/users/{uid}/audit")
        foreign = admin.get(f"/orgs/{other.name}/users/{uid}/audit")
        unknown = admin.get(f"/orgs/{org.name}/users/{uuid.uuid4()}/audit")

    assert own.status_code == 200
    assert [change["action"] for change in own.json()["changes"]] == ["PROVISION"]
    assert foreign.status_code == 404
    assert unknown.status_code == 404
