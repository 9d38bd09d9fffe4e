"""Every failure is a SCIM Error body: from the service, the framework, or us."""

from __future__ import annotations

import logging
import socket

import grpc
import httpx
import pytest
from fastapi import FastAPI
from gateway_fakes import SCIM, TOKEN, FakeIdentity, client_for, user_body

from gateway.app import create_app
from services.common.errors import InvalidPath, Mutability
from services.common.settings import StackSettings

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def _assert_scim_error(
    response: httpx.Response, status: int, scim_type: str | None = None
) -> dict[str, str]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    if scim_type is None:
        assert "scimType" not in body
    else:
        assert body["scimType"] == scim_type
    assert "<html" not in response.text.lower()
    return body


async def test_uniqueness_from_the_service_is_a_409_with_scim_type(
    client: httpx.AsyncClient,
) -> None:
    await client.post(f"{SCIM}/Users", json=user_body("ada@example.test"))

    response = await client.post(f"{SCIM}/Users", json=user_body("ADA@example.test"))

    body = _assert_scim_error(response, 409, "uniqueness")
    assert "taken" in body["detail"]


async def test_invalid_value_from_the_service_is_a_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{SCIM}/Users", json={"schemas": [], "name": {"givenName": "No"}}
    )

    _assert_scim_error(response, 400, "invalidValue")


async def test_invalid_filter_from_the_service_is_a_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{SCIM}/Users", params={"filter": "userName eq"})

    _assert_scim_error(response, 400, "invalidFilter")


@pytest.mark.parametrize(
    ("error", "status", "scim_type"),
    [
        (Mutability("id is readOnly"), 400, "mutability"),
        (InvalidPath("no such path"), 400, "invalidPath"),
    ],
)
async def test_scim_type_of_any_service_error_reaches_the_client(
    client: httpx.AsyncClient,
    fake_identity: FakeIdentity,
    error: Exception,
    status: int,
    scim_type: str,
) -> None:
    fake_identity.failures["PatchUser"] = error

    response = await client.patch(f"{SCIM}/Users/u1", json={"Operations": []})

    body = _assert_scim_error(response, status, scim_type)
    assert body["detail"] == str(error)


@pytest.mark.parametrize(
    "path", ["/scim/v2/Nope", "/scim/v2/Groups/a/b", "/scim/v2/Users/a/b", "/nowhere"]
)
async def test_unknown_path_is_a_scim_404_never_html(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={"Accept": "text/html"})

    _assert_scim_error(response, 404)


async def test_wrong_method_is_a_scim_405_with_allow(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete(f"{SCIM}/Users")

    _assert_scim_error(response, 405)
    assert response.headers["allow"]


@pytest.mark.parametrize("query", ["startIndex=first", "count=many", "startIndex=1.5"])
async def test_bad_query_parameters_are_a_scim_400(
    client: httpx.AsyncClient, fake_identity: FakeIdentity, query: str
) -> None:
    response = await client.get(f"{SCIM}/Users?{query}")

    body = _assert_scim_error(response, 400, "invalidValue")
    assert "first" not in body["detail"] and "many" not in body["detail"]
    assert fake_identity.user_calls() == []


async def test_unexpected_failure_is_a_generic_500_logged_once(
    client: httpx.AsyncClient,
    fake_identity: FakeIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_identity.failures["GetUser"] = RuntimeError("database exploded at row 7")

    with caplog.at_level(logging.INFO):
        response = await client.get(f"{SCIM}/Users/u1")

    body = _assert_scim_error(response, 500)
    assert body["detail"] == "internal server error"
    assert "exploded" not in response.text
    assert "Traceback" not in response.text
    errors = [
        r
        for r in caplog.records
        if r.name.startswith("gateway") and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert response.headers["x-request-id"]


async def test_unreachable_identity_service_is_a_503(
    settings: StackSettings,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = create_app(
        settings.model_copy(update={"identity_addr": f"127.0.0.1:{closed_port}"})
    )

    async with app.router.lifespan_context(app):
        async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
            response = await client.get(f"{SCIM}/Users")

    body = _assert_scim_error(response, 503)
    assert "unavailable" in body["detail"]


async def test_service_reported_unavailable_is_a_503(
    app: FastAPI, fake_identity: FakeIdentity
) -> None:
    fake_identity.failures["ResolveToken"] = grpc.StatusCode.UNAVAILABLE

    async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
        response = await client.get(f"{SCIM}/Users")

    _assert_scim_error(response, 503)
