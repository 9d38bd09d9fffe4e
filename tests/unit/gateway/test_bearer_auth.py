"""Bearer authentication: who may call, and what a refused caller sees."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from gateway_fakes import SCIM, FakeIdentity, client_for, user_body

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


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
        "rvn_unit-test-token",
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


async def test_unknown_token_is_a_401_and_no_user_rpc_runs(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, Authorization="Bearer rvn_not-a-token") as client:
        response = await client.patch(
            f"{SCIM}/Users/some-user",
            json={"Operations": [{"op": "replace", "value": {"active": False}}]},
        )

    _assert_scim_401(response)
    assert fake_identity.calls == ["ResolveToken"]
    assert fake_identity.requests["ResolveToken"].token == "rvn_not-a-token"


async def test_unknown_token_is_refused_before_the_body_is_read(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    async with client_for(app, Authorization="Bearer rvn_not-a-token") as client:
        response = await client.post(
            f"{SCIM}/Users", content=b"{broken", headers={"Content-Type": "text/xml"}
        )

    _assert_scim_401(response)
    assert fake_identity.user_calls() == []


async def test_scheme_name_is_case_insensitive(app: FastAPI) -> None:
    async with client_for(app, Authorization="bearer rvn_unit-test-token") as client:
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
                ("Authorization", "Bearer rvn_unit-test-token"),
                ("Authorization", "Bearer rvn_another-org-token"),
            ],
        )

    _assert_scim_401(response)
    assert fake_identity.calls == []
