"""SCIM Groups over HTTP against the real stack: members, uniqueness, PATCH forms.

What the database holds is read after each refused request, to show that a
refusal changes nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.conftest import OrgCredentials, new_org
from tests.integration.group_steps import (
    add,
    create_group,
    create_user,
    member_ids,
    patch_group,
    scim_client,
    stored_group,
)
from tests.integration.stack import Stack


async def test_foreign_and_unknown_members_are_refused_and_change_nothing(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    other_org = await new_org(stack, database)
    async with (
        scim_client(stack, scim_org) as ours,
        scim_client(stack, other_org) as theirs,
    ):
        member, newcomer = await create_user(ours), await create_user(ours)
        foreign = await create_user(theirs)
        unknown = str(uuid.uuid4())
        group = await create_group(ours, members=[member])
        before = await stored_group(database, group["id"])

        patched = await patch_group(ours, group["id"], add(newcomer, foreign))
        replaced = await ours.put(
            f"/Groups/{group['id']}",
            json={"displayName": "Renamed", "members": [{"value": unknown}]},
        )
        created = await ours.post(
            "/Groups", json={"displayName": "Foreign", "members": [{"value": foreign}]}
        )
        listed = await ours.get(
            "/Groups", params={"filter": 'displayName eq "Foreign"'}
        )

    for response, bad in ((patched, foreign), (replaced, unknown), (created, foreign)):
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["scimType"] == "invalidValue"
        assert bad in error["detail"]
    # Only the refused id is named, never the good ones.
    assert newcomer not in patched.json()["detail"]
    assert await stored_group(database, group["id"]) == before
    assert before["members"] == {member}
    assert listed.json()["totalResults"] == 0


async def test_display_name_is_unique_in_an_org_ignoring_case(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    other_org = await new_org(stack, database)
    name = f"Finance {uuid.uuid4().hex[:6]}"
    async with (
        scim_client(stack, scim_org) as ours,
        scim_client(stack, other_org) as theirs,
    ):
        first = await create_group(ours, name=name)
        again = await ours.post("/Groups", json={"displayName": name.upper()})
        elsewhere = await theirs.post("/Groups", json={"displayName": name})
        second = await create_group(ours)
        renamed = await patch_group(
            ours,
            second["id"],
            {"op": "replace", "path": "displayName", "value": name.lower()},
        )
        own_case = await patch_group(
            ours,
            first["id"],
            {"op": "replace", "path": "displayName", "value": name.upper()},
        )

    assert again.status_code == renamed.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    assert elsewhere.status_code == 201
    assert own_case.status_code == 204


async def test_every_member_patch_form_idps_send(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    async with scim_client(stack, scim_org) as client:
        a, b, c, d = [await create_user(client) for _ in range(4)]
        group = await create_group(client)
        gid = group["id"]

        async def step(*operations: dict[str, object]) -> set[str]:
            response = await patch_group(client, gid, *operations)
            assert response.status_code == 204, response.text
            return await member_ids(client, gid)

        # Okta: a list of members without type, with display.
        okta_add = {
            "op": "add",
            "path": "members",
            "value": [{"value": a, "display": "A"}],
        }
        assert await step(okta_add) == {a}
        # Entra: capitalised op, "$ref": null.
        entra_add = {
            "op": "Add",
            "path": "members",
            "value": [{"$ref": None, "value": b}, {"value": c, "type": "User"}],
        }
        assert await step(entra_add) == {a, b, c}
        # Okta and Entra's compliant dialect: remove through a filter.
        assert await step({"op": "remove", "path": f'members[value eq "{a}"]'}) == {
            b,
            c,
        }
        # Entra's default dialect: remove a value list, and only those.
        entra_remove = {"op": "Remove", "path": "members", "value": [{"value": b}]}
        assert await step(entra_remove) == {c}
        # Several operations in one request, applied in order.
        assert await step(
            add(a, d), {"op": "remove", "path": f'members[value eq "{d}"]'}
        ) == {
            a,
            c,
        }
        # Okta: replace with a list, then with an empty one.
        assert await step(
            {"op": "replace", "path": "members", "value": [{"value": d}]}
        ) == {d}
        assert await step({"op": "replace", "path": "members", "value": []}) == set()
        # Okta: path-less rename repeating the group's own id.
        rename = {"op": "replace", "value": {"id": gid, "displayName": "Renamed X"}}
        assert await step(rename) == set()
        fetched = (await client.get(f"/Groups/{gid}")).json()

    assert fetched["displayName"] == "Renamed X"
    assert "members" not in fetched


async def test_a_repeated_patch_changes_nothing(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    async with scim_client(stack, scim_org) as client:
        user = await create_user(client)
        group = await create_group(client)
        first = await patch_group(client, group["id"], add(user))
        after_first = await stored_group(database, group["id"])
        second = await patch_group(client, group["id"], add(user))
        remove_absent = await patch_group(
            client, group["id"], {"op": "remove", "path": 'members[value eq "nobody"]'}
        )
        after_repeats = await stored_group(database, group["id"])

    assert first.headers["ETag"] == 'W/"2"'
    assert second.headers["ETag"] == remove_absent.headers["ETag"] == 'W/"2"'
    assert after_repeats == after_first
    assert after_first["audit_rows"] == 2


async def test_the_group_version_moves_with_its_members(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    async with scim_client(stack, scim_org) as client:
        user = await create_user(client)
        group = await create_group(client)
        await patch_group(client, group["id"], add(user))
        fetched = await client.get(
            f"/Groups/{group['id']}", params={"excludedAttributes": "members"}
        )

    assert group["meta"]["version"] == 'W/"1"'
    assert fetched.headers["ETag"] == fetched.json()["meta"]["version"] == 'W/"2"'
    assert fetched.json()["meta"]["lastModified"] > group["meta"]["lastModified"]


async def test_users_show_their_groups(stack: Stack, scim_org: OrgCredentials) -> None:
    async with scim_client(stack, scim_org) as client:
        user, loner = await create_user(client), await create_user(client)
        alpha = await create_group(client, members=[user], name=f"Alpha {user[:6]}")
        beta = await create_group(client, members=[user], name=f"Beta {user[:6]}")
        one = (await client.get(f"/Users/{user}")).json()
        page = (await client.get("/Users", params={"count": 100})).json()
        trimmed = (
            await client.get(f"/Users/{user}", params={"attributes": "userName"})
        ).json()

    assert [(g["value"], g["display"]) for g in one["groups"]] == [
        (alpha["id"], alpha["displayName"]),
        (beta["id"], beta["displayName"]),
    ]
    assert one["groups"][0]["$ref"].endswith(f"/Groups/{alpha['id']}")
    by_id = {resource["id"]: resource for resource in page["Resources"]}
    assert len(by_id[user]["groups"]) == 2
    assert "groups" not in by_id[loner]
    assert "groups" not in trimmed


async def test_group_filters_idps_use(stack: Stack, scim_org: OrgCredentials) -> None:
    tag = uuid.uuid4().hex[:8]
    async with scim_client(stack, scim_org) as client:
        user = await create_user(client)
        group = await create_group(client, members=[user], name=f"Sales {tag}")
        other = await create_group(client, name=f"Support {tag}")
        await client.put(
            f"/Groups/{other['id']}",
            json={"displayName": f"Support {tag}", "externalId": f"ext-{tag}"},
        )

        async def found(filter_text: str, **params: str) -> list[dict[str, object]]:
            response = await client.get(
                "/Groups", params={"filter": filter_text, **params}
            )
            assert response.status_code == 200, response.text
            resources: list[dict[str, object]] = response.json()["Resources"]
            return resources

        by_name = await found(f'displayName eq "sales {tag.upper()}"')
        by_external = await found(f'externalId eq "ext-{tag}"')
        by_member = await found(f'members.value eq "{user}"')
        by_prefix = await found(
            f'displayName sw "S" and displayName ew "{tag}"', sortBy="displayName"
        )
        lean = await found(
            f'displayName eq "Sales {tag}"', excludedAttributes="members"
        )
        named = await found(f'displayName eq "Sales {tag}"', attributes="displayName")
        bad = await client.get("/Groups", params={"filter": 'title eq "x"'})

    assert [g["id"] for g in by_name] == [group["id"]]
    assert by_name[0]["members"] == [
        {"value": user, "$ref": f"{stack.scim_url}/Users/{user}", "type": "User"}
    ]
    assert [g["id"] for g in by_external] == [other["id"]]
    assert [g["id"] for g in by_member] == [group["id"]]
    assert [g["id"] for g in by_prefix] == [group["id"], other["id"]]
    assert "members" not in lean[0]
    assert set(named[0]) == {"schemas", "id", "displayName"}
    assert bad.status_code == 400
    assert bad.json()["scimType"] == "invalidFilter"


async def test_a_deleted_user_leaves_every_group(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    async with scim_client(stack, scim_org) as client:
        user, stays = await create_user(client), await create_user(client)
        groups = [await create_group(client, members=[user, stays]) for _ in range(2)]
        deleted = await client.delete(f"/Users/{user}")
        # Never listed once deleted, even before the event is consumed.
        right_after = await member_ids(client, groups[0]["id"])

        # Kafka may be briefly away (other tests stop it): allow for a restart.
        deadline = time.monotonic() + 90
        while True:
            stored = [await stored_group(database, g["id"]) for g in groups]
            if all(group["members"] == {stays} for group in stored):
                break
            assert time.monotonic() < deadline, f"memberships not dropped: {stored}"
            await asyncio.sleep(0.2)
        fetched = (await client.get(f"/Groups/{groups[1]['id']}")).json()

    assert deleted.status_code == 204
    assert right_after == {stays}
    assert [group["version"] for group in stored] == [2, 2]
    assert fetched["meta"]["version"] == 'W/"2"'

    # Each group's audit row of the change names the deletion that caused it
    # and the arrival of the SCIM request that made it, not the event's.
    async with database.connect() as connection:
        deletion = (
            await connection.execute(
                text(
                    "SELECT event_id, request_id, request_received_at "
                    "FROM provisioning_audit "
                    "WHERE user_id = :user AND action = 'DEPROVISION'"
                ),
                {"user": user},
            )
        ).one()
        dropped = (
            await connection.execute(
                text(
                    "SELECT after, request_id, request_received_at FROM group_audit "
                    "WHERE action = 'DROP_MEMBER' AND group_id = ANY(:groups)"
                ),
                {"groups": [uuid.UUID(g["id"]) for g in groups]},
            )
        ).all()
    assert len(dropped) == 2
    for row in dropped:
        assert row.after["causeEventId"] == str(deletion.event_id)
        assert row.request_id == deletion.request_id
        assert row.request_received_at == deletion.request_received_at


@pytest.mark.parametrize("size", [12_000])
async def test_a_group_bigger_than_a_page_is_read_whole(
    stack: Stack, database: AsyncEngine, scim_org: OrgCredentials, size: int
) -> None:
    async with scim_client(stack, scim_org) as client:
        group = await create_group(client)
        # Users and memberships made in bulk, as the bench does.
        async with database.begin() as connection:
            await connection.execute(
                text(
                    'INSERT INTO "user" (user_id, org_id, user_name, status,'
                    " attributes, version, created_at, updated_at)"
                    " SELECT gen_random_uuid(), :org, 'bulk.' || n || '@example.test',"
                    " 'ACTIVE', '{}'::jsonb, 1, now(), now()"
                    " FROM generate_series(1, :size) AS n"
                ),
                {"org": scim_org.org_id, "size": size},
            )
            await connection.execute(
                text(
                    "INSERT INTO group_membership (group_id, user_id, org_id)"
                    ' SELECT :group, user_id, org_id FROM "user" WHERE org_id = :org'
                ),
                {"group": group["id"], "org": scim_org.org_id},
            )
        whole = await client.get(f"/Groups/{group['id']}")
        lean = await client.get(
            f"/Groups/{group['id']}", params={"excludedAttributes": "members"}
        )

    values = [member["value"] for member in whole.json()["members"]]
    assert len(values) == len(set(values)) == size
    assert values == sorted(values)
    assert "members" not in lean.json()
