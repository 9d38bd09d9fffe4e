"""Bearer authentication: who may call, and what a refused caller sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from gateway_fakes import SCIM, TOKEN, FakeIdentity, client_for, user_body

from services.common.bearer_tokens import CredentialKind, mint

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
UNKNOWN = mint(CredentialKind.SCIM)


def _assert_scim_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == "401"
    assert body["detail"]


async def test_missing_authorization_is_a_401_without_any_call(
    anonymous: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    response = await anonymous.post(f"{SCIM}/Users", json=user_body())

    _assert_scim_401(response)
    assert fake_identity.calls == []


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer   ",
        "Basic dXNlcjpwYXNz",
        TOKEN,
        "Bearer a b",
    ],
)
async def test_malformed_authorization_is_a_401_without_any_call(
    app: FastAPI, fake_identity: FakeIdentity, authorization: str
) -> None:
    async with client_for(app, Authorization=authorization) as client:
        response = await client.get(f"{SCIM}/Users")

    _assert_scim_401(response)
    assert fake_identity.calls == []


@pytest.mark.parametrize(
    "token",
    [
        # The format of the first tokens, no longer accepted.
        "rvn_not-a-token",
        "rvn_" + "A" * 43,
        # One character changed: the checksum no longer matches.
        TOKEN[:12] + ("B" if TOKEN[12] != "B" else "C") + TOKEN[13:],
        TOKEN[:-1],
        TOKEN + "0",
        TOKEN.replace("rvn_scim_", "rvn_admin_"),
        mint(CredentialKind.ADMIN),
    ],
    ids=["legacy", "legacy-long", "typo", "truncated", "extended", "kind", "admin"],
)
async def test_malformed_token_is_a_401_without_any_call(
    app: FastAPI, fake_identity: FakeIdentity, token: str
) -> None:
    async with client_for(app, Authorization=f"Bearer {token}") as client:
        response = await client.get(f"{SCIM}/Users")

    _assert_scim_401(response)
    assert response.json()["detail"] == "the bearer token is malformed"
    assert fake_identity.calls == []


async def test_unknown_token_is_a_401_and_no_user_rpc_runs(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, Authorization=f"Bearer {UNKNOWN}") as client:
        response = await client.patch(
            f"{SCIM}/Users/some-user",
            json={"Operations": [{"op": "replace", "value": {"active": False}}]},
        )

    _assert_scim_401(response)
    assert fake_identity.calls == ["ResolveToken"]
    assert fake_identity.requests["ResolveToken"].token == UNKNOWN


async def test_expired_token_is_a_401_and_no_user_rpc_runs(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    fake_identity.expiries[TOKEN] = datetime.now(UTC) - timedelta(seconds=1)
    async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
        response = await client.get(f"{SCIM}/Users")

    _assert_scim_401(response)
    assert response.json()["detail"] == "the bearer token has expired"
    assert fake_identity.user_calls() == []


async def test_token_before_its_expiry_works(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    fake_identity.expiries[TOKEN] = datetime.now(UTC) + timedelta(minutes=5)
    async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
        response = await client.get(f"{SCIM}/Users")

    assert response.status_code == 200


async def test_unknown_token_is_refused_before_the_body_is_read(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, Authorization=f"Bearer {UNKNOWN}") as client:
        response = await client.post(
            f"{SCIM}/Users", content=b"{broken", headers={"Content-Type": "text/xml"}
        )

    _assert_scim_401(response)
    assert fake_identity.user_calls() == []


async def test_scheme_name_is_case_insensitive(app: FastAPI) -> None:
    async with client_for(app, Authorization=f"bearer {TOKEN}") as client:
        response = await client.get(f"{SCIM}/Users")

    assert response.status_code == 200


async def test_every_user_route_requires_a_token(
    anonymous: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    calls = [
        anonymous.get(f"{SCIM}/Users"),
        anonymous.get(f"{SCIM}/Users/u1"),
        anonymous.post(f"{SCIM}/Users/.search", json={}),
        anonymous.put(f"{SCIM}/Users/u1", json=user_body()),
        anonymous.patch(f"{SCIM}/Users/u1", json={}),
        anonymous.delete(f"{SCIM}/Users/u1"),
    ]
    for call in calls:
        _assert_scim_401(await call)
    assert fake_identity.calls == []


async def test_two_authorization_headers_are_a_401_without_any_call(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    # Each could name another org; the first one was used before.
    async with client_for(app) as client:
        response = await client.post(
            f"{SCIM}/Users",
            json=user_body(),
            headers=[
                ("Authorization", f"Bearer {TOKEN}"),
                ("Authorization", f"Bearer {UNKNOWN}"),
            ],
        )

    _assert_scim_401(response)
    assert fake_identity.calls == []
