"""The admin API's credentials: the configured one, issued ones, and the rest."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, TOKEN, FakeIdentity, client_for
from identity_admin_fakes import BOOTSTRAP_ID, ISSUED_ADMIN_ID, FakeIdentityAdmin

from gateway.admin import AdminTokenMissing, load_admin_token
from gateway.app import create_app
from services.common.bearer_tokens import CredentialKind, is_well_formed, mint
from services.common.settings import StackSettings

ADMIN_ROUTES = [
    ("POST", "/admin/orgs"),
    ("GET", "/admin/orgs"),
    ("POST", "/admin/orgs/acme/tokens"),
    ("GET", "/admin/orgs/acme/tokens"),
    ("POST", "/admin/orgs/acme/tokens/rotate"),
    ("POST", "/admin/orgs/acme/tokens/some-id/revoke"),
    ("PATCH", "/admin/orgs/acme/tokens/some-id"),
    ("POST", "/admin/credentials"),
    ("GET", "/admin/credentials"),
    ("POST", "/admin/credentials/some-id/revoke"),
    ("GET", "/admin/audit"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-admin-token",
        f"Bearer {TOKEN}",
        f"Bearer {mint(CredentialKind.SCIM)}",
        ADMIN_TOKEN,
    ],
    ids=["missing", "wrong", "scim-token", "another-scim-token", "no-scheme"],
)
async def test_admin_api_refuses_anyone_else_without_a_call(
    app: FastAPI,
    fake_identity: FakeIdentity,
    fake_identity_admin: FakeIdentityAdmin,
    authorization: str | None,
    method: str,
    path: str,
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client_for(app, **headers) as client:
        response = await client.request(method, path, json={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == "401"
    assert fake_identity.calls == []
    assert fake_identity_admin.calls == []


async def test_bootstrap_credential_acts_under_its_registered_id(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    async with client_for(app, Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = await admin.post(
            "/admin/orgs", json={"name": "acme"}, headers={"X-Request-Id": "req-42"}
        )

    assert response.status_code == 201, response.text
    registered = fake_identity_admin.requests["RegisterBootstrapAdmin"]
    assert len(registered.token_hash) == 64
    assert ADMIN_TOKEN not in str(registered)
    change = fake_identity_admin.requests["CreateOrg"].admin
    assert (change.credential_id, change.request_id) == (BOOTSTRAP_ID, "req-42")


async def test_an_issued_admin_credential_opens_the_admin_api(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    secret = fake_identity_admin.issue_admin_secret()
    async with client_for(app, Authorization=f"Bearer {secret}") as admin:
        response = await admin.post("/admin/orgs", json={"name": "acme"})

    assert response.status_code == 201, response.text
    assert fake_identity_admin.requests["ResolveAdminCredential"].secret == secret
    assert fake_identity_admin.requests["CreateOrg"].admin.credential_id == (
        ISSUED_ADMIN_ID
    )


async def test_an_unknown_admin_credential_is_a_401(
    app: FastAPI, fake_identity_admin: FakeIdentityAdmin
) -> None:
    unknown = mint(CredentialKind.ADMIN)
    async with client_for(app, Authorization=f"Bearer {unknown}") as admin:
        response = await admin.get("/admin/orgs")

    assert response.status_code == 401
    assert fake_identity_admin.calls == ["ResolveAdminCredential"]


def test_admin_token_comes_from_the_file_when_not_set(tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    configured = mint(CredentialKind.ADMIN)
    token_file.write_text(configured + "\n")
    settings = StackSettings(
        environment="prod", admin_token="", admin_token_file=str(token_file)
    )

    assert load_admin_token(settings) == configured


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


def test_gateway_refuses_a_short_admin_token_outside_dev(tmp_path: Path) -> None:
    settings = StackSettings(
        environment="prod",
        admin_token="changeme",
        admin_token_file=str(tmp_path / "missing"),
    )

    with pytest.raises(AdminTokenMissing):
        load_admin_token(settings)


def test_dev_generates_a_private_admin_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "data" / "admin-token"
    settings = StackSettings(
        environment="dev", admin_token="", admin_token_file=str(token_file)
    )

    token = load_admin_token(settings)

    assert is_well_formed(token, kind=CredentialKind.ADMIN)
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert load_admin_token(settings) == token
