"""Listing and searching users: paging as RFC 7644 §3.4.2.4 normalises it."""

from __future__ import annotations

import httpx
import pytest
from gateway_fakes import ORG_ID, SCIM, FakeIdentity, user_body

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


async def _create(client: httpx.AsyncClient, *names: str) -> None:
    for name in names:
        response = await client.post(f"{SCIM}/Users", json=user_body(name))
        assert response.status_code == 201


async def test_list_without_parameters_uses_the_defaults(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    await _create(client, "a@example.test", "b@example.test")

    response = await client.get(f"{SCIM}/Users")

    assert response.status_code == 200
    body = response.json()
    assert body["schemas"] == [LIST_SCHEMA]
    assert body["totalResults"] == 2
    assert body["startIndex"] == 1
    assert body["itemsPerPage"] == 2
    assert [user["userName"] for user in body["Resources"]] == [
        "a@example.test",
        "b@example.test",
    ]
    assert all(user["meta"]["location"].startswith(SCIM) for user in body["Resources"])
    request = fake_identity.requests["ListUsers"]
    assert (request.org_id, request.start_index, request.count) == (ORG_ID, 1, 100)
    assert (request.filter, request.sort_by, request.sort_order) == ("", "", "")


@pytest.mark.parametrize(
    ("query", "start_index", "count"),
    [
        ("startIndex=0&count=1", 1, 1),
        ("startIndex=-7", 1, 100),
        ("count=-5", 1, 0),
        ("count=5000", 1, 1000),
        ("startIndex=3&count=2", 3, 2),
        ("startIndex=99999999999", 2**31 - 1, 100),
    ],
)
async def test_paging_parameters_are_normalised(
    client: httpx.AsyncClient,
    fake_identity: FakeIdentity,
    query: str,
    start_index: int,
    count: int,
) -> None:
    response = await client.get(f"{SCIM}/Users?{query}")

    assert response.status_code == 200
    assert response.json()["startIndex"] == start_index
    request = fake_identity.requests["ListUsers"]
    assert (request.start_index, request.count) == (start_index, count)


async def test_count_zero_returns_only_the_total(
    client: httpx.AsyncClient,
) -> None:
    await _create(client, "a@example.test")

    body = (await client.get(f"{SCIM}/Users?count=0")).json()

    assert body["totalResults"] == 1
    assert body["itemsPerPage"] == 0
    assert body["Resources"] == []


async def test_second_page_keeps_its_start_index(client: httpx.AsyncClient) -> None:
    await _create(client, "a@example.test", "b@example.test", "c@example.test")

    body = (await client.get(f"{SCIM}/Users?startIndex=3&count=2")).json()

    assert body["totalResults"] == 3
    assert body["startIndex"] == 3
    assert body["itemsPerPage"] == 1
    assert body["Resources"][0]["userName"] == "c@example.test"


async def test_filter_and_sorting_are_passed_to_the_service(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    await _create(client, "ada@example.test")

    response = await client.get(
        f"{SCIM}/Users",
        params={
            "filter": 'userName eq "ADA@example.test"',
            "sortBy": "userName",
            "sortOrder": "Descending",
        },
    )

    assert response.json()["totalResults"] == 1
    request = fake_identity.requests["ListUsers"]
    assert request.filter == 'userName eq "ADA@example.test"'
    assert (request.sort_by, request.sort_order) == ("userName", "descending")


async def test_unknown_sort_order_is_an_invalid_value(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    response = await client.get(f"{SCIM}/Users?sortOrder=sideways")

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert fake_identity.user_calls() == []


async def test_search_reads_its_query_from_the_body(
    client: httpx.AsyncClient, fake_identity: FakeIdentity
) -> None:
    await _create(client, "ada@example.test")
    search = {
        "schemas": [SEARCH_SCHEMA],
        "filter": 'userName eq "ada@example.test"',
        "startIndex": 0,
        "count": 10,
        "attributes": ["userName"],
    }

    response = await client.post(f"{SCIM}/Users/.search", json=search)

    assert response.status_code == 200
    body = response.json()
    assert body["totalResults"] == 1
    assert body["startIndex"] == 1
    assert set(body["Resources"][0]) == {"schemas", "id", "userName"}
    request = fake_identity.requests["ListUsers"]
    assert (request.start_index, request.count) == (1, 10)


@pytest.mark.parametrize(
    "search",
    [
        {"filter": "userName pr"},
        {"schemas": [SEARCH_SCHEMA], "count": "ten"},
        {"schemas": [SEARCH_SCHEMA], "count": True},
        {"schemas": [SEARCH_SCHEMA], "attributes": "userName"},
    ],
)
async def test_malformed_search_is_a_400_without_a_call(
    client: httpx.AsyncClient, fake_identity: FakeIdentity, search: dict[str, object]
) -> None:
    response = await client.post(f"{SCIM}/Users/.search", json=search)

    assert response.status_code == 400
    assert response.json()["scimType"] in ("invalidSyntax", "invalidValue")
    assert fake_identity.user_calls() == []
