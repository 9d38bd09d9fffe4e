"""Tokens select the org: a refused token changes nothing, another org sees nothing."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.bearer_tokens import CredentialKind, mint
from services.identity.models import (
    AdminAudit,
    Org,
    OutboxEvent,
    ProvisioningAudit,
    ScimToken,
    User,
)
from tests.integration.conftest import OrgCredentials, create_org_token, new_org
from tests.integration.stack import Stack

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _typo(token: str) -> str:
    """Return `token` with one character of its secret changed."""
    position = len(CredentialKind.SCIM.prefix) + 5
    replacement = "x" if token[position] != "x" else "y"
    return token[:position] + replacement + token[position + 1 :]


STATIC_AUTHORIZATION: dict[str, str | None] = {
    "missing": None,
    "basic": "Basic dXNlcjpwYXNzd29yZA==",
    "empty-bearer": "Bearer",
    "bearer-two-words": "Bearer rvn_one two",
    "foreign-format": "Bearer not-a-token",
    "legacy-format": f"Bearer rvn_{secrets.token_urlsafe(32)}",
    "bad-checksum": f"Bearer {_typo(mint(CredentialKind.SCIM))}",
    "unknown-token": f"Bearer {mint(CredentialKind.SCIM)}",
}
# Tokens that were real: made by the `dead_tokens` fixture.
DEAD = ("revoked-token", "expired-token")


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


def group_body(name: str, *members: str) -> dict[str, Any]:
    """A SCIM Group body with `members` (user ids)."""
    return {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": member} for member in members],
    }


def deactivate_body() -> dict[str, Any]:
    """A path-less PATCH that deactivates a user, as Okta sends it."""
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }


def rename_body(name: str) -> dict[str, Any]:
    """A PATCH that renames a group."""
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "displayName", "value": name}],
    }


def assert_scim_error(response: httpx.Response, status: int) -> None:
    """Check an RFC 7644 §3.12 error: the status, the schema, status as a string."""
    assert response.status_code == status, response.text
    body = response.json()
    assert ERROR_SCHEMA in body.get("schemas", []), body
    # RFC 7644 §3.12: "status" is a string in the error body.
    assert body.get("status") == str(status), body


async def db_state(
    database: AsyncEngine, user_id: str, *, acting: uuid.UUID | None = None
) -> dict[str, Any]:
    """Row counts of the tables a request could change, every token, one user.

    The `acting` token's last use is left out: a request it authenticates may
    record it.
    """
    async with database.connect() as connection:
        counts = {
            table.__tablename__: (
                await connection.execute(select(func.count()).select_from(table))
            ).scalar_one()
            for table in (User, ProvisioningAudit, OutboxEvent, Org, AdminAudit)
        }
        counts["scim_group"] = (
            await connection.execute(text("SELECT count(*) FROM scim_group"))
        ).scalar_one()
        tokens = (
            await connection.execute(
                select(
                    ScimToken.token_id,
                    ScimToken.last_used_at,
                    ScimToken.expires_at,
                    ScimToken.revoked_at,
                ).order_by(ScimToken.token_id)
            )
        ).all()
        row = (
            await connection.execute(
                select(
                    User.status, User.version, User.attributes, User.updated_at
                ).where(User.user_id == uuid.UUID(user_id))
            )
        ).one()
    snapshot = [
        (t.token_id, None if t.token_id == acting else t.last_used_at, *t[2:])
        for t in tokens
    ]
    return {**counts, "tokens": snapshot, "user": tuple(row)}


@pytest.fixture(scope="module")
def dead_tokens(stack: Stack) -> Iterator[dict[str, str]]:
    """A token revoked and a token expired, both of an org that still exists."""
    org = f"dead-{uuid.uuid4().hex[:12]}"
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    tokens = f"{stack.base_url}/admin/orgs/{org}/tokens"
    with httpx.Client(headers=admin, timeout=10) as client:
        revoked = client.post(tokens, json={"name": "to revoke"}).json()
        client.post(f"{tokens}/{revoked['token_id']}/revoke").raise_for_status()
        expired = client.post(tokens, json={"name": "to expire"}).json()
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        client.patch(
            f"{tokens}/{expired['token_id']}", json={"expires_at": past}
        ).raise_for_status()
    yield {
        "revoked-token": f"Bearer {revoked['token']}",
        "expired-token": f"Bearer {expired['token']}",
    }


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
        "create-group": ("POST", "/Groups", group_body("intruders", uid)),
    }


@pytest.mark.parametrize("attempt", list(_attempts("u")))
@pytest.mark.parametrize("authorization", [*STATIC_AUTHORIZATION, *DEAD])
async def test_refused_token_gets_401_and_changes_nothing(
    stack: Stack,
    database: AsyncEngine,
    dead_tokens: dict[str, str],
    victim: str,
    authorization: str,
    attempt: str,
) -> None:
    method, path, body = _attempts(victim)[attempt]
    headers = {"Content-Type": "application/scim+json"}
    value = {**STATIC_AUTHORIZATION, **dead_tokens}[authorization]
    if value is not None:
        headers["Authorization"] = value
    before = await db_state(database, victim)

    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.request(method, path, json=body, headers=headers)

    assert_scim_error(response, 401)
    # RFC 6750 §3: the challenge names the scheme.
    assert response.headers["www-authenticate"].startswith("Bearer")
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
    before = await db_state(database, victim, acting=other.token_id)

    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.request(method, path, json=body, headers=other.auth)

    assert_scim_error(response, 404)
    assert await db_state(database, victim, acting=other.token_id) == before


async def test_other_org_lists_filters_and_searches_without_the_user(
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
        answers = [
            await client.get(
                "/Users",
                params={"filter": f'userName eq "{login}"'},
                headers=other.auth,
            ),
            await client.get(
                "/Users",
                params={"filter": f'externalId eq "{external_id}"'},
                headers=other.auth,
            ),
            await client.get(
                "/Users", params={"filter": f'id eq "{uid}"'}, headers=other.auth
            ),
            await client.post(
                "/Users/.search",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": f'userName eq "{login}"',
                },
                headers=other.auth,
            ),
        ]
        own = await client.get(
            "/Users", params={"filter": f'userName eq "{login}"'}, headers=scim_org.auth
        )

    assert listing.status_code == 200, listing.text
    assert uid not in [r["id"] for r in listing.json().get("Resources", [])]
    for response in answers:
        assert response.status_code in (200, 400), response.text
        assert uid not in response.text
        if response.status_code == 200:
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


@pytest.fixture
async def victim_group(
    stack: Stack, scim_org: OrgCredentials, victim: str
) -> tuple[str, str]:
    """A group of `scim_org` with `victim` as its member: (group id, name)."""
    name = f"owners-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.post(
            "/Groups", json=group_body(name, victim), headers=scim_org.auth
        )
    assert response.status_code == 201, response.text
    return response.json()["id"], name


async def _group_as_owner(
    stack: Stack, owner: OrgCredentials, group_id: str
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.get(f"/Groups/{group_id}", headers=owner.auth)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("attempt", ["read", "replace", "patch", "delete"])
async def test_other_org_gets_404_on_a_group_and_changes_nothing(
    stack: Stack,
    database: AsyncEngine,
    scim_org: OrgCredentials,
    victim_group: tuple[str, str],
    attempt: str,
) -> None:
    group_id, _ = victim_group
    other = await new_org(stack, database)
    method, path, body = {
        "read": ("GET", f"/Groups/{group_id}", None),
        "replace": ("PUT", f"/Groups/{group_id}", group_body("taken")),
        "patch": ("PATCH", f"/Groups/{group_id}", rename_body("taken")),
        "delete": ("DELETE", f"/Groups/{group_id}", None),
    }[attempt]
    before = await _group_as_owner(stack, scim_org, group_id)

    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.request(method, path, json=body, headers=other.auth)

    assert_scim_error(response, 404)
    assert await _group_as_owner(stack, scim_org, group_id) == before


async def test_other_org_lists_filters_and_searches_without_the_group(
    stack: Stack, database: AsyncEngine, victim: str, victim_group: tuple[str, str]
) -> None:
    group_id, name = victim_group
    other = await new_org(stack, database)
    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        answers = [
            await client.get("/Groups", headers=other.auth),
            await client.get(
                "/Groups",
                params={"filter": f'displayName eq "{name}"'},
                headers=other.auth,
            ),
            await client.get(
                "/Groups",
                params={"filter": f'members.value eq "{victim}"'},
                headers=other.auth,
            ),
            await client.post(
                "/Groups/.search",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": f'displayName eq "{name}"',
                },
                headers=other.auth,
            ),
        ]

    for response in answers:
        assert response.status_code == 200, response.text
        assert group_id not in response.text
        assert victim not in response.text


async def test_another_orgs_user_cannot_join_a_group(
    stack: Stack, database: AsyncEngine, victim: str
) -> None:
    other = await new_org(stack, database)
    before = await db_state(database, victim, acting=other.token_id)

    async with httpx.AsyncClient(base_url=stack.scim_url, timeout=30) as client:
        response = await client.post(
            "/Groups", json=group_body("borrowed", victim), headers=other.auth
        )

    assert_scim_error(response, 400)
    assert await db_state(database, victim, acting=other.token_id) == before


def test_a_token_of_a_new_org_sees_an_empty_org(stack: Stack) -> None:
    token = create_org_token(stack, f"org-{uuid.uuid4().hex[:12]}")
    with httpx.Client(
        base_url=stack.scim_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        users = client.get("/Users").json()
        groups = client.get("/Groups").json()

    assert (users["totalResults"], groups["totalResults"]) == (0, 0)
