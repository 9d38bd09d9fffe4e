"""Group-to-role mapping over HTTP and gRPC: admin API, roles, events on Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import jwt
import pytest

from protos.rivane.group_mapping.v1 import group_mapping_pb2, group_mapping_pb2_grpc
from tests.integration.conftest import OrgCredentials
from tests.integration.group_steps import (
    add,
    create_group,
    create_user,
    patch_group,
    scim_client,
)
from tests.integration.kafka_reader import Published, describe, read_events, take_mark
from tests.integration.stack import Stack

ROLES_TOPIC = "scim.user_roles_changed"


def admin(stack: Stack) -> httpx.AsyncClient:
    """Return a client of the admin API."""
    return httpx.AsyncClient(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
    )


async def map_role(stack: Stack, org: OrgCredentials, group: str, role: str) -> Any:
    async with admin(stack) as client:
        response = await client.post(
            f"/admin/orgs/{org.name}/role-mappings",
            json={"group": group, "role": role},
        )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def group_mapping(stack: Stack) -> AsyncIterator[Any]:
    """A stub of the stack's group-mapping service."""
    async with grpc.aio.insecure_channel(stack.addresses["group_mapping"]) as channel:
        yield group_mapping_pb2_grpc.GroupMappingServiceStub(channel)


async def roles_of(group_mapping: Any, org: OrgCredentials, user_id: str) -> list[str]:
    reply = await group_mapping.GetUserRoles(
        group_mapping_pb2.GetUserRolesRequest(org_id=str(org.org_id), user_id=user_id)
    )
    return list(reply.roles)


def changes(
    events: list[Published], users: set[str]
) -> list[tuple[str, list[str], list[str]]]:
    return [
        (
            event.user_id,
            event.payload["roles_before"],
            event.payload["roles_after"],
        )
        for event in events
        if event.topic == ROLES_TOPIC and event.user_id in users
    ]


async def test_membership_changes_publish_roles_before_and_after(
    stack: Stack, scim_org: OrgCredentials, group_mapping: Any
) -> None:
    role = f"finance.approver.{uuid.uuid4().hex[:6]}"
    async with scim_client(stack, scim_org) as client:
        user = await create_user(client)
        group = await create_group(client)
        await map_role(stack, scim_org, group["displayName"], role)
        mark = await take_mark(stack.kafka_bootstrap, topics=(ROLES_TOPIC,))

        await patch_group(client, group["id"], add(user))
        roles_while_member = await roles_of(group_mapping, scim_org, user)
        # A repeat changes nothing, so it publishes nothing.
        await patch_group(client, group["id"], add(user))
        await patch_group(
            client, group["id"], {"op": "remove", "path": f'members[value eq "{user}"]'}
        )

    events = await read_events(
        mark, until=lambda seen: len(changes(seen, {user})) >= 2, wait_seconds=90
    )
    assert changes(events, {user}) == [
        (user, [], [role]),
        (user, [role], []),
    ], describe(events)
    assert roles_while_member == [role]
    assert await roles_of(group_mapping, scim_org, user) == []
    first = next(e for e in events if e.user_id == user)
    assert first.key == user
    assert first.payload["cause"]["group_id"] == group["id"]
    assert first.payload["cause"]["action"] == "UPDATE"
    assert first.headers["event_type"] == ROLES_TOPIC


async def test_a_role_held_through_another_group_is_no_change(
    stack: Stack, scim_org: OrgCredentials, group_mapping: Any
) -> None:
    role = f"staff.{uuid.uuid4().hex[:6]}"
    async with scim_client(stack, scim_org) as client:
        user, witness = await create_user(client), await create_user(client)
        first = await create_group(client, members=[user])
        second = await create_group(client, members=[user])
        await map_role(stack, scim_org, first["id"], role)
        await map_role(stack, scim_org, second["id"], role)
        mark = await take_mark(stack.kafka_bootstrap, topics=(ROLES_TOPIC,))

        await patch_group(
            client, first["id"], {"op": "remove", "path": f'members[value eq "{user}"]'}
        )
        # A change that publishes, so that the reader knows when to stop.
        await patch_group(client, second["id"], add(witness))

    events = await read_events(
        mark, until=lambda seen: bool(changes(seen, {witness})), wait_seconds=90
    )
    assert changes(events, {user, witness}) == [(witness, [], [role])], describe(events)
    assert await roles_of(group_mapping, scim_org, user) == [role]


