"""Admin API for group-to-role mapping: which Rivane roles each SCIM group grants.

    GET    /admin/orgs/{org}/role-mappings                   mappings, unmapped groups
    POST   /admin/orgs/{org}/role-mappings                   {"group": G, "role": R}
    DELETE /admin/orgs/{org}/role-mappings?group=G[&role=R]  one role, or all of G's

`{org}` is the org's name, as for tokens; a group is named by its id or its
displayName. Guarded by the admin credential, like the rest of `/admin`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.admin import Admin, require_admin
from gateway.body import check_content_type, parse_object, read_body
from gateway.context import received_at, request_id
from gateway.group_mapping import GroupMapping
from gateway.identity import Identity
from protos.rivane.group_mapping.v1 import group_mapping_pb2
from services.common.errors import InvalidValue

router = APIRouter(
    prefix="/admin/orgs/{org}/role-mappings",
    tags=["Admin"],
    dependencies=[Depends(require_admin)],
)


def admin_context(request: Request, caller: Admin) -> Any:
    """Return the audit context of an admin request: who, which request, when."""
    stamp = Timestamp()
    stamp.FromDatetime(received_at(request))
    return group_mapping_pb2.RequestContext(
        request_id=request_id(request),
        token_id=caller.credential_id,
        received_at=stamp,
        source="ADMIN",
    )


async def mapping_body(request: Request) -> tuple[str, str]:
    """Read `{"group": ..., "role": ...}`."""
    check_content_type(request.headers.get("content-type"))
    body = parse_object(await read_body(request))
    group, role = body.get("group"), body.get("role")
    if not isinstance(group, str) or not group.strip():
        raise InvalidValue("'group' must name a group by id or displayName")
    if not isinstance(role, str) or not role.strip():
        raise InvalidValue("'role' must name a Rivane role")
    return group, role.strip()


AdminContext = Annotated[Any, Depends(admin_context)]
MappingBody = Annotated[tuple[str, str], Depends(mapping_body)]


@router.get("")
async def list_role_mappings(
    org: str, identity: Identity, groups: GroupMapping
) -> JSONResponse:
    """List an org's role mappings, and the groups that grant no role yet.

    A group an identity provider pushes is created whatever it maps to; the
    ones mapped to nothing are listed here for an admin to map.
    """
    org_id = str((await identity.get_org(name=org)).org_id)
    mappings = await groups.list_role_mappings(org_id=org_id)
    unmapped = await groups.list_unmapped_groups(org_id=org_id)
    body = {
        "org_id": org_id,
        "mappings": [_mapping(mapping) for mapping in mappings],
        "unmapped_groups": [
            {
                "group_id": group.group_id,
                "group": group.display_name,
                "members": int(group.member_count),
                "created": group.created.ToJsonString(),
            }
            for group in unmapped
        ],
    }
    return JSONResponse(body)


@router.post("", status_code=201)
async def set_role_mapping(
    org: str,
    identity: Identity,
    groups: GroupMapping,
    mapping: MappingBody,
    context: AdminContext,
) -> JSONResponse:
    """Grant a Rivane role to every member of a group; setting it twice is harmless.

    Members whose roles change get a `scim.user_roles_changed` event.
    """
    group, role = mapping
    org_id = str((await identity.get_org(name=org)).org_id)
    created = await groups.set_role_mapping(
        org_id=org_id, group=group, role_id=role, context=context
    )
    return JSONResponse(_mapping(created), status_code=201)


@router.delete("")
async def delete_role_mapping(
    org: str,
    identity: Identity,
    groups: GroupMapping,
    context: AdminContext,
    group: Annotated[str, Query(min_length=1)],
    role: Annotated[str, Query()] = "",
) -> JSONResponse:
    """Stop granting a role through a group, or every role without `role`."""
    org_id = str((await identity.get_org(name=org)).org_id)
    deleted = await groups.delete_role_mapping(
        org_id=org_id, group=group, role_id=role.strip(), context=context
    )
    return JSONResponse({"deleted": deleted})


def _mapping(mapping: Any) -> dict[str, Any]:
    return {
        "group_id": mapping.group_id,
        "group": mapping.display_name,
        "role": mapping.role_id,
        "created": mapping.created.ToJsonString(),
    }
