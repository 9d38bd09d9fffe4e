"""ETags on Users and Groups (RFC 7644 §3.14): what a client sees on each method.

`meta.version` is a weak ETag and the `ETag` header of every answer with one
resource; If-None-Match on GET answers 304 without a body when it names the
version held; If-Match on PUT, PATCH and DELETE answers 412 when it names
another, and then nothing changes.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from gateway.urns import ERROR

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _new_user(scim: httpx.Client) -> dict[str, Any]:
    response = scim.post(
        "/Users", json={"userName": f"{uuid.uuid4().hex}@example.test"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _new_group(scim: httpx.Client) -> dict[str, Any]:
    response = scim.post("/Groups", json={"displayName": f"Team {uuid.uuid4().hex}"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# Each resource type: its endpoint, how to make one, and a PUT body and a
# PATCH operation that change it.
RESOURCES = {
    "Users": (
        _new_user,
        lambda held: {"userName": held["userName"], "displayName": "Changed"},
        {"op": "replace", "path": "displayName", "value": "Patched"},
    ),
    "Groups": (
        _new_group,
        lambda held: {"displayName": f"{held['displayName']} renamed"},
        {"op": "replace", "path": "displayName", "value": f"P {uuid.uuid4().hex}"},
    ),
}


@pytest.fixture(params=sorted(RESOURCES))
def endpoint(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_an_answer_carries_its_version_as_a_weak_etag(
    scim: httpx.Client, endpoint: str
) -> None:
    create, _, _ = RESOURCES[endpoint]
    held = create(scim)

    read = scim.get(f"/{endpoint}/{held['id']}")

    assert read.status_code == 200
    version = read.json()["meta"]["version"]
    assert version.startswith('W/"')
    assert read.headers["ETag"] == version


@pytest.mark.parametrize("tag", ["exact", "strong form", "star", "in a list"])
def test_get_with_if_none_match_of_the_held_version_is_304_without_body(
    scim: httpx.Client, endpoint: str, tag: str
) -> None:
    create, _, _ = RESOURCES[endpoint]
    held = create(scim)
    version = held["meta"]["version"]
    header = {
        "exact": version,
        "strong form": version.removeprefix("W/"),
        "star": "*",
        "in a list": f'W/"999999", {version}',
    }[tag]

    read = scim.get(f"/{endpoint}/{held['id']}", headers={"If-None-Match": header})

    assert read.status_code == 304
    assert read.content == b""
    assert read.headers["ETag"] == version


def test_get_with_if_none_match_of_another_version_answers_the_resource(
    scim: httpx.Client, endpoint: str
) -> None:
    create, _, patch = RESOURCES[endpoint]
    held = create(scim)
    old_version = held["meta"]["version"]
    changed = scim.patch(
        f"/{endpoint}/{held['id']}",
        json={"schemas": [PATCH_OP], "Operations": [patch]},
    )
    assert changed.status_code in (200, 204), changed.text

    read = scim.get(f"/{endpoint}/{held['id']}", headers={"If-None-Match": old_version})

    assert read.status_code == 200
    assert read.json()["id"] == held["id"]
    assert read.headers["ETag"] != old_version


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_write_with_if_match_of_another_version_is_412_and_changes_nothing(
    scim: httpx.Client, endpoint: str, method: str
) -> None:
    create, put_body, patch = RESOURCES[endpoint]
    held = create(scim)
    url = f"/{endpoint}/{held['id']}"
    body = {
        "PUT": put_body(held),
        "PATCH": {"schemas": [PATCH_OP], "Operations": [patch]},
        "DELETE": None,
    }[method]

    before = scim.get(url).json()

    refused = scim.request(method, url, json=body, headers={"If-Match": 'W/"999"'})

    assert refused.status_code == 412, refused.text
    error = refused.json()
    assert error["schemas"] == [ERROR]
    assert error["status"] == "412"
    after = scim.get(url)
    assert after.status_code == 200
    assert after.json() == before


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_write_with_if_match_of_the_held_version_succeeds(
    scim: httpx.Client, endpoint: str, method: str
) -> None:
    create, put_body, patch = RESOURCES[endpoint]
    held = create(scim)
    url = f"/{endpoint}/{held['id']}"
    body = {
        "PUT": put_body(held),
        "PATCH": {"schemas": [PATCH_OP], "Operations": [patch]},
        "DELETE": None,
    }[method]

    written = scim.request(
        method, url, json=body, headers={"If-Match": held["meta"]["version"]}
    )

    assert written.status_code in (200, 204), written.text
    after = scim.get(url)
    if method == "DELETE":
        assert after.status_code == 404
    else:
        assert after.json()["meta"]["version"] != held["meta"]["version"]
        assert written.headers["ETag"] == after.json()["meta"]["version"]
