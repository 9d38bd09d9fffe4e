"""What a resource looks like (RFC 7643 §2.5, §7): no null and no empty list
for an unassigned attribute, `returned: never` never shown, `returned:
always` always shown, whichever endpoint answers and whatever is selected.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _empty_values(value: Any, path: str = "") -> Iterator[str]:
    """Yield the path of every null, empty list or empty object in `value`."""
    if value is None or value == [] or value == {}:
        yield path or "<root>"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _empty_values(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _empty_values(item, f"{path}[{index}]")


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key.lower()
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


@pytest.fixture
def sparse(scim: httpx.Client) -> dict[str, str]:
    """A user and a group created with nulls and empty values everywhere."""
    user = scim.post(
        "/Users",
        json={
            "userName": f"{uuid.uuid4().hex}@example.test",
            "password": "correct horse battery staple",
            "displayName": None,
            "name": {"givenName": None, "familyName": "Lovelace"},
            "emails": [],
            "phoneNumbers": [{"value": None}],
            "addresses": [{"type": None, "locality": "London"}],
            "groups": [],
            ENTERPRISE: {"department": None, "manager": {}},
        },
    )
    assert user.status_code == 201, user.text
    group = scim.post(
        "/Groups",
        json={
            "displayName": f"T {uuid.uuid4().hex}",
            "externalId": None,
            "members": [],
        },
    )
    assert group.status_code == 201, group.text
    return {"Users": user.json()["id"], "Groups": group.json()["id"]}


def _answers(scim: httpx.Client, ids: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """Every representation of the two resources a client can be handed."""
    for endpoint, resource_id in ids.items():
        url = f"/{endpoint}/{resource_id}"
        yield f"GET {url}", scim.get(url).json()
        filter_ = f'id eq "{resource_id}"'
        for params in (
            {},
            {"attributes": "name,members,meta"},
            {"excludedAttributes": "meta"},
        ):
            listed = scim.get(f"/{endpoint}", params={"filter": filter_, **params})
            for resource in listed.json()["Resources"]:
                yield f"GET /{endpoint} {params}", resource
        searched = scim.post(
            f"/{endpoint}/.search", json={"schemas": [SEARCH], "filter": filter_}
        )
        yield f"POST /{endpoint}/.search", searched.json()["Resources"][0]
    patched = scim.patch(
        f"/Users/{ids['Users']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "name.familyName", "value": None}],
        },
    )
    yield "PATCH /Users", patched.json()
    for resource in scim.post("/.search", json={"schemas": [SEARCH]}).json()[
        "Resources"
    ]:
        yield "POST /.search", resource


def test_no_answer_holds_a_null_or_an_empty_value(
    scim: httpx.Client, sparse: dict[str, str]
) -> None:
    found = {
        (where, path)
        for where, resource in _answers(scim, sparse)
        for path in _empty_values(resource)
    }

    assert not found


def test_password_is_never_returned_even_when_asked_for(
    scim: httpx.Client, sparse: dict[str, str]
) -> None:
    url = f"/Users/{sparse['Users']}"
    asked = scim.get(url, params={"attributes": "password,userName"}).json()

    for where, resource in [*_answers(scim, sparse), ("GET attributes", asked)]:
        assert "password" not in set(_keys(resource)), where
    assert set(asked) == {"schemas", "id", "userName"}


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
@pytest.mark.parametrize(
    "params",
    [
        {"attributes": "meta.created"},
        {"excludedAttributes": "id,schemas"},
        {"attributes": "urn:example:nothing:2.0:User:x"},
    ],
)
def test_id_and_schemas_are_always_returned(
    scim: httpx.Client, sparse: dict[str, str], endpoint: str, params: dict[str, str]
) -> None:
    resource_id = sparse[endpoint]
    read = scim.get(f"/{endpoint}/{resource_id}", params=params)
    listed = scim.get(
        f"/{endpoint}", params={"filter": f'id eq "{resource_id}"', **params}
    )

    for resource in (read.json(), listed.json()["Resources"][0]):
        assert resource["id"] == resource_id
        assert resource["schemas"]