async def test_mapping_changes_publish_for_every_member(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    role = f"billing.{uuid.uuid4().hex[:6]}"
    async with scim_client(stack, scim_org) as client:
        members = {await create_user(client) for _ in range(3)}
        group = await create_group(client, members=sorted(members))
    mark = await take_mark(stack.kafka_bootstrap, topics=(ROLES_TOPIC,))

    mapped = await map_role(stack, scim_org, group["displayName"], role)
    async with admin(stack) as client:
        removed = await client.delete(
            f"/admin/orgs/{scim_org.name}/role-mappings",
            params={"group": group["id"], "role": role},
        )

    events = await read_events(
        mark, until=lambda seen: len(changes(seen, members)) >= 6, wait_seconds=90
    )
    seen = changes(events, members)
    assert sorted(seen) == sorted(
        [(user, [], [role]) for user in members]
        + [(user, [role], []) for user in members]
    ), describe(events)
    assert mapped["group_id"] == group["id"]
    assert removed.json() == {"deleted": 1}
    actions = {e.payload["cause"]["action"] for e in events if e.user_id in members}
    assert actions == {"MAP_ROLE", "UNMAP_ROLE"}


async def test_deleting_a_mapped_group_takes_its_roles(
    stack: Stack, scim_org: OrgCredentials, group_mapping: Any
) -> None:
    role = f"ops.{uuid.uuid4().hex[:6]}"
    async with scim_client(stack, scim_org) as client:
        user = await create_user(client)
        group = await create_group(client, members=[user])
        await map_role(stack, scim_org, group["id"], role)
        mark = await take_mark(stack.kafka_bootstrap, topics=(ROLES_TOPIC,))
        deleted = await client.delete(f"/Groups/{group['id']}")

    events = await read_events(
        mark, until=lambda seen: bool(changes(seen, {user})), wait_seconds=90
    )
    assert deleted.status_code == 204
    assert changes(events, {user}) == [(user, [role], [])], describe(events)
    assert await roles_of(group_mapping, scim_org, user) == []


async def test_a_pushed_group_without_a_role_is_listed_as_unmapped(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    async with scim_client(stack, scim_org) as client:
        user = await create_user(client)
        pushed = await client.post(
            "/Groups",
            json={"displayName": "Interns", "members": [{"value": user}]},
        )
    async with admin(stack) as client:
        before = (await client.get(f"/admin/orgs/{scim_org.name}/role-mappings")).json()
    await map_role(stack, scim_org, "interns", "intern")
    async with admin(stack) as client:
        after = (await client.get(f"/admin/orgs/{scim_org.name}/role-mappings")).json()

    assert pushed.status_code == 201
    group_id = pushed.json()["id"]
    assert before["mappings"] == []
    assert [
        (g["group_id"], g["group"], g["members"]) for g in before["unmapped_groups"]
    ] == [(group_id, "Interns", 1)]
    assert [(m["group_id"], m["role"]) for m in after["mappings"]] == [
        (group_id, "intern")
    ]
    assert after["unmapped_groups"] == []


async def test_role_ids_are_checked_and_groups_must_exist(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    async with scim_client(stack, scim_org) as client:
        group = await create_group(client)
    async with admin(stack) as client:
        bad_role = await client.post(
            f"/admin/orgs/{scim_org.name}/role-mappings",
            json={"group": group["id"], "role": "no spaces allowed"},
        )
        no_group = await client.post(
            f"/admin/orgs/{scim_org.name}/role-mappings",
            json={"group": "No Such Group", "role": "r"},
        )
        no_mapping = await client.delete(
            f"/admin/orgs/{scim_org.name}/role-mappings",
            params={"group": group["id"]},
        )

    assert bad_role.status_code == 400
    assert no_group.status_code == 404
    assert no_mapping.status_code == 404


async def test_issued_access_tokens_carry_the_roles(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    role = f"approver.{uuid.uuid4().hex[:6]}"
    async with scim_client(stack, scim_org) as client:
        user = await create_user(client)
        group = await create_group(client, members=[user])
        await map_role(stack, scim_org, group["id"], role)
        other = await create_group(client, members=[user])
        await map_role(stack, scim_org, other["id"], "staff")

    async with admin(stack) as client:
        issued = await client.post(
            "/sessions", json={"org_id": str(scim_org.org_id), "user_id": user}
        )
        jwks = (await client.get("/.well-known/jwks.json")).json()
        introspected = await client.post(
            "/oauth2/introspect", data={"token": issued.json()["access_token"]}
        )

    assert issued.status_code == 201, issued.text
    token = issued.json()["access_token"]
    # Introspection tells a Rivane service the same roles the token carries.
    assert introspected.json()["active"] is True
    assert introspected.json()["roles"] == sorted([role, "staff"])
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer="rivane")
    assert claims["sub"] == user
    assert claims["roles"] == sorted([role, "staff"])


async def test_role_mappings_set_and_removed_are_in_the_admin_audit_log(
    stack: Stack, scim_org: OrgCredentials
) -> None:
    async with scim_client(stack, scim_org) as client:
        group = await create_group(client, name="Finance EMEA")
    async with admin(stack) as client:
        mapped = await client.post(
            f"/admin/orgs/{scim_org.name}/role-mappings",
            json={"group": group["id"], "role": "finance.viewer"},
        )
    # Renamed since: the log keeps the name the group had when it was mapped.
    async with scim_client(stack, scim_org) as client:
        renamed = await patch_group(
            client,
            group["id"],
            {"op": "replace", "path": "displayName", "value": "Finance Europe"},
        )
    async with admin(stack) as client:
        # Set again: harmless, and not a change the log shows twice.
        again = await client.post(
            f"/admin/orgs/{scim_org.name}/role-mappings",
            json={"group": group["id"], "role": "finance.viewer"},
        )
        removed = await client.delete(
            f"/admin/orgs/{scim_org.name}/role-mappings",
            params={"group": group["id"], "role": "finance.viewer"},
        )
        audit = await client.get("/admin/audit", params={"org": scim_org.name})
        only_unmaps = await client.get(
            "/admin/audit", params={"org": scim_org.name, "action": "UNMAP_ROLE"}
        )
        unknown = await client.get("/admin/audit", params={"action": "MAP_ROLES"})

    assert (mapped.status_code, again.status_code, removed.status_code) == (
        201,
        201,
        200,
    )
    assert audit.status_code == 200, audit.text
    entries = audit.json()["entries"]
    role_entries = [e for e in entries if e["action"] in ("MAP_ROLE", "UNMAP_ROLE")]
    assert [
        (
            e["action"],
            e["details"]["roles_before"],
            e["details"]["roles_after"],
            e["request_id"],
        )
        for e in role_entries
    ] == [
        ("UNMAP_ROLE", ["finance.viewer"], [], removed.headers["X-Request-Id"]),
        ("MAP_ROLE", [], ["finance.viewer"], mapped.headers["X-Request-Id"]),
    ]
    assert renamed.status_code in (200, 204), renamed.text
    assert role_entries[0]["details"]["group_id"] == group["id"]
    assert role_entries[1]["target"] == "group Finance EMEA"
    assert role_entries[0]["target"] == "group Finance Europe"
    assert role_entries[0]["org"] == scim_org.name
    # Named by the admin credential that asked, as the org's token was.
    token_entry = next(e for e in entries if e["action"] == "CREATE_TOKEN")
    assert role_entries[0]["actor"] == token_entry["actor"]
    assert role_entries[0]["actor"]["name"]
    assert [e["action"] for e in only_unmaps.json()["entries"]] == ["UNMAP_ROLE"]
    assert unknown.status_code == 400
    assert "CREATE_TOKEN" in unknown.json()["detail"]
    assert "MAP_ROLE" in unknown.json()["detail"]
