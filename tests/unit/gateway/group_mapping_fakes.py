"""A fake group-mapping service for the gateway tests.

It keeps groups in memory, streams them as the real service does (the group,
then member pages), and records every call and request, so tests can tell
what the gateway asked for, and what it did not.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from gateway_fakes import _abort, _timestamp

from protos.rivane.group_mapping.v1 import group_mapping_pb2 as pb
from protos.rivane.group_mapping.v1 import group_mapping_pb2_grpc as pb_grpc
from services.common.errors import NotFound, ScimError

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
MEMBER_PAGE = 2


@dataclass
class StoredGroup:
    org_id: str
    display_name: str
    member_ids: list[str]
    version: int = 1
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeGroupMapping(pb_grpc.GroupMappingServiceServicer):
    """In-memory GroupMappingService that records what it was asked."""

    groups: dict[str, StoredGroup] = field(default_factory=dict)
    # user id -> [(group id, display name)]
    memberships: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    mappings: list[tuple[str, str, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, ScimError | grpc.StatusCode] = field(default_factory=dict)
    # What ListRoleMappingChanges answers, newest first.
    role_changes: list[pb.RoleMappingChange] = field(default_factory=list)

    async def _enter(self, name: str, request: Any, context: Any) -> None:
        self.calls.append(name)
        self.requests[name] = request
        failure = self.failures.get(name)
        if isinstance(failure, ScimError):
            await _abort(context, failure)
        if isinstance(failure, grpc.StatusCode):
            await context.abort(failure, "the fake was told to fail")

    def add(self, org_id: str, display_name: str, members: list[str]) -> str:
        group_id = str(uuid.uuid4())
        self.groups[group_id] = StoredGroup(org_id, display_name, list(members))
        return group_id

    async def CreateGroup(self, request: Any, context: Any) -> Any:
        await self._enter("CreateGroup", request, context)
        body = json.loads(request.resource_json)
        members = [member["value"] for member in body.get("members") or []]
        group_id = self.add(request.org_id, body["displayName"], members)
        return self._message(group_id, with_members=True)

    async def GetGroup(self, request: Any, context: Any) -> Any:
        await self._enter("GetGroup", request, context)
        await self._require(request.org_id, request.group_id, context)
        yield pb.GroupPart(group=self._message(request.group_id))
        if not request.exclude_members:
            for page in self._pages(request.group_id):
                yield pb.GroupPart(member_ids=page)

    async def ListGroups(self, request: Any, context: Any) -> Any:
        await self._enter("ListGroups", request, context)
        found = [gid for gid, g in self.groups.items() if g.org_id == request.org_id]
        yield pb.GroupPart(total_results=len(found))
        start = request.start_index - 1
        for group_id in found[start : start + request.count]:
            yield pb.GroupPart(group=self._message(group_id))
            if not request.exclude_members:
                for page in self._pages(group_id):
                    yield pb.GroupPart(member_ids=page)

    async def ReplaceGroup(self, request: Any, context: Any) -> Any:
        await self._enter("ReplaceGroup", request, context)
        stored = await self._require(request.org_id, request.group_id, context)
        body = json.loads(request.resource_json)
        stored.display_name = body["displayName"]
        stored.member_ids = [member["value"] for member in body.get("members") or []]
        stored.version += 1
        return self._message(request.group_id, with_members=True)

    async def PatchGroup(self, request: Any, context: Any) -> Any:
        await self._enter("PatchGroup", request, context)
        stored = await self._require(request.org_id, request.group_id, context)
        stored.version += 1
        return pb.PatchGroupResponse(
            group=self._message(request.group_id), changed=True
        )

    async def DeleteGroup(self, request: Any, context: Any) -> Any:
        await self._enter("DeleteGroup", request, context)
        await self._require(request.org_id, request.group_id, context)
        del self.groups[request.group_id]
        return pb.DeleteGroupResponse()

    async def ListGroupsOfUsers(self, request: Any, context: Any) -> Any:
        await self._enter("ListGroupsOfUsers", request, context)
        return pb.ListGroupsOfUsersResponse(
            users=[
                pb.UserGroups(
                    user_id=user_id,
                    groups=[
                        pb.GroupRef(group_id=group_id, display_name=name)
                        for group_id, name in self.memberships[user_id]
                    ],
                )
                for user_id in request.user_ids
                if user_id in self.memberships
            ]
        )

    async def GetUserRoles(self, request: Any, context: Any) -> Any:
        await self._enter("GetUserRoles", request, context)
        return pb.GetUserRolesResponse(roles=[])

    async def SetRoleMapping(self, request: Any, context: Any) -> Any:
        await self._enter("SetRoleMapping", request, context)
        group_id = self._find(request.group)
        if group_id is None:
            await _abort(context, NotFound(f"no group {request.group!r} in this org"))
        self.mappings.append((request.org_id, group_id, request.role_id))
        return self._mapping(request.org_id, group_id, request.role_id)

    async def ListRoleMappings(self, request: Any, context: Any) -> Any:
        await self._enter("ListRoleMappings", request, context)
        return pb.ListRoleMappingsResponse(
            mappings=[
                self._mapping(org_id, group_id, role_id)
                for org_id, group_id, role_id in self.mappings
                if org_id == request.org_id
            ]
        )

    async def ListRoleMappingChanges(self, request: Any, context: Any) -> Any:
        await self._enter("ListRoleMappingChanges", request, context)
        return pb.ListRoleMappingChangesResponse(
            changes=[
                change
                for change in self.role_changes
                if (not request.org_id or change.org_id == request.org_id)
                and (not request.action or change.action == request.action)
            ][: request.limit]
        )

    async def DeleteRoleMapping(self, request: Any, context: Any) -> Any:
        await self._enter("DeleteRoleMapping", request, context)
        group_id = self._find(request.group)
        kept = [
            mapping
            for mapping in self.mappings
            if not (
                mapping[1] == group_id
                and (not request.role_id or mapping[2] == request.role_id)
            )
        ]
        deleted, self.mappings = len(self.mappings) - len(kept), kept
        return pb.DeleteRoleMappingResponse(deleted=deleted)

    async def ListUnmappedGroups(self, request: Any, context: Any) -> Any:
        await self._enter("ListUnmappedGroups", request, context)
        mapped = {group_id for _, group_id, _ in self.mappings}
        return pb.ListUnmappedGroupsResponse(
            groups=[
                pb.UnmappedGroup(
                    group_id=group_id,
                    display_name=group.display_name,
                    member_count=len(group.member_ids),
                    created=_timestamp(group.created),
                )
                for group_id, group in self.groups.items()
                if group.org_id == request.org_id and group_id not in mapped
            ]
        )

    def _find(self, name: str) -> str | None:
        for group_id, group in self.groups.items():
            if name in (group_id, group.display_name):
                return group_id
        return None

    def _mapping(self, org_id: str, group_id: str, role_id: str) -> Any:
        return pb.RoleMapping(
            org_id=org_id,
            group_id=group_id,
            display_name=self.groups[group_id].display_name,
            role_id=role_id,
            created=_timestamp(self.groups[group_id].created),
        )

    def _pages(self, group_id: str) -> list[list[str]]:
        members = self.groups[group_id].member_ids
        return [
            members[start : start + MEMBER_PAGE]
            for start in range(0, len(members), MEMBER_PAGE)
        ]

    async def _require(self, org_id: str, group_id: str, context: Any) -> StoredGroup:
        stored = self.groups.get(group_id)
        if stored is None or stored.org_id != org_id:
            await _abort(context, NotFound(f"Group {group_id} not found"))
        return stored

    def _message(self, group_id: str, *, with_members: bool = False) -> Any:
        stored = self.groups[group_id]
        attributes = {"schemas": [GROUP_SCHEMA], "displayName": stored.display_name}
        return pb.Group(
            id=group_id,
            org_id=stored.org_id,
            resource_json=json.dumps(attributes),
            version=stored.version,
            created=_timestamp(stored.created),
            last_modified=_timestamp(stored.created),
            member_ids=stored.member_ids if with_members else [],
        )
