"""The admin API for an org's SCIM tokens, against a fake identity service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, SCIM, FakeIdentity, client_for
from identity_admin_fakes import FakeIdentityAdmin

from services.common.bearer_tokens import CredentialKind, is_well_formed

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_an_issued_token_is_shown_once_and_works(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post(
            "/admin/orgs/acme/tokens", json={"description": "Okta production"}
        )
        listing = await admin.get("/admin/orgs/acme/tokens")

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    assert is_well_formed(issued["token"], kind=CredentialKind.SCIM)
    assert issued["token"].startswith(issued["prefix"])
    assert issued["name"] == "Okta production"
    assert issued["state"] == "active"
    request = fake_identity_admin.requests["IssueToken"]
    assert (request.org_name, request.create_org) == ("acme", True)
    assert [token["token_id"] for token in listing.json()["tokens"]] == [
        issued["token_id"]
    ]
    assert issued["token"] not in listing.text

    async with client_for(app, Authorization=f"Bearer {issued['token']}") as scim:
        assert (await scim.get(f"{SCIM}/Users")).status_code == 200


async def test_token_request_body_is_optional(app: FastAPI) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post("/admin/orgs/acme/tokens")

    assert response.status_code == 201


async def test_expires_in_seconds_becomes_an_expiry_time(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post(
            "/admin/orgs/acme/tokens", json={"expires_in_seconds": 3600}
        )

    assert response.status_code == 201
    sent = fake_identity_admin.requests["IssueToken"].expires_at.ToDatetime(UTC)
    assert abs(sent - datetime.now(UTC) - timedelta(hours=1)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "body",
    [
        {"description": 7},
        {"name": ["x"]},
        {"expires_at": "2030-01-01T00:00:00"},
        {"expires_at": "next tuesday"},
        {"expires_in_seconds": -1},
        {"expires_in_seconds": True},
        {"expires_at": "2030-01-01T00:00:00Z", "expires_in_seconds": 60},
    ],
)
async def test_a_bad_token_request_is_a_400_without_a_call(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin, body: dict[str, Any]
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post("/admin/orgs/acme/tokens", json=body)

    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert "IssueToken" not in fake_identity_admin.calls


async def test_admin_api_refuses_broken_json(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post(
            "/admin/orgs/acme/tokens",
            content=b"{nope",
            headers={"Content-Type": "application/json"},
        )

    assert response.status_code == 400
    assert "IssueToken" not in fake_identity_admin.calls


async def test_rotation_needs_a_grace_period(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post("/admin/orgs/acme/tokens/rotate", json={})

    assert response.status_code == 400
    assert "grace_seconds" in response.json()["detail"]
    assert "RotateToken" not in fake_identity_admin.calls


async def test_an_expiry_change_needs_an_expiry(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.patch("/admin/orgs/acme/tokens/some-id", json={})

    assert response.status_code == 400
    assert "SetTokenExpiry" not in fake_identity_admin.calls


async def test_a_revoked_token_stops_working(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, **ADMIN) as admin:
        issued = (await admin.post("/admin/orgs/acme/tokens")).json()
        revoked = await admin.post(
            f"/admin/orgs/acme/tokens/{issued['token_id']}/revoke"
        )

    assert revoked.status_code == 200
    assert revoked.json()["state"] == "revoked"
    async with client_for(app, Authorization=f"Bearer {issued['token']}") as scim:
        assert (await scim.get(f"{SCIM}/Users")).status_code == 401
