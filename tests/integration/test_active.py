"""`active` as a client sees it: the lifecycle state, unassigned meaning ACTIVE.

A user created without `active` is ACTIVE and shows no `active`; one whose
`active` is removed by PATCH is ACTIVE again (REACTIVATE in its audit trail)
and reads back without it, as RFC 7643 §2.5 has an unassigned attribute.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import OrgCredentials
from tests.integration.stack import Stack

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _patch(client: httpx.Client, url: str, operation: dict[str, Any]) -> Any:
    response = client.patch(
        url, json={"schemas": [PATCH_OP], "Operations": [operation]}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _active_ids(client: httpx.Client, value: str) -> set[str]:
    listed = client.get("/Users", params={"filter": f"active eq {value}"})
    assert listed.status_code == 200, listed.text
    return {resource["id"] for resource in listed.json()["Resources"]}


def test_removing_active_makes_the_user_active_and_leaves_active_unassigned(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    with httpx.Client(
        base_url=stack.scim_url, headers=scim_org.auth, timeout=30
    ) as client:
        created = client.post(
            "/Users", json={"userName": f"{uuid.uuid4().hex}@example.test"}
        )
        assert created.status_code == 201, created.text
        user = created.json()
        url = f"/Users/{user['id']}"
        assert "active" not in user
        assert user["id"] in _active_ids(client, "true")

        deactivated = _patch(
            client, url, {"op": "replace", "path": "active", "value": False}
        )
        assert deactivated["active"] is False
        assert user["id"] in _active_ids(client, "false")

        removed = _patch(client, url, {"op": "remove", "path": "active"})
        read = client.get(url).json()
        active_again = user["id"] in _active_ids(client, "true")

    assert "active" not in removed
    assert "active" not in read
    assert active_again
    audit = httpx.get(
        f"{stack.base_url}/admin/orgs/{scim_org.name}/users/{user['id']}/audit",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=10,
    )
    assert [c["action"] for c in audit.json()["changes"]] == [
        "PROVISION",
        "DEACTIVATE",
        "REACTIVATE",
    ]
