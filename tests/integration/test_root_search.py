"""POST /.search at the root (RFC 7644 §3.4.3) and the /Me alias (§3.11).

A root search lists the org's Users, then its Groups, so startIndex and count
page through both as one sequence. /Me answers 501: tokens authenticate
identity providers, not end users.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _search(scim: httpx.Client, path: str = "/.search", **fields: Any) -> Any:
    return scim.post(path, json={"schemas": [SEARCH], **fields})


@pytest.fixture
def resources(scim: httpx.Client) -> dict[str, list[str]]:
    """Two users and two groups of a fresh org, each in the order it is listed."""
    users = []
    for _ in range(2):
        created = scim.post(
            "/Users", json={"userName": f"{uuid.uuid4().hex}@example.test"}
        )
        assert created.status_code == 201, created.text
        users.append(created.json()["id"])
    groups = []
    for _ in range(2):
        created = scim.post("/Groups", json={"displayName": f"T {uuid.uuid4().hex}"})
        assert created.status_code == 201, created.text
        groups.append(created.json()["id"])
    return {"User": users, "Group": groups}


def test_a_root_search_lists_users_then_groups(
    scim: httpx.Client, resources: dict[str, list[str]]
) -> None:
    response = _search(scim)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalResults"] == 4
    assert [(r["meta"]["resourceType"], r["id"]) for r in body["Resources"]] == [
        *(("User", user_id) for user_id in resources["User"]),
        *(("Group", group_id) for group_id in resources["Group"]),
    ]


def test_root_search_pages_cross_from_users_to_groups_without_gap_or_repeat(
    scim: httpx.Client, resources: dict[str, list[str]]
) -> None:
    everything = [*resources["User"], *resources["Group"]]

    pages = []
    for start in (1, 2, 3, 4, 5):
        response = _search(scim, startIndex=start, count=1)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["totalResults"] == 4
        assert body["startIndex"] == start
        pages.append([r["id"] for r in body["Resources"]])
    middle = _search(scim, startIndex=2, count=2).json()

    assert pages == [[resource_id] for resource_id in everything] + [[]]
    assert [r["id"] for r in middle["Resources"]] == everything[1:3]
    assert middle["itemsPerPage"] == 2


def test_a_root_filter_applies_to_the_types_that_define_its_attribute(
    scim: httpx.Client, resources: dict[str, list[str]]
) -> None:
    group = scim.get(f"/Groups/{resources['Group'][0]}").json()

    by_name = _search(scim, filter=f'displayName eq "{group["displayName"]}"')
    by_user_name = _search(scim, filter="userName pr", attributes=["userName"])

    assert [r["id"] for r in by_name.json()["Resources"]] == [group["id"]]
    listed = by_user_name.json()
    assert [r["id"] for r in listed["Resources"]] == resources["User"]
    assert all(set(r) == {"schemas", "id", "userName"} for r in listed["Resources"])


@pytest.mark.parametrize(
    ("fields", "status", "scim_type"),
    [
        ({"filter": "nothingLikeIt eq 1"}, 400, "invalidFilter"),
        ({"filter": "userName eq"}, 400, "invalidFilter"),
        ({"sortBy": "meta.created"}, 400, "invalidValue"),
    ],
)
def test_a_root_search_no_type_can_serve_is_refused(
    scim: httpx.Client, fields: dict[str, Any], status: int, scim_type: str
) -> None:
    response = _search(scim, **fields)

    assert response.status_code == status, response.text
    assert response.json()["scimType"] == scim_type


def test_groups_search_request_pages_and_selects(
    scim: httpx.Client, resources: dict[str, list[str]]
) -> None:
    response = _search(
        scim, "/Groups/.search", startIndex=2, count=1, excludedAttributes=["meta"]
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalResults"] == 2
    assert [r["id"] for r in body["Resources"]] == resources["Group"][1:]
    assert "meta" not in body["Resources"][0]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/Me", "/Me/anything"])
def test_me_is_not_implemented_in_scim_form(
    scim: httpx.Client, method: str, path: str
) -> None:
    response = scim.request(method, path, json={} if method != "GET" else None)

    assert response.status_code == 501
    assert response.headers["content-type"].startswith("application/scim+json")
    error = response.json()
    assert error["schemas"] == [ERROR]
    assert error["status"] == "501"
    assert "identity providers, not end users" in error["detail"]


def test_me_without_a_token_is_401(scim: httpx.Client) -> None:
    response = httpx.get(scim.base_url.join("Me"))

    assert response.status_code == 401
