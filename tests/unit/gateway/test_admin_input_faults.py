"""Bad input to the admin API and the sessions endpoint: a 400, never a call."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, client_for
from identity_admin_fakes import FakeIdentityAdmin

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.parametrize(
    "name",
    [
        "Okta\x1b[2J",  # a terminal escape: `scimctl token list` would obey it
        "Okta\nproduction",
        "Okta\x7f",
        "Okta\x85",  # C1 next line
        "\u202eatkO",  # right-to-left override: shows as "Okta"
        "Okta\u2066",
    ],
)
async def test_a_token_name_with_a_control_character_is_a_400_without_a_call(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin, name: str
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post("/admin/orgs/acme/tokens", json={"name": name})

    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert "control characters" in response.json()["detail"]
    assert "IssueToken" not in fake_identity_admin.calls


async def test_an_org_name_with_a_control_character_is_a_400_without_a_call(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post("/admin/orgs", json={"name": "acme\x00\x1b"})

    assert response.status_code == 400, response.text
    assert "CreateOrg" not in fake_identity_admin.calls


async def test_a_token_name_in_any_script_is_still_accepted(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, **ADMIN) as admin:
        response = await admin.post(
            "/admin/orgs/acme/tokens", json={"name": "Entra ID, Zürich 東京 ✓"}
        )

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Entra ID, Zürich 東京 ✓"


@pytest.mark.parametrize("ttl", [2**31, 10**23, -1])
async def test_a_session_ttl_out_of_range_is_a_400(app: FastAPI, ttl: int) -> None:
    async with client_for(app, **ADMIN) as internal:
        response = await internal.post(
            "/sessions",
            json={
                "org_id": "00000000-0000-0000-0000-000000000001",
                "user_id": "00000000-0000-0000-0000-000000000002",
                "ttl_seconds": ttl,
            },
        )

    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert "ttl_seconds" in response.json()["detail"]
