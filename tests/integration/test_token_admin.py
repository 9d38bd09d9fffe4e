"""The admin API end to end: orgs, SCIM tokens, admin credentials, the audit log."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.bearer_tokens import CredentialKind, is_well_formed
from services.identity.models import AdminAudit, ScimToken
from tests.integration.stack import ROOT, Stack


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def admin(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client on the gateway holding the bootstrap admin credential."""
    with httpx.Client(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
async def admin_async(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The same, for tests that also read the database."""
    async with httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
    ) as client:
        yield client


def _scim(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.scim_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_orgs_are_created_once_and_listed_with_their_live_tokens(
    admin: httpx.Client,
) -> None:
    name = _org()

    created = admin.post("/admin/orgs", json={"name": name})
    again = admin.post("/admin/orgs", json={"name": name})
    admin.post(f"/admin/orgs/{name}/tokens").raise_for_status()
    revoked = admin.post(f"/admin/orgs/{name}/tokens").json()
    admin.post(f"/admin/orgs/{name}/tokens/{revoked['token_id']}/revoke")
    listing = admin.get("/admin/orgs")

    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    [listed] = [org for org in listing.json()["orgs"] if org["name"] == name]
    assert listed["org_id"] == created.json()["org_id"]
    assert listed["live_tokens"] == 1


@pytest.mark.parametrize(
    # Names the router can deliver: "a/b" and "." never reach a route.
    "name",
    ["Acme", "acme%20corp", "-acme", "a" * 65, "%C3%A9cole", "acme~x", "_x"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/orgs/{org}/tokens"),
        ("GET", "/admin/orgs/{org}/tokens"),
        ("POST", "/admin/orgs/{org}/tokens/rotate"),
    ],
)
def test_a_bad_org_name_is_a_400_not_a_404(
    admin: httpx.Client, name: str, method: str, path: str
) -> None:
    response = admin.request(method, path.format(org=name), json={"grace_seconds": 60})

    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert "org name" in response.json()["detail"]


@pytest.mark.parametrize("name", ["Acme", "acme corp", "", "a" * 65, "école"])
def test_creating_an_org_with_a_bad_name_is_a_400(
    admin: httpx.Client, name: str
) -> None:
    response = admin.post("/admin/orgs", json={"name": name})

    assert response.status_code == 400, response.text
    assert "org name" in response.json()["detail"]


def test_an_unknown_org_is_a_404(admin: httpx.Client) -> None:
    response = admin.get(f"/admin/orgs/{_org()}/tokens")

    assert response.status_code == 404


async def test_a_token_is_listed_with_its_use_but_stored_and_shown_only_hashed(
    stack: Stack, admin_async: httpx.AsyncClient, database: AsyncEngine
) -> None:
    org = _org()
    admin = admin_async
    issued = (
        await admin.post(
            f"/admin/orgs/{org}/tokens",
            json={"name": "Okta production", "expires_in_seconds": 86400},
        )
    ).json()
    before_use = (await admin.get(f"/admin/orgs/{org}/tokens")).json()["tokens"]
    async with httpx.AsyncClient(
        base_url=stack.scim_url,
        headers={"Authorization": f"Bearer {issued['token']}"},
    ) as scim:
        assert (await scim.get("/Users")).status_code == 200
    after_use = await admin.get(f"/admin/orgs/{org}/tokens")

    assert is_well_formed(issued["token"], kind=CredentialKind.SCIM)
    [token] = after_use.json()["tokens"]
    assert token["token_id"] == issued["token_id"]
    assert token["name"] == "Okta production"
    assert issued["token"].startswith(token["prefix"])
    assert len(token["prefix"]) == len("rvn_scim_") + 4
    assert token["state"] == "active"
    assert token["created_at"] and token["expires_at"]
    assert token["revoked_at"] is None
    assert before_use[0]["last_used_at"] is None
    assert token["last_used_at"] is not None
    assert issued["token"] not in after_use.text
    assert after_use.headers["cache-control"] == "no-store"

    async with database.connect() as connection:
        row = (
            await connection.execute(
                select(ScimToken).where(
                    ScimToken.token_id == uuid.UUID(issued["token_id"])
                )
            )
        ).one()
    stored = json.dumps([str(value) for value in row], default=str)
    assert issued["token"] not in stored
    assert row.token_hash == hashlib.sha256(issued["token"].encode()).hexdigest()


def test_an_expiry_can_be_set_moved_and_cleared(
    stack: Stack, admin: httpx.Client
) -> None:
    org = _org()
    issued = admin.post(f"/admin/orgs/{org}/tokens").json()
    token_url = f"/admin/orgs/{org}/tokens/{issued['token_id']}"

    later = admin.patch(token_url, json={"expires_in_seconds": 3600})
    past = admin.patch(token_url, json={"expires_at": "2001-01-01T00:00:00Z"})
    with _scim(stack, issued["token"]) as scim:
        while_expired = scim.get("/Users").status_code
    cleared = admin.patch(token_url, json={"expires_at": None})
    with _scim(stack, issued["token"]) as scim:
        after_clearing = scim.get("/Users").status_code

    assert later.status_code == 200 and later.json()["expires_at"]
    assert past.json()["state"] == "expired"
    assert while_expired == 401
    assert cleared.json()["expires_at"] is None
    assert cleared.json()["state"] == "active"
    assert after_clearing == 200


def test_revoking_is_final_and_idempotent(stack: Stack, admin: httpx.Client) -> None:
    org = _org()
    issued = admin.post(f"/admin/orgs/{org}/tokens").json()
    revoke = f"/admin/orgs/{org}/tokens/{issued['token_id']}/revoke"

    first = admin.post(revoke)
    second = admin.post(revoke)
    extend = admin.patch(
        f"/admin/orgs/{org}/tokens/{issued['token_id']}", json={"expires_at": None}
    )

    assert first.status_code == second.status_code == 200
    assert first.json()["revoked_at"] == second.json()["revoked_at"]
    assert extend.status_code == 400
    with _scim(stack, issued["token"]) as scim:
        assert scim.get("/Users").status_code == 401


def test_a_token_is_managed_only_through_its_own_org(admin: httpx.Client) -> None:
    mine, theirs = _org(), _org()
    issued = admin.post(f"/admin/orgs/{mine}/tokens").json()
    admin.post(f"/admin/orgs/{theirs}/tokens").raise_for_status()

    revoke = admin.post(f"/admin/orgs/{theirs}/tokens/{issued['token_id']}/revoke")
    listing = admin.get(f"/admin/orgs/{theirs}/tokens")

    assert revoke.status_code == 404
    assert issued["token_id"] not in listing.text


def test_rotation_with_several_live_tokens_must_name_one(admin: httpx.Client) -> None:
    org = _org()
    first = admin.post(f"/admin/orgs/{org}/tokens").json()
    admin.post(f"/admin/orgs/{org}/tokens").raise_for_status()

    unnamed = admin.post(f"/admin/orgs/{org}/tokens/rotate", json={"grace_seconds": 60})
    named = admin.post(
        f"/admin/orgs/{org}/tokens/rotate",
        json={"grace_seconds": 60, "token_id": first["token_id"]},
    )

    assert unnamed.status_code == 400
    assert "name the one to rotate" in unnamed.json()["detail"]
    assert named.status_code == 201, named.text
    assert named.json()["retired"]["token_id"] == first["token_id"]


ADMIN_ROUTES = [
    ("POST", "/admin/orgs", {"name": "by-a-scim-token"}),
    ("GET", "/admin/orgs", None),
    ("POST", "/admin/orgs/{org}/tokens", None),
    ("GET", "/admin/orgs/{org}/tokens", None),
    ("POST", "/admin/orgs/{org}/tokens/rotate", {"grace_seconds": 0}),
    ("POST", "/admin/orgs/{org}/tokens/{token_id}/revoke", None),
    ("PATCH", "/admin/orgs/{org}/tokens/{token_id}", {"expires_at": None}),
    ("POST", "/admin/credentials", {"name": "by-a-scim-token"}),
    ("GET", "/admin/credentials", None),
    ("GET", "/admin/audit", None),
]


async def test_admin_api_refuses_scim_tokens_and_changes_nothing(
    stack: Stack, admin_async: httpx.AsyncClient, database: AsyncEngine
) -> None:
    org = _org()
    issued = (await admin_async.post(f"/admin/orgs/{org}/tokens")).json()
    audit_before = await _audit_rows(database)

    answers = []
    async with httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {issued['token']}"},
        timeout=30,
    ) as client:
        for method, path, body in ADMIN_ROUTES:
            url = path.format(org=org, token_id=issued["token_id"])
            answers.append(await client.request(method, url, json=body))

    for response in answers:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await _audit_rows(database) == audit_before
    listing = await admin_async.get(f"/admin/orgs/{org}/tokens")
    assert [token["state"] for token in listing.json()["tokens"]] == ["active"]


async def _audit_rows(database: AsyncEngine) -> int:
    async with database.connect() as connection:
        return len((await connection.execute(select(AdminAudit.audit_id))).all())


def test_an_issued_admin_credential_works_until_revoked(
    stack: Stack, admin: httpx.Client
) -> None:
    created = admin.post("/admin/credentials", json={"name": "ops on-call"})
    credential = created.json()
    with httpx.Client(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {credential['token']}"},
        timeout=30,
    ) as ops:
        before = ops.post("/admin/orgs", json={"name": _org()})
        admin.post(
            f"/admin/credentials/{credential['credential_id']}/revoke"
        ).raise_for_status()
        after = ops.get("/admin/orgs")
    listing = admin.get("/admin/credentials")

    assert created.status_code == 201, created.text
    assert is_well_formed(credential["token"], kind=CredentialKind.ADMIN)
    assert before.status_code == 201, before.text
    assert after.status_code == 401
    kinds = {c["credential_id"]: c["kind"] for c in listing.json()["credentials"]}
    assert kinds[credential["credential_id"]] == "ISSUED"
    assert "BOOTSTRAP" in kinds.values()
    assert credential["token"] not in listing.text
    assert stack.admin_token not in listing.text


def test_the_bootstrap_credential_cannot_be_revoked_through_the_api(
    admin: httpx.Client,
) -> None:
    admin.get("/admin/orgs").raise_for_status()
    credentials = admin.get("/admin/credentials").json()["credentials"]
    bootstrap = next(c for c in credentials if c["kind"] == "BOOTSTRAP")

    response = admin.post(f"/admin/credentials/{bootstrap['credential_id']}/revoke")

    assert response.status_code == 400
    assert "RIVANE_ADMIN_TOKEN" in response.json()["detail"]


async def test_every_admin_change_lands_in_the_admin_audit_log(
    admin_async: httpx.AsyncClient, database: AsyncEngine
) -> None:
    org = _org()
    request_ids = iter(f"audit-{uuid.uuid4().hex[:8]}-{n}" for n in range(100))

    async def call(method: str, path: str, body: Any = None) -> Any:
        response = await admin_async.request(
            method, path, json=body, headers={"X-Request-Id": next(request_ids)}
        )
        response.raise_for_status()
        return response.json()

    tokens = f"/admin/orgs/{org}/tokens"
    await call("POST", "/admin/orgs", {"name": org})
    first = await call("POST", tokens, {"name": "first"})
    await call("PATCH", f"{tokens}/{first['token_id']}", {"expires_at": None})
    await call("PATCH", f"{tokens}/{first['token_id']}", {"expires_in_seconds": 600})
    rotated = await call("POST", f"{tokens}/rotate", {"grace_seconds": 60})
    await call("POST", f"{tokens}/{first['token_id']}/revoke")
    await call("POST", f"{tokens}/{first['token_id']}/revoke")
    listed = (await call("GET", f"/admin/audit?org={org}"))["entries"]
    only_revocations = await call("GET", f"/admin/audit?org={org}&action=REVOKE_TOKEN")

    # Newest first; the no-op (clearing an absent expiry, revoking twice) is
    # not a change and writes nothing.
    assert [entry["action"] for entry in listed] == [
        "REVOKE_TOKEN",
        "ROTATE_TOKEN",
        "SET_TOKEN_EXPIRY",
        "CREATE_TOKEN",
        "CREATE_ORG",
    ]
    assert [e["action"] for e in only_revocations["entries"]] == ["REVOKE_TOKEN"]
    assert {entry["actor"]["name"] for entry in listed} == {"bootstrap"}
    assert all(entry["request_id"].startswith("audit-") for entry in listed)
    assert listed[1]["target"] == rotated["token_id"]
    assert listed[1]["details"]["retired_token_id"] == first["token_id"]
    assert listed[0]["target"] == first["token_id"]

    async with database.connect() as connection:
        rows = (
            await connection.execute(
                select(AdminAudit.details).where(
                    AdminAudit.org_id == uuid.UUID(listed[0]["org_id"])
                )
            )
        ).all()
    stored = json.dumps([row.details for row in rows])
    for secret in (first["token"], rotated["token"]):
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() not in stored


def _scimctl(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RIVANE_GATEWAY_URL": stack.base_url,
        "RIVANE_ADMIN_TOKEN": stack.admin_token,
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("scimctl")), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_scimctl_creates_rotates_lists_and_revokes_tokens(stack: Stack) -> None:
    org = _org()

    created = _scimctl(stack, "token", "create", "--org", org)
    rotated = _scimctl(stack, "token", "rotate", "--org", org, "--grace", "24h")
    listed = _scimctl(stack, "token", "list", "--org", org, "--json")
    tokens = json.loads(listed.stdout)["tokens"]
    table = _scimctl(stack, "token", "list", "--org", org)
    retired = next(t for t in tokens if t["state"] == "active" and t["expires_at"])
    revoked = _scimctl(
        stack, "token", "revoke", "--org", org, "--token", retired["token_id"]
    )

    assert created.returncode == 0, created.stderr
    assert is_well_formed(created.stdout.strip(), kind=CredentialKind.SCIM)
    assert created.stdout.count("\n") == 1
    assert rotated.returncode == 0, rotated.stderr
    assert is_well_formed(rotated.stdout.strip(), kind=CredentialKind.SCIM)
    assert "keeps working until" in rotated.stderr
    assert len(tokens) == 2
    assert table.stdout.splitlines()[0].startswith("ID")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    with (
        _scim(stack, created.stdout.strip()) as old,
        _scim(stack, rotated.stdout.strip()) as new,
    ):
        assert old.get("/Users").status_code == 401
        assert new.get("/Users").status_code == 200
