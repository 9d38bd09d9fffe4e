"""Tokens select the org: a bad token changes nothing, another org sees nothing."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.models import OutboxEvent, ProvisioningAudit, User
from tests.integration.conftest import OrgCredentials, new_org
from tests.integration.stack import Stack

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"

BAD_AUTHORIZATION: dict[str, str | None] = {
    "missing": None,
    "basic": "Basic dXNlcjpwYXNzd29yZA==",
    "empty-bearer": "Bearer",
    "bearer-two-words": "Bearer rvn_one two",
    "unknown-token": f"Bearer rvn_{secrets.token_urlsafe(32)}",
    "foreign-format": "Bearer not-a-token",
}


def user_body(login: str, *, external_id: str | None = None) -> dict[str, Any]:
    """A SCIM User body for `login`."""
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": login,
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"type": "work", "value": login, "primary": True}],
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


def deactivate_body() -> dict[str, Any]:
    """A path-less PATCH that deactivates a user, as Okta sends it."""
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }


def assert_scim_error(response: httpx.Response, status: int) -> None:
    """Check an RFC 7644 §3.12 error: the status, the schema, status as a string."""
    assert response.status_code == status, response.text
    body = response.json()
    assert ERROR_SCHEMA in body.get("schemas", []), body
    # RFC 7644 §3.12: "status" is a string in the error body.
    assert body.get("status") == str(status), body


async def db_state(database: AsyncEngine, user_id: str) -> dict[str, Any]:
    """Counts of the provisioning tables and the stored row of one user."""
    async with database.connect() as connection:
        counts = {
            table.__tablename__: (
                await connection.execute(select(func.count()).select_from(table))
            ).scalar_one()
            for table in (User, ProvisioningAudit, OutboxEvent)
        }
        row = (
            await connection.execute(
                select(
                    User.status, User.version, User.attributes, User.updated_at
                ).where(User.user_id == uuid.UUID(user_id))
            )
        ).one()
    return {**counts, "user": tuple(row)}


@pytest.fixture
async def victim(stack: Stack, scim_org: OrgCredentials) -> str:
    """The id of an active user of `scim_org`."""
    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.post(
            "/Users",
            json=user_body(f"victim.{secrets.token_hex(4)}@example.test"),
            headers=scim_org.auth,
        )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def _attempts(uid: str) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    login = f"intruder.{secrets.token_hex(4)}@example.test"
    return {
        "list": ("GET", "/Users", None),
        "create": ("POST", "/Users", user_body(login)),
        "replace": ("PUT", f"/Users/{uid}", user_body(login)),
        "patch": ("PATCH", f"/Users/{uid}", deactivate_body()),
        "delete": ("DELETE", f"/Users/{uid}", None),
    }


@pytest.mark.parametrize("attempt", ["list", "create", "replace", "patch", "delete"])
@pytest.mark.parametrize("authorization", list(BAD_AUTHORIZATION))
async def test_bad_token_gets_401_and_changes_nothing(
    stack: Stack,
    database: AsyncEngine,
    victim: str,
    authorization: str,
    attempt: str,
) -> None:
    method, path, body = _attempts(victim)[attempt]
    headers = {"Content-Type": "application/scim+json"}
    value = BAD_AUTHORIZATION[authorization]
    if value is not None:
        headers["Authorization"] = value
    before = await db_state(database, victim)

    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.request(method, path, json=body, headers=headers)

    assert_scim_error(response, 401)
    assert await db_state(database, victim) == before


@pytest.mark.parametrize("attempt", ["read", "replace", "patch", "delete"])
async def test_other_org_gets_404_on_a_user_and_changes_nothing(
    stack: Stack, database: AsyncEngine, victim: str, attempt: str
) -> None:
    other = await new_org(stack, database)
    method, path, body = {
        "read": ("GET", f"/Users/{victim}", None),
        **{name: _attempts(victim)[name] for name in ("replace", "patch", "delete")},
    }[attempt]
    before = await db_state(database, victim)

    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.request(method, path, json=body, headers=other.auth)

    assert_scim_error(response, 404)
    assert await db_state(database, victim) == before


async def test_other_org_lists_and_filters_without_the_user(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    login = f"private.{secrets.token_hex(4)}@example.test"
    external_id = f"ext-{secrets.token_hex(6)}"
    other = await new_org(stack, database)
    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        created = await client.post(
            "/Users",
            json=user_body(login, external_id=external_id),
            headers=scim_org.auth,
        )
        assert created.status_code == 201, created.text
        uid = created.json()["id"]

        listing = await client.get("/Users", headers=other.auth)
        by_user_name = await client.get(
            "/Users", params={"filter": f'userName eq "{login}"'}, headers=other.auth
        )
        by_external_id = await client.get(
            "/Users",
            params={"filter": f'externalId eq "{external_id}"'},
            headers=other.auth,
        )
        own = await client.get(
            "/Users", params={"filter": f'userName eq "{login}"'}, headers=scim_org.auth
        )

    assert listing.status_code == 200, listing.text
    assert uid not in [r["id"] for r in listing.json().get("Resources", [])]
    for response in (by_user_name, by_external_id):
        assert response.status_code == 200, response.text
        assert response.json()["totalResults"] == 0, response.text
    assert [r["id"] for r in own.json()["Resources"]] == [uid], own.text


async def test_other_org_may_take_the_same_user_name(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    login = f"shared.{secrets.token_hex(4)}@example.test"
    other = await new_org(stack, database)
    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        first = await client.post(
            "/Users", json=user_body(login), headers=scim_org.auth
        )
        second = await client.post("/Users", json=user_body(login), headers=other.auth)

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]
