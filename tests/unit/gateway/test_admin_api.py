"""The admin API that issues SCIM tokens, and the credential that guards it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, SCIM, TOKEN, FakeIdentity, client_for

from gateway.admin import AdminTokenMissing, load_admin_token
from gateway.app import create_app
from services.common.settings import StackSettings


async def test_admin_token_issues_a_scim_token_that_works(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.post(
            "/admin/orgs/acme/tokens", json={"description": "Okta production"}
        )

    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    assert set(issued) == {"org_id", "token_id", "token"}
    request = fake_identity.requests["CreateToken"]
    assert (request.org_name, request.description) == ("acme", "Okta production")

    async with client_for(app, Authorization=f"Bearer {issued['token']}") as scim:
        assert (await scim.get(f"{SCIM}/Users")).status_code == 200


async def test_token_request_body_is_optional(app: FastAPI) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.post("/admin/orgs/acme/tokens")

    assert response.status_code == 201


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-admin-token", f"Bearer {TOKEN}", ADMIN_TOKEN]
)
async def test_admin_api_refuses_anyone_else(
    app: FastAPI, fake_identity: FakeIdentity, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client_for(app, **headers) as client:
        response = await client.post("/admin/orgs/acme/tokens", json={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert fake_identity.calls == []


def test_admin_token_comes_from_the_file_when_not_set(tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("rvnadm_from-file\n")
    settings = StackSettings(
        environment="prod", admin_token="", admin_token_file=str(token_file)
    )

    assert load_admin_token(settings) == "rvnadm_from-file"


def test_gateway_refuses_to_start_outside_dev_without_admin_token(
    tmp_path: Path,
) -> None:
    settings = StackSettings(
        environment="prod",
        admin_token="",
        admin_token_file=str(tmp_path / "missing"),
    )

    with pytest.raises(AdminTokenMissing):
        create_app(settings)


def test_dev_generates_a_private_admin_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "data" / "admin-token"
    settings = StackSettings(
        environment="dev", admin_token="", admin_token_file=str(token_file)
    )

    token = load_admin_token(settings)

    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert load_admin_token(settings) == token


async def test_admin_api_rejects_a_non_string_description(
    app: FastAPI,
) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.post("/admin/orgs/acme/tokens", json={"description": 7})

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"


async def test_admin_api_refuses_broken_json(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.post(
            "/admin/orgs/acme/tokens",
            content=b"{nope",
            headers={"Content-Type": "application/json"},
        )

    assert response.status_code == 400
    assert fake_identity.calls == []
