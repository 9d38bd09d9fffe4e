"""The /Groups endpoint and the users' `groups`, against a fake group-mapping."""

from __future__ import annotations

import grpc
import httpx
from gateway_fakes import ORG_ID, SCIM, FakeIdentity, user_body
from group_mapping_fakes import GROUP_SCHEMA, FakeGroupMapping

from services.common.errors import InvalidValue, Uniqueness

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ADD_ONE = {
    "schemas": [PATCH_OP],
    "Operations": [{"op": "add", "path": "members", "value": [{"value": "u-9"}]}],
}


async def test_post_group_answers_201_with_members_location_and_etag(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Finance"}
    body["members"] = [{"value": "u-1"}, {"value": "u-2"}, {"value": "u-3"}]

    response = await client.post(f"{SCIM}/Groups", json=body)

    assert response.status_code == 201
    group = response.json()
    location = f"{SCIM}/Groups/{group['id']}"
    assert response.headers["Location"] == group["meta"]["location"] == location
    assert response.headers["ETag"] == group["meta"]["version"] == 'W/"1"'
    assert group["meta"]["resourceType"] == "Group"
    assert group["schemas"] == [GROUP_SCHEMA]
    assert group["displayName"] == "Finance"
    assert group["members"][0] == {
        "value": "u-1",
        "$ref": f"{SCIM}/Users/u-1",
        "type": "User",
    }
    assert len(group["members"]) == 3
    assert fake_group_mapping.requests["CreateGroup"].org_id == ORG_ID


async def test_get_group_gathers_every_member_page(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", [f"u-{n}" for n in range(5)])

    group = (await client.get(f"{SCIM}/Groups/{group_id}")).json()

    assert [member["value"] for member in group["members"]] == [
        f"u-{n}" for n in range(5)
    ]
    assert fake_group_mapping.requests["GetGroup"].exclude_members is False


async def test_excluded_members_are_never_read(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", ["u-1", "u-2", "u-3"])

    excluded = await client.get(
        f"{SCIM}/Groups/{group_id}", params={"excludedAttributes": "members"}
    )
    asked = fake_group_mapping.requests["GetGroup"]

    assert excluded.status_code == 200
    assert "members" not in excluded.json()
    assert excluded.json()["displayName"] == "Big"
    assert asked.exclude_members is True


async def test_attributes_without_members_skip_them_and_keep_id(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", ["u-1"])

    body = (
        await client.get(
            f"{SCIM}/Groups/{group_id}", params={"attributes": "displayName"}
        )
    ).json()

    assert set(body) == {"schemas", "id", "displayName"}
    assert fake_group_mapping.requests["GetGroup"].exclude_members is True


async def test_attributes_naming_a_member_field_read_members(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", ["u-1"])

    body = (
        await client.get(
            f"{SCIM}/Groups/{group_id}", params={"attributes": "members.value"}
        )
    ).json()

    assert body["members"] == [{"value": "u-1"}]


async def test_list_groups_passes_the_filter_and_leaves_members_out_when_asked(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    fake_group_mapping.add(ORG_ID, "Finance", ["u-1"])
    fake_group_mapping.add(ORG_ID, "Sales", ["u-2"])

    response = await client.get(
        f"{SCIM}/Groups",
        params={
            "filter": 'displayName eq "Finance"',
            "excludedAttributes": "members",
            "count": "1",
        },
    )

    body = response.json()
    asked = fake_group_mapping.requests["ListGroups"]
    assert (asked.filter, asked.count, asked.exclude_members) == (
        'displayName eq "Finance"',
        1,
        True,
    )
    assert body["totalResults"] == 2
    assert body["itemsPerPage"] == 1
    assert "members" not in body["Resources"][0]


async def test_patch_group_answers_204_with_the_new_etag(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", ["u-1"])

    response = await client.patch(f"{SCIM}/Groups/{group_id}", json=ADD_ONE)

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["ETag"] == 'W/"2"'
    assert "GetGroup" not in fake_group_mapping.calls


async def test_patch_group_with_attributes_answers_200_as_asked(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", ["u-1"])

    response = await client.patch(
        f"{SCIM}/Groups/{group_id}",
        params={"excludedAttributes": "members"},
        json=ADD_ONE,
    )

    assert response.status_code == 200
    assert response.json()["displayName"] == "Big"
    assert "members" not in response.json()
    assert "GetGroup" not in fake_group_mapping.calls


async def test_put_group_sends_the_body_and_if_match(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", ["u-1"])
    body = {"displayName": "Bigger", "members": [{"value": "u-2"}]}

    response = await client.put(
        f"{SCIM}/Groups/{group_id}", json=body, headers={"If-Match": 'W/"1"'}
    )

    assert response.status_code == 200
    assert response.json()["members"] == [
        {"value": "u-2", "$ref": f"{SCIM}/Users/u-2", "type": "User"}
    ]
    assert fake_group_mapping.requests["ReplaceGroup"].expected_version == 1


async def test_delete_group_answers_204(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Big", [])

    response = await client.delete(f"{SCIM}/Groups/{group_id}")

    assert response.status_code == 204
    assert (await client.get(f"{SCIM}/Groups/{group_id}")).status_code == 404


async def test_foreign_member_is_a_scim_400_naming_it(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    refused = InvalidValue("member 'u-x' is not a user of this org")
    fake_group_mapping.failures["CreateGroup"] = refused

    response = await client.post(
        f"{SCIM}/Groups", json={"displayName": "G", "members": [{"value": "u-x"}]}
    )

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert response.json()["detail"] == "member 'u-x' is not a user of this org"


async def test_taken_display_name_is_a_scim_409(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    fake_group_mapping.failures["CreateGroup"] = Uniqueness("displayName is taken")

    response = await client.post(f"{SCIM}/Groups", json={"displayName": "G"})

    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"


async def test_group_service_down_is_a_scim_503(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    fake_group_mapping.failures["ListGroups"] = grpc.StatusCode.UNAVAILABLE

    response = await client.get(f"{SCIM}/Groups")

    assert response.status_code == 503
    assert "group-mapping" in response.json()["detail"]


async def test_user_shows_its_groups(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    user = (await client.post(f"{SCIM}/Users", json=user_body())).json()
    fake_group_mapping.memberships[user["id"]] = [("g-1", "Finance")]

    fetched = (await client.get(f"{SCIM}/Users/{user['id']}")).json()

    assert fetched["groups"] == [
        {
            "value": "g-1",
            "$ref": f"{SCIM}/Groups/g-1",
            "display": "Finance",
            "type": "direct",
        }
    ]
    assert "groups" not in user
    assert "ListGroupsOfUsers" in fake_group_mapping.calls


async def test_user_list_asks_for_groups_once_for_the_page(
    client: httpx.AsyncClient,
    fake_identity: FakeIdentity,
    fake_group_mapping: FakeGroupMapping,
) -> None:
    ids = [
        (
            await client.post(f"{SCIM}/Users", json=user_body(f"u{n}@example.test"))
        ).json()["id"]
        for n in range(3)
    ]
    fake_group_mapping.memberships[ids[1]] = [("g-1", "Finance")]

    body = (await client.get(f"{SCIM}/Users")).json()

    assert fake_group_mapping.calls.count("ListGroupsOfUsers") == 1
    assert list(fake_group_mapping.requests["ListGroupsOfUsers"].user_ids) == ids
    with_groups = [user["id"] for user in body["Resources"] if "groups" in user]
    assert with_groups == [ids[1]]


async def test_user_groups_are_not_read_when_left_out(
    client: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    user = (await client.post(f"{SCIM}/Users", json=user_body())).json()

    await client.get(f"{SCIM}/Users/{user['id']}", params={"attributes": "userName"})
    await client.get(f"{SCIM}/Users", params={"excludedAttributes": "groups"})

    assert "ListGroupsOfUsers" not in fake_group_mapping.calls
