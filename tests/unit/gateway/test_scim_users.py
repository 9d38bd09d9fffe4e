"""The /Users endpoint as an IdP sees it: statuses, bodies, headers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from gateway_fakes import (
    ORG_ID,
    SCIM,
    TOKEN,
    TOKEN_ID,
    FakeIdentity,
    client_for,
    user_body,
)

from gateway.app import create_app
from services.common.settings import StackSettings

SCIM_JSON = "application/scim+json"


async def _create(
    client: httpx.AsyncClient, user_name: str = "ada@example.test"
) -> dict:
    response = await client.post(f"{SCIM}/Users", json=user_body(user_name))
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_user_answers_201_with_location_etag_and_meta(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"{SCIM}/Users", json=user_body())

    assert response.status_code == 201
    assert response.headers["content-type"].startswith(SCIM_JSON)
    user = response.json()
    location = f"{SCIM}/Users/{user['id']}"
    assert response.headers["location"] == location
    assert response.headers["etag"] == 'W/"1"'
    assert user["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]
    assert user["userName"] == "ada@example.test"
    assert user["meta"]["resourceType"] == "User"
    assert user["meta"]["location"] == location
    assert user["meta"]["version"] == 'W/"1"'
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", user["meta"]["created"]
    )
    assert user["meta"]["lastModified"] == user["meta"]["created"]


async def test_create_user_never_returns_the_password(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{SCIM}/Users", json=user_body(password="Generated-Pa55")
    )

    assert response.status_code == 201
    assert "password" not in response.json()


async def test_create_user_acts_for_the_tokens_org_only(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    response = await client.post(
        f"{SCIM}/Users?org_id=someone-else",
        json=user_body(org_id="someone-else"),
        headers={"X-Org-Id": "someone-else"},
    )

    assert response.status_code == 201
    assert fake_identity.requests["CreateUser"].org_id == ORG_ID


async def test_create_user_sends_the_audit_context(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = await client.post(
        f"{SCIM}/Users", json=user_body(), headers={"X-Request-Id": "idp-req-42"}
    )

    assert response.headers["x-request-id"] == "idp-req-42"
    context = fake_identity.requests["CreateUser"].context
    assert context.request_id == "idp-req-42"
    assert context.token_id == TOKEN_ID
    received = context.received_at.ToDatetime(tzinfo=UTC)
    assert before <= received <= datetime.now(UTC)


async def test_request_without_id_gets_a_generated_uuid(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    response = await client.post(f"{SCIM}/Users", json=user_body())

    request_id = response.headers["x-request-id"]
    assert uuid.UUID(request_id).version == 4
    assert fake_identity.requests["CreateUser"].context.request_id == request_id


async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{SCIM}/Users", headers={"X-Request-Id": "bad id\twith spaces"}
    )

    assert uuid.UUID(response.headers["x-request-id"])


async def test_location_uses_the_public_base_url(
    settings: StackSettings,
) -> None:
    public = settings.model_copy(
        update={"public_base_url": "https://scim.rivane.example/"}
    )
    app = create_app(public)
    async with app.router.lifespan_context(app):
        async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
            response = await client.post(f"{SCIM}/Users", json=user_body())

    user_id = response.json()["id"]
    expected = f"https://scim.rivane.example/scim/v2/Users/{user_id}"
    assert response.headers["location"] == expected
    assert response.json()["meta"]["location"] == expected


async def test_get_user_renders_id_meta_and_etag(client: httpx.AsyncClient) -> None:
    created = await _create(client)

    response = await client.get(f"{SCIM}/Users/{created['id']}")

    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    assert response.json() == created


async def test_get_unknown_user_is_a_scim_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{SCIM}/Users/no-such-id")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith(SCIM_JSON)
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "404"
    assert "scimType" not in body
    assert body["detail"]


async def test_put_user_replaces_and_bumps_the_version(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    created = await _create(client)
    body = user_body(active=False, id=created["id"])

    response = await client.put(
        f"{SCIM}/Users/{created['id']}", json=body, headers={"If-Match": 'W/"1"'}
    )

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert response.json()["meta"]["created"] == created["meta"]["created"]
    assert response.headers["etag"] == 'W/"2"'
    request = fake_identity.requests["ReplaceUser"]
    assert request.expected_version == 1
    assert request.context.token_id == TOKEN_ID


async def test_put_without_if_match_expects_no_version(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    created = await _create(client)

    await client.put(f"{SCIM}/Users/{created['id']}", json=user_body())

    assert fake_identity.requests["ReplaceUser"].expected_version == 0


async def test_put_with_a_stale_if_match_is_a_412(client: httpx.AsyncClient) -> None:
    created = await _create(client)

    response = await client.put(
        f"{SCIM}/Users/{created['id']}", json=user_body(), headers={"If-Match": 'W/"7"'}
    )

    assert response.status_code == 412
    assert response.json()["status"] == "412"


async def test_malformed_if_match_is_a_412_without_a_call(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    created = await _create(client)

    response = await client.put(
        f"{SCIM}/Users/{created['id']}", json=user_body(), headers={"If-Match": "abc"}
    )

    assert response.status_code == 412
    assert "ReplaceUser" not in fake_identity.calls


async def test_patch_user_answers_200_with_the_user(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    created = await _create(client)
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }

    response = await client.patch(
        f"{SCIM}/Users/{created['id']}", json=patch, headers={"If-Match": 'W/"1"'}
    )

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert response.json()["id"] == created["id"]
    assert response.headers["etag"] == response.json()["meta"]["version"] == 'W/"2"'
    request = fake_identity.requests["PatchUser"]
    assert request.expected_version == 1
    assert request.context.request_id == response.headers["x-request-id"]


async def test_delete_user_answers_204_without_a_body(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    created = await _create(client)

    response = await client.delete(f"{SCIM}/Users/{created['id']}")

    assert response.status_code == 204
    assert response.content == b""
    request = fake_identity.requests["DeleteUser"]
    assert request.org_id == ORG_ID
    assert request.context.token_id == TOKEN_ID
    assert (await client.get(f"{SCIM}/Users/{created['id']}")).status_code == 404


async def test_trailing_slash_is_served_without_a_redirect(
    client: httpx.AsyncClient,
) -> None:
    # A body-less 307 before, to a Location built from the client's Host header.
    created = await client.post(f"{SCIM}/Users/", json=user_body())

    assert created.status_code == 201
    user = created.json()
    fetched = await client.get(f"{SCIM}/Users/{user['id']}/")
    listed = await client.get(f"{SCIM}/Users/")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == user["id"]
    assert listed.status_code == 200
    assert listed.json()["totalResults"] == 1
