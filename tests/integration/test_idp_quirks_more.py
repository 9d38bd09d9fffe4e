"""What Okta, Entra ID and HR clients send beyond the replayed cases.

Each test names a request that once got a 500 or a silent wrong answer, and
checks what the client sees now and that a refused request wrote nothing.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.conftest import OrgCredentials
from tests.integration.test_bad_input import writes

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# Longer than the 16 KiB of gRPC trailers that carry an error to the gateway.
LONG = "x" * 20_000


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_scim_error(
    response: httpx.Response, status: int, scim_type: str | None
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]


async def create_user(client: httpx.AsyncClient, **attributes: Any) -> dict[str, Any]:
    body = {
        "schemas": [USER_SCHEMA],
        "userName": f"{uuid.uuid4().hex[:12]}@example.test",
        **attributes,
    }
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_group(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {"schemas": [GROUP_SCHEMA], "displayName": f"Team {uuid.uuid4().hex}"}
    response = await client.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_pathless_value_keyed_by_a_value_filter_writes_through_it(
    client: httpx.AsyncClient, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    # Entra keys a path-less replace by paths; a filtered one was dropped
    # with a 200, so the IdP believed it had changed the work email.
    user = await create_user(
        client, emails=[{"value": "old@example.test", "type": "work"}]
    )
    body = patch(
        {
            "op": "Replace",
            "value": {
                'emails[type eq "work"].value': "new@example.test",
                'phoneNumbers[type eq "mobile"].value': "+1 555 0100",
                "name.familyName": "Lovelace",
            },
        }
    )

    first = await client.patch(f"/Users/{user['id']}", json=body)
    after_first = await writes(database, scim_org)
    again = await client.patch(f"/Users/{user['id']}", json=body)

    assert first.status_code == 200, first.text
    changed = first.json()
    assert changed["emails"] == [{"value": "new@example.test", "type": "work"}]
    assert changed["phoneNumbers"] == [{"value": "+1 555 0100", "type": "mobile"}]
    assert changed["name"] == {"familyName": "Lovelace"}
    # RFC 7644 §3.5.2: the same PATCH again changes nothing and emits nothing.
    assert again.status_code == 200, again.text
    assert again.json()["meta"]["version"] == changed["meta"]["version"]
    assert await writes(database, scim_org) == after_first


async def test_pathless_value_keyed_by_a_malformed_filter_is_invalid_path(
    client: httpx.AsyncClient, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    user = await create_user(client)
    before = await writes(database, scim_org)
    body = patch({"op": "Replace", "value": {"emails[type eq work].value": "x"}})

    response = await client.patch(f"/Users/{user['id']}", json=body)

    assert_scim_error(response, 400, "invalidPath")
    assert await writes(database, scim_org) == before


@pytest.mark.parametrize("resource", ["Users", "Groups"])
async def test_if_match_naming_version_zero_is_412_and_changes_nothing(
    client: httpx.AsyncClient, resource: str
) -> None:
    # W/"0" was read as "no condition" and the write went through.
    if resource == "Users":
        held = await create_user(client)
        operation = {"op": "replace", "path": "title", "value": "Engineer"}
    else:
        held = await create_group(client)
        operation = {"op": "replace", "path": "displayName", "value": "Renamed"}
    location = f"/{resource}/{held['id']}"

    response = await client.patch(
        location, json=patch(operation), headers={"If-Match": 'W/"0"'}
    )

    assert_scim_error(response, 412, None)
    now = (await client.get(location)).json()
    assert now["meta"]["version"] == held["meta"]["version"]


async def test_user_body_naming_only_the_group_schema_is_invalid_syntax(
    client: httpx.AsyncClient, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    # A Group sent to /Users was provisioned as a user.
    user = await create_user(client)
    before = await writes(database, scim_org)
    body = {"schemas": [GROUP_SCHEMA], "userName": "group@example.test"}

    created = await client.post("/Users", json=body)
    replaced = await client.put(f"/Users/{user['id']}", json=body)

    assert_scim_error(created, 400, "invalidSyntax")
    assert_scim_error(replaced, 400, "invalidSyntax")
    assert await writes(database, scim_org) == before


async def test_user_body_with_the_core_schema_in_any_case_is_provisioned(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "schemas": [USER_SCHEMA.upper(), ENTERPRISE],
        "userName": f"{uuid.uuid4().hex[:12]}@example.test",
        ENTERPRISE: {"department": "Research"},
    }

    response = await client.post("/Users", json=body)

    assert response.status_code == 201, response.text
    assert response.json()[ENTERPRISE] == {"department": "Research"}


async def test_group_body_naming_only_the_user_schema_is_invalid_syntax(
    client: httpx.AsyncClient,
) -> None:
    group = await create_group(client)
    body = {"schemas": [USER_SCHEMA], "displayName": f"Team {uuid.uuid4().hex}"}

    created = await client.post("/Groups", json=body)
    replaced = await client.put(f"/Groups/{group['id']}", json=body)

    assert_scim_error(created, 400, "invalidSyntax")
    assert_scim_error(replaced, 400, "invalidSyntax")
    listed = await client.get("/Groups", params={"count": 10})
    assert listed.json()["totalResults"] == 1
    now = (await client.get(f"/Groups/{group['id']}")).json()
    assert now["displayName"] == group["displayName"]


# A request whose error detail quoted what the client sent in full: the
# detail overflowed the trailers and the client got a 500.
LONG_ECHOES = {
    "user-id": ("GET", f"/Users/{LONG}", None, 404, None),
    "group-id": ("GET", f"/Groups/{LONG}", None, 404, None),
    "user-sort": ("GET", f"/Users?sortBy={LONG}", None, 400, "invalidValue"),
    "group-sort": ("GET", f"/Groups?sortBy={LONG}", None, 400, "invalidValue"),
    "user-filter-date": (
        "GET",
        "/Users?filter=" + quote('meta.lastModified gt "' + "€" * 6000 + '"'),
        None,
        400,
        "invalidFilter",
    ),
    "group-filter-date": (
        "GET",
        "/Groups?filter=" + quote('meta.lastModified gt "' + "€" * 6000 + '"'),
        None,
        400,
        "invalidFilter",
    ),
    "user-op": ("PATCH", "/Users/{user}", {"op": LONG}, 400, "invalidSyntax"),
    "group-op": ("PATCH", "/Groups/{group}", {"op": LONG}, 400, "invalidSyntax"),
    "group-member": (
        "PATCH",
        "/Groups/{group}",
        {"op": "add", "path": "members", "value": [{"value": LONG}]},
        400,
        "invalidValue",
    ),
    "new-group-member": ("POST", "/Groups", "member", 400, "invalidValue"),
}


@pytest.mark.parametrize(
    ("method", "path", "operation", "status", "scim_type"),
    LONG_ECHOES.values(),
    ids=LONG_ECHOES.keys(),
)
async def test_long_client_text_in_an_error_gets_the_scim_error_not_500(
    client: httpx.AsyncClient,
    database: AsyncEngine,
    scim_org: OrgCredentials,
    method: str,
    path: str,
    operation: Any,
    status: int,
    scim_type: str | None,
) -> None:
    user, group = await create_user(client), await create_group(client)
    before = await writes(database, scim_org)
    if operation == "member":
        body: Any = {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Long member",
            "members": [{"value": LONG}],
        }
    else:
        body = None if operation is None else patch(operation)

    response = await client.request(
        method, path.format(user=user["id"], group=group["id"]), json=body
    )

    assert_scim_error(response, status, scim_type)
    # The detail names what was wrong without handing the input back whole.
    assert len(response.json()["detail"]) < 1000
    assert await writes(database, scim_org) == before
    now = (await client.get(f"/Groups/{group['id']}")).json()
    assert now["meta"]["version"] == group["meta"]["version"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "/Users", "GET, POST"), ("PUT", "/Groups", "GET, POST")],
)
async def test_wrong_method_names_every_method_the_endpoint_serves(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    # The Allow header said "POST" only, as if /Users could not be listed.
    response = await client.request(method, path)

    assert_scim_error(response, 405, None)
    assert response.headers["allow"] == allowed
