"""Client of the group-mapping service: groups, memberships and role mappings.

Like the identity client, every call has a deadline and every failure is
translated here, once: a `ScimError` the service raised comes back from its
trailers, an unreachable or slow service becomes `ServiceUnavailable`, and
anything else stays an error of ours for the catch-all to log. A group's
members arrive as a stream of id pages, gathered here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, cast

import grpc
from fastapi import Depends, Request

from gateway.errors import ServiceUnavailable
from gateway.identity import UserQuery
from protos.rivane.group_mapping.v1 import group_mapping_pb2 as pb
from protos.rivane.group_mapping.v1 import group_mapping_pb2_grpc as pb_grpc
from services.common.channels import client_channel
from services.common.errors import NotFound, ScimError, Unauthorized, from_rpc_error

DEFAULT_TIMEOUT_SECONDS = 10.0

_UNAVAILABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group, and its members when they were read."""

    group: Any
    member_ids: list[str] | None


@dataclass(frozen=True, slots=True)
class GroupPage:
    """One page of a group listing and the total that matched."""

    total_results: int
    groups: list[GroupView]


def group_context(context: Any, *, source: str) -> pb.RequestContext:
    """Return the audit context of a request in the group-mapping contract."""
    message = pb.RequestContext(
        request_id=context.request_id, token_id=context.token_id, source=source
    )
    if context.HasField("received_at"):
        message.received_at.CopyFrom(context.received_at)
    return message


