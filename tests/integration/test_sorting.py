"""sortBy and sortOrder on Users and Groups (RFC 7644 §3.4.2.3), sorted in SQL.

Any simple attribute sorts, sub-attributes and extension attributes too; a
multi-valued one sorts by its primary value, else its first. Text ignores
case unless the attribute is caseExact. Resources without a value come last
ascending and first descending.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _created(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    resource_id: str = response.json()["id"]
    return resource_id


def _listed(scim: httpx.Client, endpoint: str, **params: str) -> list[str]:
    response = scim.get(f"/{endpoint}", params=params)
    assert response.status_code == 200, response.text
    return [resource["id"] for resource in response.json()["Resources"]]


@pytest.fixture
def users(scim: httpx.Client) -> tuple[str, dict[str, str]]:
    """Three users of a fresh org, and a filter that selects them."""
    tag = uuid.uuid4().hex
    bodies: dict[str, dict[str, Any]] = {
        "ada": {
            "name": {"familyName": "lovelace"},
            "externalId": "b-ada",
            "emails": [
                {"value": "z@example.test"},
                {"value": "a@example.test", "primary": True},
            ],
            ENTERPRISE: {"department": "Treasury"},
        },
        "grace": {
            "name": {"familyName": "Hopper"},
            "externalId": "B-grace",
            "emails": [{"value": "m@example.test"}],
        },
        "alan": {
            "name": {"familyName": "Turing"},
            "externalId": "a-alan",
            ENTERPRISE: {"department": "payables"},
        },
    }
    ids = {
        name: _created(
            scim.post("/Users", json={"userName": f"{tag}-{name}@x.test", **body})
        )
        for name, body in bodies.items()
    }
    return f'userName sw "{tag}"', ids


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("name.familyName", "ascending", ["grace", "ada", "alan"]),
        ("name.familyName", "descending", ["alan", "ada", "grace"]),
        # caseExact: "B" sorts before "a" and "b".
        ("externalId", "ascending", ["grace", "alan", "ada"]),
        # The primary email of ada is "a@", grace's only one "m@"; alan has none.
        ("emails.value", "ascending", ["ada", "grace", "alan"]),
        ("emails", "descending", ["alan", "grace", "ada"]),
        (f"{ENTERPRISE}:department", "ascending", ["alan", "ada", "grace"]),
        (f"{ENTERPRISE}:department", "descending", ["grace", "ada", "alan"]),
        ("meta.created", "descending", ["alan", "grace", "ada"]),
    ],
)
def test_users_sort_by_any_simple_attribute(
    scim: httpx.Client,
    users: tuple[str, dict[str, str]],
    sort_by: str,
    order: str,
    expected: list[str],
) -> None:
    filter_, ids = users

    listed = _listed(scim, "Users", filter=filter_, sortBy=sort_by, sortOrder=order)

    assert listed == [ids[name] for name in expected]


def test_users_sort_the_same_through_a_search_request(
    scim: httpx.Client, users: tuple[str, dict[str, str]]
) -> None:
    filter_, ids = users

    response = scim.post(
        "/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": filter_,
            "sortBy": "name.familyName",
            "sortOrder": "descending",
            "startIndex": 2,
            "count": 1,
        },
    )

    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["Resources"]] == [ids["ada"]]


def test_groups_sort_by_any_simple_attribute(scim: httpx.Client) -> None:
    tag = uuid.uuid4().hex
    members = sorted(
        _created(scim.post("/Users", json={"userName": f"{tag}-{n}@x.test"}))
        for n in range(2)
    )
    ids = {
        name: _created(scim.post("/Groups", json=body))
        for name, body in {
            "low": {
                "displayName": f"{tag} a",
                "externalId": "b",
                "members": [{"value": members[0]}],
            },
            "high": {
                "displayName": f"{tag} B",
                "externalId": "A",
                "members": [{"value": members[1]}],
            },
            "empty": {"displayName": f"{tag} c"},
        }.items()
    }
    filter_ = f'displayName sw "{tag}"'

    def order(sort_by: str, sort_order: str = "ascending") -> list[str]:
        names = {group_id: name for name, group_id in ids.items()}
        listed = _listed(
            scim, "Groups", filter=filter_, sortBy=sort_by, sortOrder=sort_order
        )
        return [names[group_id] for group_id in listed]

    assert order("displayName") == ["low", "high", "empty"]
    assert order("displayName", "descending") == ["empty", "high", "low"]
    assert order("externalId") == ["high", "low", "empty"]
    # By the first member, the lowest id; a group without members comes last.
    assert order("members.value") == ["low", "high", "empty"]
    assert order("members", "descending") == ["empty", "high", "low"]
    assert order("meta.created") == ["low", "high", "empty"]


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"sortBy": "nothingLikeIt"}, "nothingLikeIt"),
        ({"sortBy": "urn:example:unknown:2.0:User:x"}, "urn:example:unknown"),
        ({"sortBy": "meta"}, "meta"),
        ({"sortBy": "id", "sortOrder": "sideways"}, "sortOrder"),
    ],
)
def test_an_unknown_sort_is_400_invalid_value(
    scim: httpx.Client, endpoint: str, params: dict[str, str], named: str
) -> None:
    response = scim.get(f"/{endpoint}", params=params)

    assert response.status_code == 400, response.text
    error = response.json()
    assert error["scimType"] == "invalidValue"
    assert named in error["detail"]
