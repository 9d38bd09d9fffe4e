"""gRPC edge of the group-mapping service: protobuf in, domain calls, statuses out."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.group_mapping.v1 import group_mapping_pb2 as pb
from protos.rivane.group_mapping.v1 import group_mapping_pb2_grpc as pb_grpc
from services.common.documents import check_text, load_object
from services.common.errors import InvalidValue, Unauthorized
from services.common.grpc_edge import Context, streaming_edge, unary_edge
from services.group_mapping.context import ChangeContext, Source, parse_id
from services.group_mapping.deprovisions import MembershipCleaner
from services.group_mapping.groups import GroupRecord, GroupService
from services.group_mapping.mappings import (
    ROLE_ACTIONS,
    MappingRecord,
    RoleMappingChange,
    RoleMappingService,
)
from services.group_mapping.queries import GroupPart, GroupQueries
from services.group_mapping.resource import stored_attributes


def _org(org_id: str) -> uuid.UUID:
    org = parse_id(org_id)
    if org is None:
        raise Unauthorized("request carries no valid org")
    return org


def _change_context(context: pb.RequestContext, *, default: Source) -> ChangeContext:
    received = (
        context.received_at.ToDatetime(tzinfo=UTC)
        if context.HasField("received_at")
        else datetime.now(UTC)
    )
    check_text(context.request_id, what="request id")
    try:
        source = Source(context.source) if context.source else default
    except ValueError:
        source = default
    return ChangeContext(
        request_id=context.request_id or str(uuid.uuid4()),
        token_id=parse_id(context.token_id),
        received_at=received,
        source=source,
    )


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def to_message(
    group: GroupRecord, member_ids: list[uuid.UUID] | None = None
) -> pb.Group:
    """Render a stored group for the wire."""
    attributes = stored_attributes(
        display_name=group.display_name, external_id=group.external_id
    )
    return pb.Group(
        id=str(group.group_id),
        org_id=str(group.org_id),
        resource_json=json.dumps(attributes),
        version=group.version,
        created=_timestamp(group.created_at),
        last_modified=_timestamp(group.updated_at),
        member_ids=[str(uid) for uid in member_ids or ()],
    )


def _part(part: GroupPart) -> pb.GroupPart:
    message = pb.GroupPart(member_ids=[str(uid) for uid in part.member_ids])
    if part.total_results is not None:
        message.total_results = part.total_results
    if part.group is not None:
        message.group.CopyFrom(to_message(part.group))
    return message


_MAX_CHANGES = 1000


def _change_message(change: RoleMappingChange) -> pb.RoleMappingChange:
    return pb.RoleMappingChange(
        audit_id=str(change.audit_id),
        org_id=str(change.org_id),
        group_id=str(change.group_id),
        display_name=change.display_name or "",
        action=change.action,
        roles_before=change.roles_before,
        roles_after=change.roles_after,
        request_id=change.request_id,
        admin_credential_id=str(change.credential_id or ""),
        occurred_at=_timestamp(change.occurred_at),
    )


def _mapping_message(mapping: MappingRecord) -> pb.RoleMapping:
    return pb.RoleMapping(
        org_id=str(mapping.org_id),
        group_id=str(mapping.group_id),
        display_name=mapping.display_name,
        role_id=mapping.role_id,
        created=_timestamp(mapping.created_at),
    )


class GroupMappingServicer(pb_grpc.GroupMappingServiceServicer):
    """Serve `rivane.group_mapping.v1.GroupMappingService`."""

    def __init__(
        self,
        *,
        groups: GroupService,
        queries: GroupQueries,
        mappings: RoleMappingService,
        cleaner: MembershipCleaner,
    ) -> None:
        self._groups = groups
        self._queries = queries
        self._mappings = mappings
        self._cleaner = cleaner

    @unary_edge
    async def CreateGroup(
        self, request: pb.CreateGroupRequest, context: Context
    ) -> pb.Group:
        group, member_ids = await self._groups.create(
            org_id=_org(request.org_id),
            payload=load_object(request.resource_json, what="Group body"),
            context=_change_context(request.context, default=Source.SCIM),
        )
        return to_message(group, member_ids)

    @streaming_edge
    async def GetGroup(
        self, request: pb.GetGroupRequest, context: Context
    ) -> AsyncIterator[pb.GroupPart]:
        parts = self._queries.read(
            org_id=_org(request.org_id),
            group_id=request.group_id,
            include_members=not request.exclude_members,
        )
        async for part in parts:
            yield _part(part)

    @streaming_edge
    async def ListGroups(
        self, request: pb.ListGroupsRequest, context: Context
    ) -> AsyncIterator[pb.GroupPart]:
        parts = self._queries.search(
            org_id=_org(request.org_id),
            filter_text=request.filter,
            start_index=max(request.start_index, 1),
            count=max(request.count, 0),
            sort_by=request.sort_by,
            descending=request.sort_order.lower() == "descending",
            include_members=not request.exclude_members,
        )
        async for part in parts:
            yield _part(part)

    @unary_edge
    async def ReplaceGroup(
        self, request: pb.ReplaceGroupRequest, context: Context
    ) -> pb.Group:
        group, member_ids = await self._groups.replace(
            org_id=_org(request.org_id),
            group_id=request.group_id,
            payload=load_object(request.resource_json, what="Group body"),
            context=_change_context(request.context, default=Source.SCIM),
            expected_version=request.expected_version,
        )
        return to_message(group, member_ids)

    @unary_edge
    async def PatchGroup(
        self, request: pb.PatchGroupRequest, context: Context
    ) -> pb.PatchGroupResponse:
        group, changed = await self._groups.patch(
            org_id=_org(request.org_id),
            group_id=request.group_id,
            patch_body=load_object(request.patch_json, what="PatchOp body"),
            context=_change_context(request.context, default=Source.SCIM),
            expected_version=request.expected_version,
        )
        return pb.PatchGroupResponse(group=to_message(group), changed=changed)

    @unary_edge
    async def DeleteGroup(
        self, request: pb.DeleteGroupRequest, context: Context
    ) -> pb.DeleteGroupResponse:
        await self._groups.delete(
            org_id=_org(request.org_id),
            group_id=request.group_id,
            context=_change_context(request.context, default=Source.SCIM),
            expected_version=request.expected_version,
        )
        return pb.DeleteGroupResponse()

    @unary_edge
    async def ListGroupsOfUsers(
        self, request: pb.ListGroupsOfUsersRequest, context: Context
    ) -> pb.ListGroupsOfUsersResponse:
        groups = await self._queries.groups_of_users(
            org_id=_org(request.org_id), user_ids=list(request.user_ids)
        )
        return pb.ListGroupsOfUsersResponse(
            users=[
                pb.UserGroups(
                    user_id=str(user_id),
                    groups=[
                        pb.GroupRef(
                            group_id=str(ref.group_id), display_name=ref.display_name
                        )
                        for ref in refs
                    ],
                )
                for user_id, refs in groups.items()
            ]
        )

    @unary_edge
    async def GetUserRoles(
        self, request: pb.GetUserRolesRequest, context: Context
    ) -> pb.GetUserRolesResponse:
        roles = await self._mappings.user_roles(
            org_id=_org(request.org_id), user_id=request.user_id
        )
        return pb.GetUserRolesResponse(roles=roles)

    @unary_edge
    async def SetRoleMapping(
        self, request: pb.SetRoleMappingRequest, context: Context
    ) -> pb.RoleMapping:
        mapping = await self._mappings.grant(
            org_id=_org(request.org_id),
            group=request.group,
            role_id=request.role_id,
            context=_change_context(request.context, default=Source.ADMIN),
        )
        return _mapping_message(mapping)

    @unary_edge
    async def ListRoleMappings(
        self, request: pb.ListRoleMappingsRequest, context: Context
    ) -> pb.ListRoleMappingsResponse:
        mappings = await self._mappings.mappings(org_id=_org(request.org_id))
        return pb.ListRoleMappingsResponse(
            mappings=[_mapping_message(mapping) for mapping in mappings]
        )

    @unary_edge
    async def DeleteRoleMapping(
        self, request: pb.DeleteRoleMappingRequest, context: Context
    ) -> pb.DeleteRoleMappingResponse:
        deleted = await self._mappings.revoke(
            org_id=_org(request.org_id),
            group=request.group,
            role_id=request.role_id,
            context=_change_context(request.context, default=Source.ADMIN),
        )
        return pb.DeleteRoleMappingResponse(deleted=deleted)

    @unary_edge
    async def ListUnmappedGroups(
        self, request: pb.ListUnmappedGroupsRequest, context: Context
    ) -> pb.ListUnmappedGroupsResponse:
        groups = await self._mappings.unmapped(org_id=_org(request.org_id))
        return pb.ListUnmappedGroupsResponse(
            groups=[
                pb.UnmappedGroup(
                    group_id=str(group.group_id),
                    display_name=group.display_name,
                    member_count=group.member_count,
                    created=_timestamp(group.created_at),
                )
                for group in groups
            ]
        )

    @unary_edge
    async def ListRoleMappingChanges(
        self, request: pb.ListRoleMappingChangesRequest, context: Context
    ) -> pb.ListRoleMappingChangesResponse:
        if request.action and request.action not in ROLE_ACTIONS:
            raise InvalidValue("action is MAP_ROLE, UNMAP_ROLE or empty")
        if not 0 <= request.limit <= _MAX_CHANGES:
            raise InvalidValue(f"limit must be between 1 and {_MAX_CHANGES}")
        changes = await self._mappings.changes(
            org_id=_org(request.org_id) if request.org_id else None,
            action=request.action,
            limit=request.limit or _MAX_CHANGES,
            before=(
                request.before.ToDatetime(tzinfo=UTC)
                if request.HasField("before")
                else None
            ),
        )
        return pb.ListRoleMappingChangesResponse(
            changes=[_change_message(change) for change in changes]
        )

    @unary_edge
    async def ReconcileGroupRoles(
        self, request: pb.ReconcileGroupRolesRequest, context: Context
    ) -> pb.ReconcileGroupRolesResponse:
        roles = await self._mappings.reconcile(
            org_id=_org(request.org_id), group_id=request.group_id
        )
        return pb.ReconcileGroupRolesResponse(roles=roles)

    @unary_edge
    async def DropDeprovisionedUser(
        self, request: pb.DropDeprovisionedUserRequest, context: Context
    ) -> pb.DropDeprovisionedUserResponse:
        user_id = parse_id(request.user_id)
        if user_id is None:
            raise InvalidValue("user_id is not a user id")
        check_text(request.request_id, what="request id")
        left = await self._cleaner.drop_user(
            org_id=_org(request.org_id),
            user_id=user_id,
            context=replace(
                ChangeContext.internal(
                    request_id=request.request_id or request.event_id,
                    source=Source.EVENT,
                ),
                cause_event_id=request.event_id,
            ),
        )
        return pb.DropDeprovisionedUserResponse(groups_left=left)
