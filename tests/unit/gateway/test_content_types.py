"""Request bodies: media types, charsets and broken JSON (RFC 7644 §3.1, §8.1)."""

from __future__ import annotations

import json

import httpx
import pytest
from gateway_fakes import SCIM, FakeIdentity, user_body

BODY = json.dumps(user_body()).encode()


@pytest.mark.parametrize(
    "content_type",
    [
        "application/scim+json",
        "application/scim+json; charset=utf-8",
        "application/scim+json;charset=UTF-8",
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ],
)
async def test_json_media_types_are_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        f"{SCIM}/Users", content=BODY, headers={"Content-Type": content_type}
    )

    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/scim+json")


async def test_body_without_content_type_is_read_as_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"{SCIM}/Users", content=BODY)

    assert response.status_code == 201


async def test_a_body_starting_with_a_byte_order_mark_is_read(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    response = await client.post(
        f"{SCIM}/Users",
        content=b"\xef\xbb\xbf" + BODY,
        headers={"Content-Type": "application/scim+json"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["userName"] == user_body()["userName"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/scim+json; charset=iso-8859-1"],
)
async def test_other_media_types_are_a_scim_415(
    client: httpx.AsyncClient, fake_identity: FakeIdentity, content_type: str
) -> None:
    response = await client.post(
        f"{SCIM}/Users", content=BODY, headers={"Content-Type": content_type}
    )

    assert response.status_code == 415
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.json()["status"] == "415"
    assert fake_identity.user_calls() == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": ',
            "json",
        ),
        (b"", "empty"),
        (b"[1, 2]", "array"),
        (b'"a string"', "string"),
        (b"\xff\xfe{}", "utf-8"),
    ],
)
async def test_broken_bodies_are_invalid_syntax(
    client: httpx.AsyncClient, fake_identity: FakeIdentity, raw: bytes, why: str
) -> None:
    response = await client.post(
        f"{SCIM}/Users",
        content=raw,
        headers={"Content-Type": "application/scim+json; charset=utf-8"},
    )

    assert response.status_code == 400, why
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "400"
    assert body["scimType"] == "invalidSyntax"
    assert fake_identity.user_calls() == []


async def test_responses_are_scim_json_whatever_the_accept_header(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{SCIM}/Users", headers={"Accept": "*/*"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/scim+json")


async def test_oversized_body_is_a_scim_413_without_a_call(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    body = user_body(displayName="x" * (2 * 1024 * 1024))

    response = await client.post(f"{SCIM}/Users", json=body)

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.json()["status"] == "413"
    assert fake_identity.user_calls() == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userName": "ada", "displayName": "a\\u0000b"}',
        b'{"userName": "ada\\ud800"}',
        b'{"userName": "ada", "name\\u0000": "x"}',
    ],
)
async def test_text_postgresql_cannot_store_is_invalid_value_without_a_call(
    client: httpx.AsyncClient, fake_identity: FakeIdentity, raw: bytes
) -> None:
    # The identity service answered these with a 500, or crashed the gateway.
    response = await client.post(f"{SCIM}/Users", content=raw)

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert fake_identity.user_calls() == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userName": "ada", "x": NaN}',
        b'{"userName": "ada", "x": -Infinity}',
        b'{"userName": "ada", "x": ' + b"[" * 40 + b"]" * 40 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
async def test_non_json_constants_and_deep_nesting_are_invalid_syntax(
    client: httpx.AsyncClient, fake_identity: FakeIdentity, raw: bytes
) -> None:
    response = await client.post(f"{SCIM}/Users", content=raw)

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"
    assert fake_identity.user_calls() == []


async def test_search_filter_with_an_unpaired_surrogate_is_invalid_value(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    # Protobuf cannot encode it: the gateway failed with a 500 before.
    raw = (
        b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],'
        b' "filter": "userName eq \\"\\udc00\\""}'
    )

    response = await client.post(f"{SCIM}/Users/.search", content=raw)

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert fake_identity.user_calls() == []
