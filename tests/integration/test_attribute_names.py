"""Attribute names are case-insensitive everywhere (RFC 7643 §2.1), and may be
qualified by their schema URN (RFC 7644 §3.10): in bodies, PATCH paths,
filters, `attributes`, `excludedAttributes` and `sortBy`, for Users and
Groups. Answers always spell names as the schema does.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _patched(scim: httpx.Client, url: str, *operations: dict[str, Any]) -> None:
    response = scim.patch(url, json={"schemas": [PATCH_OP], "Operations": operations})
    assert response.status_code in (200, 204), response.text


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [resource["id"] for resource in response.json()["Resources"]]


def test_user_bodies_take_names_in_any_case_and_qualified(scim: httpx.Client) -> None:
    name = f"{uuid.uuid4().hex}@example.test"
    user = _created(
        scim.post(
            "/Users",
            json={
                "SCHEMAS": [USER.upper()],
                "USERNAME": name,
                "Name": {"GivenName": "Ada", "FAMILYNAME": "Lovelace"},
                "EMAILS": [{"VALUE": name, "Primary": True}],
                f"{USER}:DisplayName": "Ada Lovelace",
                ENTERPRISE.lower(): {"Department": "Treasury"},
                f"{ENTERPRISE}:costcenter": "CC-1",
            },
        )
    )

    assert user["userName"] == name
    assert user["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert user["emails"] == [{"value": name, "primary": True}]
    assert user["displayName"] == "Ada Lovelace"
    assert user[ENTERPRISE] == {"department": "Treasury", "costCenter": "CC-1"}
    assert sorted(user["schemas"]) == sorted([USER, ENTERPRISE])

    replaced = scim.put(
        f"/Users/{user['id']}",
        json={"userName": name, "NICKNAME": "ada", f"{USER}:Title": "Countess"},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["nickName"] == "ada"
    assert replaced.json()["title"] == "Countess"
    assert "displayName" not in replaced.json()


def test_user_patch_paths_and_values_take_names_in_any_case(
    scim: httpx.Client,
) -> None:
    name = f"{uuid.uuid4().hex}@example.test"
    user = _created(scim.post("/Users", json={"userName": name}))
    url = f"/Users/{user['id']}"

    _patched(
        scim,
        url,
        {"op": "ADD", "path": "NAME.FAMILYNAME", "value": "Byron"},
        {"op": "Add", "path": f"{USER}:DISPLAYNAME", "value": "Ada B"},
        {"op": "add", "path": f"{ENTERPRISE.upper()}:DEPARTMENT", "value": "Risk"},
        {"op": "add", "path": "Emails", "value": [{"Value": name, "TYPE": "work"}]},
        {"op": "replace", "path": 'EMAILS[Type EQ "work"].PRIMARY', "value": True},
        {"op": "replace", "value": {"NickName": "ab", "Name.GivenName": "Ada"}},
    )
    read = scim.get(url).json()

    assert read["name"] == {"familyName": "Byron", "givenName": "Ada"}
    assert read["displayName"] == "Ada B"
    assert read["nickName"] == "ab"
    assert read[ENTERPRISE] == {"department": "Risk"}
    assert read["emails"] == [{"value": name, "type": "work", "primary": True}]

    _patched(scim, url, {"op": "REMOVE", "path": f"{ENTERPRISE}:Department"})
    assert ENTERPRISE not in scim.get(url).json()


def test_user_filters_selections_and_sorts_take_names_in_any_case(
    scim: httpx.Client,
) -> None:
    tag = uuid.uuid4().hex
    ids = [
        _created(
            scim.post(
                "/Users",
                json={
                    "userName": f"{tag}-{family}@example.test",
                    "name": {"familyName": family, "givenName": "G"},
                    ENTERPRISE: {"department": f"D-{tag}"},
                },
            )
        )["id"]
        for family in ("Carrol", "adams", "Byron")
    ]
    expected = [ids[1], ids[2], ids[0]]

    for filter_ in (
        f'USERNAME SW "{tag}"',
        f'{USER}:userName sw "{tag}"',
        f'{ENTERPRISE}:DEPARTMENT eq "D-{tag}"',
    ):
        for sort_by in ("NAME.FAMILYNAME", f"{USER}:name.familyName"):
            listed = scim.get("/Users", params={"filter": filter_, "sortBy": sort_by})
            assert _ids(listed) == expected, (filter_, sort_by)

    chosen = scim.get(
        "/Users",
        params={
            "filter": f'userName sw "{tag}"',
            "attributes": f"USERNAME,Name.FamilyName,{ENTERPRISE.upper()}:Department",
        },
    ).json()["Resources"][0]
    assert set(chosen) == {"schemas", "id", "userName", "name", ENTERPRISE}
    assert set(chosen["name"]) == {"familyName"}

    left_out = scim.get(
        f"/Users/{ids[0]}",
        params={"excludedAttributes": f"NAME,{USER}:USERNAME,{ENTERPRISE.lower()}"},
    ).json()
    assert not {"name", "userName", ENTERPRISE} & set(left_out)
    assert left_out["id"] == ids[0]


def test_group_bodies_and_patches_take_names_in_any_case(scim: httpx.Client) -> None:
    member = _created(
        scim.post("/Users", json={"userName": f"{uuid.uuid4().hex}@example.test"})
    )["id"]
    other = _created(
        scim.post("/Users", json={"userName": f"{uuid.uuid4().hex}@example.test"})
    )["id"]
    name = f"Team {uuid.uuid4().hex}"
    group = _created(
        scim.post(
            "/Groups",
            json={
                "SCHEMAS": [GROUP],
                "DISPLAYNAME": name,
                f"{GROUP}:ExternalId": "ext-1",
                "Members": [{"VALUE": member, "Type": "User"}],
            },
        )
    )
    assert group["displayName"] == name
    assert group["externalId"] == "ext-1"
    assert [m["value"] for m in group["members"]] == [member]
    url = f"/Groups/{group['id']}"

    _patched(
        scim,
        url,
        {"op": "ADD", "path": "MEMBERS", "value": [{"Value": other}]},
        {"op": "Remove", "path": f'Members[VALUE eq "{member}"]'},
        {"op": "replace", "path": f"{GROUP}:DISPLAYNAME", "value": f"{name} B"},
        {"op": "replace", "value": {"EXTERNALID": "ext-2"}},
    )
    read = scim.get(url).json()

    assert read["displayName"] == f"{name} B"
    assert read["externalId"] == "ext-2"
    assert [m["value"] for m in read["members"]] == [other]


def test_group_filters_selections_and_sorts_take_names_in_any_case(
    scim: httpx.Client,
) -> None:
    tag = uuid.uuid4().hex
    ids = [
        _created(scim.post("/Groups", json={"displayName": f"{tag} {suffix}"}))["id"]
        for suffix in ("C", "a", "B")
    ]
    expected = [ids[1], ids[2], ids[0]]

    for filter_ in (f'DISPLAYNAME SW "{tag}"', f'{GROUP}:displayName sw "{tag}"'):
        for sort_by in ("DISPLAYNAME", f"{GROUP}:displayName"):
            listed = scim.get("/Groups", params={"filter": filter_, "sortBy": sort_by})
            assert _ids(listed) == expected, (filter_, sort_by)

    chosen = scim.get(
        f"/Groups/{ids[0]}", params={"attributes": f"{GROUP}:DISPLAYNAME"}
    ).json()
    assert set(chosen) == {"schemas", "id", "displayName"}
    left_out = scim.get(
        f"/Groups/{ids[0]}", params={"excludedAttributes": "DISPLAYNAME,META"}
    ).json()
    assert set(left_out) == {"schemas", "id"}