class GroupMappingClient:
    """Typed calls to `rivane.group_mapping.v1.GroupMappingService`."""

    def __init__(self, stub: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._stub = stub
        self._timeout = timeout

    async def create_group(
        self, *, org_id: str, resource: Mapping[str, Any], context: Any
    ) -> GroupView:
        """Create a group from the SCIM body the client sent."""
        request = pb.CreateGroupRequest(
            org_id=org_id,
            resource_json=json.dumps(resource),
            context=group_context(context, source="SCIM"),
        )
        group = await self._call(self._stub.CreateGroup, request)
        return GroupView(group=group, member_ids=list(group.member_ids))

    async def get_group(
        self, *, org_id: str, group_id: str, include_members: bool
    ) -> GroupView:
        """Return one group of the org, with its members when asked for."""
        request = pb.GetGroupRequest(
            org_id=org_id, group_id=group_id, exclude_members=not include_members
        )
        page = await self._gather(self._stub.GetGroup, request)
        if not page.groups:
            raise NotFound(f"Group {group_id} not found")
        return page.groups[0]

    async def list_groups(
        self, *, org_id: str, query: UserQuery, include_members: bool
    ) -> GroupPage:
        """Return one page of the org's groups and the total that matched."""
        request = pb.ListGroupsRequest(
            org_id=org_id,
            filter=query.filter,
            start_index=query.start_index,
            count=query.count,
            sort_by=query.sort_by,
            sort_order=query.sort_order,
            exclude_members=not include_members,
        )
        return await self._gather(self._stub.ListGroups, request)

    async def replace_group(
        self,
        *,
        org_id: str,
        group_id: str,
        resource: Mapping[str, Any],
        context: Any,
        expected_version: int,
    ) -> GroupView:
        """Replace a group's attributes and members with the body sent (PUT)."""
        request = pb.ReplaceGroupRequest(
            org_id=org_id,
            group_id=group_id,
            resource_json=json.dumps(resource),
            context=group_context(context, source="SCIM"),
            expected_version=expected_version,
        )
        group = await self._call(self._stub.ReplaceGroup, request)
        return GroupView(group=group, member_ids=list(group.member_ids))

    async def patch_group(
        self,
        *,
        org_id: str,
        group_id: str,
        patch: Mapping[str, Any],
        context: Any,
        expected_version: int,
    ) -> Any:
        """Apply a SCIM PatchOp; return the group, without its members."""
        request = pb.PatchGroupRequest(
            org_id=org_id,
            group_id=group_id,
            patch_json=json.dumps(patch),
            context=group_context(context, source="SCIM"),
            expected_version=expected_version,
        )
        reply = await self._call(self._stub.PatchGroup, request)
        return reply.group

    async def delete_group(
        self, *, org_id: str, group_id: str, context: Any, expected_version: int = 0
    ) -> None:
        """Delete a group, if it is at `expected_version` when one is given."""
        request = pb.DeleteGroupRequest(
            org_id=org_id,
            group_id=group_id,
            context=group_context(context, source="SCIM"),
            expected_version=expected_version,
        )
        await self._call(self._stub.DeleteGroup, request)

    async def groups_of_users(
        self, *, org_id: str, user_ids: Sequence[str]
    ) -> dict[str, list[Any]]:
        """Return the groups of each user, in one call however many users."""
        request = pb.ListGroupsOfUsersRequest(org_id=org_id, user_ids=list(user_ids))
        reply = await self._call(self._stub.ListGroupsOfUsers, request)
        return {entry.user_id: list(entry.groups) for entry in reply.users}

    async def user_roles(self, *, org_id: str, user_id: str) -> list[str]:
        """Return a user's Rivane roles."""
        request = pb.GetUserRolesRequest(org_id=org_id, user_id=user_id)
        reply = await self._call(self._stub.GetUserRoles, request)
        return list(reply.roles)

    async def set_role_mapping(
        self, *, org_id: str, group: str, role_id: str, context: Any
    ) -> Any:
        """Grant a role to a group's members."""
        request = pb.SetRoleMappingRequest(
            org_id=org_id, group=group, role_id=role_id, context=context
        )
        return await self._call(self._stub.SetRoleMapping, request)

    async def list_role_mappings(self, *, org_id: str) -> list[Any]:
        """Return the org's role mappings."""
        request = pb.ListRoleMappingsRequest(org_id=org_id)
        reply = await self._call(self._stub.ListRoleMappings, request)
        return list(reply.mappings)

    async def delete_role_mapping(
        self, *, org_id: str, group: str, role_id: str, context: Any
    ) -> int:
        """Stop granting a role (every role when empty) through a group."""
        request = pb.DeleteRoleMappingRequest(
            org_id=org_id, group=group, role_id=role_id, context=context
        )
        reply = await self._call(self._stub.DeleteRoleMapping, request)
        return int(reply.deleted)

    async def list_role_mapping_changes(
        self, *, org_id: str, action: str, limit: int, before: Any
    ) -> list[Any]:
        """Return role mappings set and removed, newest first, before `before`."""
        request = pb.ListRoleMappingChangesRequest(
            org_id=org_id, action=action, limit=limit, before=before
        )
        reply = await self._call(self._stub.ListRoleMappingChanges, request)
        return list(reply.changes)

    async def list_unmapped_groups(self, *, org_id: str) -> list[Any]:
        """Return the org's groups that grant no role."""
        request = pb.ListUnmappedGroupsRequest(org_id=org_id)
        reply = await self._call(self._stub.ListUnmappedGroups, request)
        return list(reply.groups)

    async def _call(self, method: Callable[..., Awaitable[Any]], request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            translated = translate_rpc_error(error)
            if translated is None:
                raise
            raise translated from error

    async def _gather(self, method: Callable[..., Any], request: Any) -> GroupPage:
        total = 0
        groups: list[GroupView] = []
        try:
            async for part in method(request, timeout=self._timeout):
                if part.total_results:
                    total = int(part.total_results)
                if part.HasField("group"):
                    members: list[str] | None = None if request.exclude_members else []
                    groups.append(GroupView(group=part.group, member_ids=members))
                if part.member_ids and groups and groups[-1].member_ids is not None:
                    groups[-1].member_ids.extend(part.member_ids)
        except grpc.aio.AioRpcError as error:
            translated = translate_rpc_error(error)
            if translated is None:
                raise
            raise translated from error
        return GroupPage(total_results=total, groups=groups)


def translate_rpc_error(error: grpc.aio.AioRpcError) -> ScimError | None:
    """Return the SCIM error a failed call means, or None when it is ours."""
    rebuilt = from_rpc_error(error)
    if rebuilt is not None:
        return rebuilt
    code = error.code()
    if code in _UNAVAILABLE:
        return ServiceUnavailable(
            "the group-mapping service is unavailable; retry later"
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthorized("unknown bearer token")
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(error.details() or "resource not found")
    return None


@asynccontextmanager
async def group_mapping_client(
    address: str, *, stub: Any = None
) -> AsyncIterator[GroupMappingClient]:
    """Open the channel to the group-mapping service, or use a ready `stub` (tests)."""
    if stub is not None:
        yield GroupMappingClient(stub)
        return
    # The interceptors carry the request's trace context in gRPC metadata.
    channel = client_channel(address)
    try:
        yield GroupMappingClient(pb_grpc.GroupMappingServiceStub(channel))
    finally:
        await channel.close()


def get_group_mapping(request: Request) -> GroupMappingClient:
    """Return the group-mapping client the app opened at startup."""
    return cast(GroupMappingClient, request.app.state.group_mapping)


GroupMapping = Annotated[GroupMappingClient, Depends(get_group_mapping)]
